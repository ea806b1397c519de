//! The durable-core backend conformance suite on PostgreSQL, each test in a fresh schema.
//! Skipped (with a note) without `OCFL_TEST_POSTGRES_URL`.

mod common;

/// One `#[tokio::test]` per conformance test, as `durable_core::backend_conformance_tests!`
/// makes them, but skipping when there is no database.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(start_paused = true)]
            async fn $name() {
                let Some(base) = common::base_url(stringify!($name)) else {
                    return;
                };
                let backend: ::std::sync::Arc<dyn durable_core::Backend> = ::std::sync::Arc::new(
                    common::fresh_backend(&base, stringify!($name)).await,
                );
                durable_core::conformance::$name(backend).await;
            }
        )*
    };
}

conformance!(
    create_and_read,
    duplicate_instance_is_refused,
    messages_need_an_instance,
    ack_commits_everything_at_once,
    leases_are_exclusive,
    expired_leases_pass_to_the_next_fetch,
    renewal_extends_a_lease,
    tokens_are_unique,
    inboxes_are_fifo,
    delayed_messages_become_visible_on_time,
    abandon_delays_and_keeps_the_attempt_count,
    messages_arriving_during_a_lease_are_kept,
    activity_completion_moves_to_the_inbox,
    activity_leases_expire_abandon_and_count_attempts,
    waiting_fetches_wake_on_enqueue,
    a_new_execution_replaces_the_history,
    commits_drop_messages_to_missing_instances,
    concurrent_workers_consume_each_message_once,
    commits_create_sub_orchestrations,
    a_taken_sub_orchestration_id_is_reported_to_the_parent,
    create_follows_the_reuse_policy,
    reused_ids_get_a_new_incarnation,
    activities_of_a_removed_instance_are_dropped,
    pending_activities_outlive_later_episodes,
    a_delayed_start_is_not_handed_out_early,
    instances_are_listed_and_filtered,
    purge_deletes_finished_instances_only,
    empty_commits_leave_the_metadata_alone,
    poison_counts_survive_expiry_and_abandon,
    orchestrations_run_end_to_end,
    sub_orchestrations_run_end_to_end,
    terminate_suspend_resume_and_purge_end_to_end,
    poisoned_work_fails_end_to_end,
    patch_markers_round_trip_end_to_end,
);
