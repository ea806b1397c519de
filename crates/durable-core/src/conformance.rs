//! The backend conformance suite: every `Backend` implementation runs it with one macro call.
//!
//! ```ignore
//! // In your backend crate's tests (tokio with the `macros`, `rt` and `test-util` features
//! // among its dev-dependencies):
//! async fn make() -> MyBackend { MyBackend::open_temporary().await }
//! durable_core::backend_conformance_tests!(make);
//! ```
//!
//! The tests run under paused tokio time and move it with `tokio::time::advance`, so the
//! backend must measure time with a `durable_core::Clock` (which follows tokio's clock).
//! Each test gets a fresh backend from the factory.
//!
//! What it checks: instance creation (duplicates, id reuse, delayed starts), atomic
//! acknowledgements (history, activities, messages, sub-orchestrations, metadata, consumed
//! messages), lease exclusivity, expiry, renewal and token uniqueness, FIFO inboxes and
//! delayed visibility, abandon, attempt counts for poison detection, continue-as-new history
//! replacement, messages between instances, list and purge, concurrent workers; and, with the
//! engine's `Worker` and `Client` on the backend, end-to-end orchestrations, sub-orchestrations,
//! terminate/suspend/resume/purge and poisoning. Each test is also a public function of this
//! module (taking an `Arc<dyn Backend>`), to run one on its own.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{
    ActivityWork, Backend, IdReusePolicy, MetadataUpdate, NewInstance, NewMessage,
    OrchestrationCommit, OrchestrationItem,
};
use crate::error::BackendError;
use crate::history::Event;
use crate::metadata::{InstanceFilter, InstanceMetadata, InstanceStatus, ParentInstance};
use crate::testing::{new_instance, start_event};

/// Generates one `#[tokio::test]` per conformance test, each on a backend made by `$make`
/// (an async function or closure returning the backend).
///
/// `backend_conformance_tests!(optional: $make)` is for backends that need a service which
/// may be absent (a database server): `$make` gets the test's name and returns
/// `Option<backend>`; `None` skips the test (the factory says why).
///
/// Both forms generate every test of the suite: the list lives here only, and a unit test
/// checks it against the suite's public functions.
#[macro_export]
macro_rules! backend_conformance_tests {
    (@tests [$($mode:tt)*]) => {
        $crate::backend_conformance_tests!(@each [$($mode)*];
            create_and_read,
            duplicate_instance_is_refused,
            messages_need_an_instance,
            ack_commits_everything_at_once,
            leases_are_exclusive,
            expired_leases_pass_to_the_next_fetch,
            stale_acks_write_nothing,
            renewal_extends_a_lease,
            tokens_are_unique,
            inboxes_are_fifo,
            delayed_messages_become_visible_on_time,
            abandon_delays_and_keeps_the_attempt_count,
            messages_arriving_during_a_lease_are_kept,
            activity_completion_moves_to_the_inbox,
            activity_leases_expire_abandon_and_count_attempts,
            stale_activity_acks_are_refused,
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
            activity_options_travel_with_the_work,
            finishing_an_instance_cancels_its_activities,
            a_delayed_start_is_not_handed_out_early,
            instances_are_listed_and_filtered,
            purge_deletes_finished_instances_only,
            purge_finished_before_keeps_unfinished_and_recent,
            pages_neither_repeat_nor_skip_while_instances_are_created,
            empty_commits_leave_the_metadata_alone,
            poison_counts_survive_expiry_and_abandon,
            orchestrations_run_end_to_end,
            sub_orchestrations_run_end_to_end,
            terminate_suspend_resume_and_purge_end_to_end,
            poisoned_work_fails_end_to_end,
            patch_markers_round_trip_end_to_end,
            terminate_cancels_running_activities_end_to_end,
        );
    };
    (@each [plain $make:expr]; $($name:ident,)*) => {
        $(
            #[tokio::test(start_paused = true)]
            async fn $name() {
                let backend: ::std::sync::Arc<dyn $crate::Backend> =
                    ::std::sync::Arc::new(($make)().await);
                $crate::conformance::$name(backend).await;
            }
        )*
    };
    (@each [optional $make:expr]; $($name:ident,)*) => {
        $(
            #[tokio::test(start_paused = true)]
            async fn $name() {
                let Some(backend) = ($make)(stringify!($name)).await else {
                    return;
                };
                let backend: ::std::sync::Arc<dyn $crate::Backend> =
                    ::std::sync::Arc::new(backend);
                $crate::conformance::$name(backend).await;
            }
        )*
    };
    (optional: $make:expr) => {
        $crate::backend_conformance_tests!(@tests [optional $make]);
    };
    ($make:expr) => {
        $crate::backend_conformance_tests!(@tests [plain $make]);
    };
}

const LEASE: Duration = Duration::from_secs(30);
const NO_WAIT: Duration = Duration::ZERO;

async fn create(backend: &dyn Backend, instance_id: &str) {
    backend
        .create_instance(new_instance(instance_id))
        .await
        .expect("create_instance");
}

async fn metadata(backend: &dyn Backend, instance_id: &str) -> InstanceMetadata {
    backend
        .read_metadata(instance_id)
        .await
        .expect("read_metadata")
        .expect("the instance exists")
}

/// Fetches the instance and commits `commit` for it (the only instance with work).
async fn commit_next(backend: &dyn Backend, commit: &OrchestrationCommit) -> OrchestrationItem {
    let item = fetch(backend).await.expect("work");
    backend
        .ack_orchestration(&item.instance.instance_id, item.lease.token, commit)
        .await
        .expect("ack");
    item
}

fn finished(status: InstanceStatus) -> MetadataUpdate {
    MetadataUpdate {
        status,
        output: Some("1".to_owned()),
        ..running(1)
    }
}

fn child_of(parent: &str, task_id: u64, instance_id: &str) -> NewInstance {
    NewInstance {
        parent: Some(ParentInstance {
            instance_id: parent.to_owned(),
            execution_id: 1,
            task_id,
        }),
        ..new_instance(instance_id)
    }
}

fn raised(instance_id: &str, data: &str, visible_at_ms: Option<u64>) -> NewMessage {
    NewMessage {
        instance_id: instance_id.to_owned(),
        execution_id: None,
        event: Event::EventRaised {
            name: "e".to_owned(),
            data: data.to_owned(),
        },
        visible_at_ms,
    }
}

fn event_data(item: &OrchestrationItem) -> Vec<String> {
    item.messages
        .iter()
        .filter_map(|message| match &message.event {
            Event::EventRaised { data, .. } => Some(data.clone()),
            _ => None,
        })
        .collect()
}

fn empty_commit() -> OrchestrationCommit {
    OrchestrationCommit::default()
}

fn running(execution_id: u64) -> MetadataUpdate {
    MetadataUpdate {
        execution_id,
        status: InstanceStatus::Running,
        input: None,
        output: None,
        failure: None,
        custom_status: None,
    }
}

fn work(instance_id: &str, task_id: u64) -> ActivityWork {
    ActivityWork {
        instance_id: instance_id.to_owned(),
        execution_id: 1,
        task_id,
        name: "act".to_owned(),
        input: task_id.to_string(),
        options: crate::ActivityOptions::default(),
    }
}

async fn fetch(backend: &dyn Backend) -> Option<OrchestrationItem> {
    backend
        .fetch_orchestration(LEASE, NO_WAIT)
        .await
        .expect("fetch_orchestration")
}

/// A new instance is `Pending` with an empty history and its start message in the inbox.
pub async fn create_and_read(backend: Arc<dyn Backend>) {
    assert_eq!(backend.read_metadata("a").await.expect("read"), None);
    create(&*backend, "a").await;
    let metadata = backend
        .read_metadata("a")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(metadata.status, InstanceStatus::Pending);
    assert_eq!(metadata.name, "flow");
    assert_eq!(metadata.execution_id, 1);
    assert_eq!(metadata.history_len, 0);
    assert!(backend.read_history("a").await.expect("history").is_empty());
    let item = fetch(&*backend).await.expect("the instance has work");
    assert_eq!(item.instance, metadata);
    assert_eq!(item.lease.attempt, 1);
    assert_eq!(item.messages.len(), 1);
    assert_eq!(item.messages[0].event, start_event("flow"));
    assert!(item.lease.expires_at_ms >= item.now_ms + 30_000);
}

/// Creating an instance under a taken id fails and changes nothing.
pub async fn duplicate_instance_is_refused(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let again = backend
        .create_instance(NewInstance {
            instance_id: "a".to_owned(),
            name: "other".to_owned(),
            input: "1".to_owned(),
            execution_id: 1,
            start: start_event("other"),
            start_at_ms: None,
            parent: None,
            reuse: IdReusePolicy::Refuse,
        })
        .await;
    assert_eq!(again, Err(BackendError::InstanceExists("a".to_owned())));
    let metadata = backend
        .read_metadata("a")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(metadata.name, "flow");
    let item = fetch(&*backend).await.expect("work");
    assert_eq!(item.messages.len(), 1);
}

/// Sending to an instance that does not exist fails.
pub async fn messages_need_an_instance(backend: Arc<dyn Backend>) {
    let sent = backend.send_message(raised("ghost", "1", None)).await;
    assert_eq!(
        sent,
        Err(BackendError::InstanceNotFound("ghost".to_owned()))
    );
    assert_eq!(fetch(&*backend).await, None);
}

/// One acknowledgement appends history, enqueues activities and messages, updates metadata,
/// removes the consumed messages and releases the lease.
pub async fn ack_commits_everything_at_once(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    create(&*backend, "b").await;
    let item = fetch(&*backend).await.expect("work");
    let id = item.instance.instance_id.clone();
    let other = if id == "a" { "b" } else { "a" };
    let history = vec![
        Event::EpisodeStarted {
            timestamp_ms: item.now_ms,
        },
        start_event("flow"),
        Event::ActivityScheduled {
            task_id: 0,
            name: "act".to_owned(),
            input: "0".to_owned(),
            options: crate::ActivityOptions::default(),
        },
    ];
    let commit = OrchestrationCommit {
        history: history.clone(),
        activities: vec![work(&id, 0)],
        messages: vec![raised(other, "hello", None)],
        metadata: Some(MetadataUpdate {
            custom_status: Some("busy".to_owned()),
            ..running(1)
        }),
        ..empty_commit()
    };
    backend
        .ack_orchestration(&id, item.lease.token, &commit)
        .await
        .expect("ack");
    assert_eq!(backend.read_history(&id).await.expect("history"), history);
    let metadata = backend
        .read_metadata(&id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(metadata.status, InstanceStatus::Running);
    assert_eq!(metadata.custom_status.as_deref(), Some("busy"));
    assert_eq!(metadata.history_len, 3);
    let activity = backend
        .fetch_activity(LEASE, NO_WAIT)
        .await
        .expect("fetch_activity")
        .expect("the activity was enqueued");
    assert_eq!(activity.work, work(&id, 0));
    // The other instance got the message after its start; the acked one has nothing left.
    let next = fetch(&*backend).await.expect("the other instance");
    assert_eq!(next.instance.instance_id, other);
    assert_eq!(event_data(&next), vec!["hello".to_owned()]);
    assert_eq!(fetch(&*backend).await, None);
    // The lease was released: acknowledging again is refused.
    let again = backend
        .ack_orchestration(&id, item.lease.token, &empty_commit())
        .await;
    assert!(
        matches!(again, Err(BackendError::LeaseLost { .. })),
        "{again:?}"
    );
}

/// While a lease is live nobody else gets the instance, not even when new messages arrive.
pub async fn leases_are_exclusive(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let item = fetch(&*backend).await.expect("work");
    backend
        .send_message(raised("a", "1", None))
        .await
        .expect("send");
    assert_eq!(fetch(&*backend).await, None);
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(fetch(&*backend).await, None);
    backend
        .ack_orchestration("a", item.lease.token, &empty_commit())
        .await
        .expect("ack");
}

/// After expiry the instance is handed out again with a new token and a higher attempt
/// count; the old token is refused.
pub async fn expired_leases_pass_to_the_next_fetch(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let first = fetch(&*backend).await.expect("work");
    tokio::time::advance(LEASE + Duration::from_millis(1)).await;
    let second = fetch(&*backend).await.expect("the lease expired");
    assert_ne!(second.lease.token, first.lease.token);
    assert_eq!(second.lease.attempt, 2);
    assert_eq!(second.messages, first.messages);
    let stale = backend
        .ack_orchestration("a", first.lease.token, &empty_commit())
        .await;
    assert!(
        matches!(stale, Err(BackendError::LeaseLost { .. })),
        "{stale:?}"
    );
    let stale = backend
        .renew_orchestration_lease("a", first.lease.token, LEASE)
        .await;
    assert!(
        matches!(stale, Err(BackendError::LeaseLost { .. })),
        "{stale:?}"
    );
    backend
        .ack_orchestration("a", second.lease.token, &empty_commit())
        .await
        .expect("the current token is accepted");
}

/// An acknowledgement with an expired token is refused and writes nothing of its commit:
/// no history, activities, messages, sub-orchestrations or metadata; the current holder's
/// lease and messages are untouched.
pub async fn stale_acks_write_nothing(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let first = fetch(&*backend).await.expect("work");
    tokio::time::advance(LEASE + Duration::from_millis(1)).await;
    let second = fetch(&*backend).await.expect("the lease expired");
    let commit = OrchestrationCommit {
        history: vec![
            Event::EpisodeStarted {
                timestamp_ms: first.now_ms,
            },
            start_event("flow"),
        ],
        activities: vec![work("a", 0)],
        messages: vec![raised("a", "late", None)],
        instances: vec![child_of("a", 1, "child")],
        metadata: Some(MetadataUpdate {
            custom_status: Some("stale".to_owned()),
            ..finished(InstanceStatus::Completed)
        }),
    };
    let stale = backend
        .ack_orchestration("a", first.lease.token, &commit)
        .await;
    assert!(
        matches!(stale, Err(BackendError::LeaseLost { .. })),
        "{stale:?}"
    );
    assert_eq!(backend.read_history("a").await.expect("history"), []);
    let after = metadata(&*backend, "a").await;
    assert_eq!(after.status, InstanceStatus::Pending);
    assert_eq!((after.history_len, after.output), (0, None));
    assert_eq!(after.custom_status, None);
    assert_eq!(backend.read_metadata("child").await.expect("read"), None);
    assert_eq!(
        backend.fetch_activity(LEASE, NO_WAIT).await.expect("fetch"),
        None
    );
    backend
        .ack_orchestration("a", second.lease.token, &empty_commit())
        .await
        .expect("the current holder's ack");
    assert_eq!(
        fetch(&*backend).await,
        None,
        "the stale commit's message was not enqueued"
    );
}

/// Renewal moves the expiry; a renewed lease outlives its original expiry.
pub async fn renewal_extends_a_lease(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let item = fetch(&*backend).await.expect("work");
    tokio::time::advance(Duration::from_secs(20)).await;
    let expires = backend
        .renew_orchestration_lease("a", item.lease.token, LEASE)
        .await
        .expect("renew");
    assert!(expires > item.lease.expires_at_ms);
    tokio::time::advance(Duration::from_secs(20)).await;
    assert_eq!(
        fetch(&*backend).await,
        None,
        "the renewed lease still holds"
    );
    tokio::time::advance(Duration::from_secs(11)).await;
    assert!(
        fetch(&*backend).await.is_some(),
        "the renewed lease expired"
    );
}

/// Every lease ever granted has its own token.
pub async fn tokens_are_unique(backend: Arc<dyn Backend>) {
    let mut tokens = HashSet::new();
    for n in 0..5 {
        let id = format!("i{n}");
        create(&*backend, &id).await;
        let item = fetch(&*backend).await.expect("work");
        assert!(tokens.insert(item.lease.token));
        let commit = OrchestrationCommit {
            activities: vec![work(&id, 0)],
            ..empty_commit()
        };
        backend
            .ack_orchestration(&id, item.lease.token, &commit)
            .await
            .expect("ack");
    }
    for _ in 0..5 {
        let item = backend
            .fetch_activity(LEASE, NO_WAIT)
            .await
            .expect("fetch")
            .expect("an activity");
        assert!(tokens.insert(item.lease.token));
    }
    // Re-leasing after expiry makes new tokens too.
    tokio::time::advance(LEASE * 2).await;
    let item = backend
        .fetch_activity(LEASE, NO_WAIT)
        .await
        .expect("fetch")
        .expect("an expired activity");
    assert!(tokens.insert(item.lease.token));
}

/// Messages of one instance come in the order sent; instances in the order of their oldest
/// message.
pub async fn inboxes_are_fifo(backend: Arc<dyn Backend>) {
    create(&*backend, "b").await;
    create(&*backend, "a").await;
    for data in ["1", "2", "3"] {
        backend
            .send_message(raised("a", data, None))
            .await
            .expect("send");
    }
    let first = fetch(&*backend).await.expect("work");
    assert_eq!(
        first.instance.instance_id, "b",
        "b's start is the oldest message"
    );
    let second = fetch(&*backend).await.expect("work");
    assert_eq!(second.instance.instance_id, "a");
    assert_eq!(event_data(&second), vec!["1", "2", "3"]);
    let ids: Vec<u64> = second.messages.iter().map(|message| message.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
}

/// A delayed message is not handed out before its time, and a waiting fetch returns when it
/// becomes visible.
pub async fn delayed_messages_become_visible_on_time(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let item = fetch(&*backend).await.expect("work");
    let due = item.now_ms + 60_000;
    let commit = OrchestrationCommit {
        messages: vec![raised("a", "timer", Some(due))],
        ..empty_commit()
    };
    backend
        .ack_orchestration("a", item.lease.token, &commit)
        .await
        .expect("ack");
    assert_eq!(fetch(&*backend).await, None);
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(fetch(&*backend).await, None);
    let item = backend
        .fetch_orchestration(LEASE, Duration::from_secs(3600))
        .await
        .expect("fetch")
        .expect("visible within the wait");
    assert_eq!(event_data(&item), vec!["timer"]);
    assert!(
        item.now_ms >= due && item.now_ms < due + 1_000,
        "{} vs {due}",
        item.now_ms
    );
}

/// Abandoning releases the lease, hides the instance for the delay and keeps the attempt
/// count (so poison detection sees every attempt).
pub async fn abandon_delays_and_keeps_the_attempt_count(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let first = fetch(&*backend).await.expect("work");
    backend
        .abandon_orchestration("a", first.lease.token, Duration::from_secs(10))
        .await
        .expect("abandon");
    assert_eq!(fetch(&*backend).await, None);
    tokio::time::advance(Duration::from_secs(10)).await;
    let second = fetch(&*backend).await.expect("visible again");
    assert_eq!(second.lease.attempt, 2);
    backend
        .ack_orchestration("a", second.lease.token, &empty_commit())
        .await
        .expect("ack");
    // A successful acknowledgement resets the count.
    backend
        .send_message(raised("a", "1", None))
        .await
        .expect("send");
    let third = fetch(&*backend).await.expect("work");
    assert_eq!(third.lease.attempt, 1);
}

/// Acknowledging removes only the messages handed out under the lease.
pub async fn messages_arriving_during_a_lease_are_kept(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let item = fetch(&*backend).await.expect("work");
    backend
        .send_message(raised("a", "late", None))
        .await
        .expect("send");
    backend
        .ack_orchestration("a", item.lease.token, &empty_commit())
        .await
        .expect("ack");
    let next = fetch(&*backend).await.expect("the late message");
    assert_eq!(event_data(&next), vec!["late"]);
}

/// Acknowledging an activity removes it and enqueues its completion, atomically.
pub async fn activity_completion_moves_to_the_inbox(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let item = fetch(&*backend).await.expect("work");
    let commit = OrchestrationCommit {
        activities: vec![work("a", 7)],
        ..empty_commit()
    };
    backend
        .ack_orchestration("a", item.lease.token, &commit)
        .await
        .expect("ack");
    let activity = backend
        .fetch_activity(LEASE, NO_WAIT)
        .await
        .expect("fetch")
        .expect("activity");
    assert_eq!(activity.lease.attempt, 1);
    let completion = NewMessage {
        instance_id: "a".to_owned(),
        execution_id: Some(1),
        event: Event::ActivityCompleted {
            task_id: 7,
            output: "70".to_owned(),
        },
        visible_at_ms: None,
    };
    backend
        .ack_activity(activity.id, activity.lease.token, &completion)
        .await
        .expect("ack activity");
    tokio::time::advance(LEASE * 2).await;
    assert_eq!(
        backend.fetch_activity(LEASE, NO_WAIT).await.expect("fetch"),
        None,
        "the activity is gone"
    );
    let next = fetch(&*backend).await.expect("the completion");
    assert_eq!(next.messages.len(), 1);
    assert_eq!(next.messages[0].event, completion.event);
    assert_eq!(next.messages[0].execution_id, Some(1));
    let again = backend
        .ack_activity(activity.id, activity.lease.token, &completion)
        .await;
    assert!(
        matches!(again, Err(BackendError::LeaseLost { .. })),
        "{again:?}"
    );
}

/// Activity leases expire, renew and abandon like orchestration leases, counting attempts.
pub async fn activity_leases_expire_abandon_and_count_attempts(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let item = fetch(&*backend).await.expect("work");
    let commit = OrchestrationCommit {
        activities: vec![work("a", 0)],
        ..empty_commit()
    };
    backend
        .ack_orchestration("a", item.lease.token, &commit)
        .await
        .expect("ack");
    let first = backend
        .fetch_activity(LEASE, NO_WAIT)
        .await
        .expect("fetch")
        .expect("activity");
    assert_eq!(
        backend.fetch_activity(LEASE, NO_WAIT).await.expect("fetch"),
        None
    );
    tokio::time::advance(Duration::from_secs(20)).await;
    backend
        .renew_activity_lease(first.id, first.lease.token, LEASE)
        .await
        .expect("renew");
    tokio::time::advance(Duration::from_secs(20)).await;
    assert_eq!(
        backend.fetch_activity(LEASE, NO_WAIT).await.expect("fetch"),
        None
    );
    tokio::time::advance(Duration::from_secs(11)).await;
    let second = backend
        .fetch_activity(LEASE, NO_WAIT)
        .await
        .expect("fetch")
        .expect("expired");
    assert_eq!(second.lease.attempt, 2);
    let stale = backend
        .renew_activity_lease(first.id, first.lease.token, LEASE)
        .await;
    assert!(
        matches!(stale, Err(BackendError::LeaseLost { .. })),
        "{stale:?}"
    );
    backend
        .abandon_activity(second.id, second.lease.token, Duration::from_secs(5))
        .await
        .expect("abandon");
    assert_eq!(
        backend.fetch_activity(LEASE, NO_WAIT).await.expect("fetch"),
        None
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    let third = backend
        .fetch_activity(LEASE, NO_WAIT)
        .await
        .expect("fetch")
        .expect("visible again");
    assert_eq!(third.lease.attempt, 3);
}

/// An activity acknowledgement with the token of an expired lease, after the item was
/// leased again, is refused: the item stays with its new holder and no completion is sent.
pub async fn stale_activity_acks_are_refused(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let item = fetch(&*backend).await.expect("work");
    let commit = OrchestrationCommit {
        activities: vec![work("a", 0)],
        ..empty_commit()
    };
    backend
        .ack_orchestration("a", item.lease.token, &commit)
        .await
        .expect("ack");
    let first = backend
        .fetch_activity(LEASE, NO_WAIT)
        .await
        .expect("fetch")
        .expect("activity");
    tokio::time::advance(LEASE + Duration::from_millis(1)).await;
    let second = backend
        .fetch_activity(LEASE, NO_WAIT)
        .await
        .expect("fetch")
        .expect("the lease expired");
    assert_eq!(second.id, first.id);
    let completion = |data: &str| NewMessage {
        instance_id: "a".to_owned(),
        execution_id: Some(1),
        event: Event::ActivityCompleted {
            task_id: 0,
            output: data.to_owned(),
        },
        visible_at_ms: None,
    };
    let stale = backend
        .ack_activity(first.id, first.lease.token, &completion("\"stale\""))
        .await;
    assert!(
        matches!(stale, Err(BackendError::LeaseLost { .. })),
        "{stale:?}"
    );
    assert_eq!(fetch(&*backend).await, None, "no completion was sent");
    backend
        .renew_activity_lease(second.id, second.lease.token, LEASE)
        .await
        .expect("the new holder keeps its lease");
    backend
        .ack_activity(second.id, second.lease.token, &completion("\"fresh\""))
        .await
        .expect("the current holder's ack");
    let next = fetch(&*backend).await.expect("the completion");
    assert_eq!(next.messages.len(), 1);
    assert_eq!(next.messages[0].event, completion("\"fresh\"").event);
}

/// A fetch waiting for work returns as soon as work is enqueued, not at its next poll.
pub async fn waiting_fetches_wake_on_enqueue(backend: Arc<dyn Backend>) {
    let waiting = {
        let backend = Arc::clone(&backend);
        tokio::spawn(async move {
            backend
                .fetch_orchestration(LEASE, Duration::from_secs(3600))
                .await
        })
    };
    tokio::task::yield_now().await;
    let before = tokio::time::Instant::now();
    create(&*backend, "a").await;
    let item = waiting
        .await
        .expect("the task ran")
        .expect("fetch")
        .expect("woken with the new instance");
    assert_eq!(item.instance.instance_id, "a");
    assert!(
        tokio::time::Instant::now() - before < Duration::from_secs(1),
        "the fetch was not woken by the enqueue"
    );
}

/// A commit for a new execution (continue-as-new) replaces the history instead of appending.
pub async fn a_new_execution_replaces_the_history(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let item = fetch(&*backend).await.expect("work");
    let commit = OrchestrationCommit {
        history: vec![start_event("flow")],
        metadata: Some(running(1)),
        ..empty_commit()
    };
    backend
        .ack_orchestration("a", item.lease.token, &commit)
        .await
        .expect("ack");
    backend
        .send_message(raised("a", "1", None))
        .await
        .expect("send");
    let item = fetch(&*backend).await.expect("work");
    let fresh = vec![Event::EpisodeStarted {
        timestamp_ms: item.now_ms,
    }];
    let commit = OrchestrationCommit {
        history: fresh.clone(),
        metadata: Some(MetadataUpdate {
            input: Some("2".to_owned()),
            ..running(2)
        }),
        ..empty_commit()
    };
    backend
        .ack_orchestration("a", item.lease.token, &commit)
        .await
        .expect("ack");
    assert_eq!(backend.read_history("a").await.expect("history"), fresh);
    let metadata = backend
        .read_metadata("a")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(metadata.execution_id, 2);
    assert_eq!(metadata.input, "2");
    assert_eq!(metadata.history_len, 1);
}

/// Messages a commit sends to instances that do not exist are dropped; the commit succeeds.
pub async fn commits_drop_messages_to_missing_instances(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let item = fetch(&*backend).await.expect("work");
    let commit = OrchestrationCommit {
        messages: vec![raised("ghost", "1", None)],
        ..empty_commit()
    };
    backend
        .ack_orchestration("a", item.lease.token, &commit)
        .await
        .expect("ack");
    assert_eq!(fetch(&*backend).await, None);
    assert_eq!(backend.read_metadata("ghost").await.expect("read"), None);
}

/// Several workers fetching and acknowledging at once consume every message exactly once.
pub async fn concurrent_workers_consume_each_message_once(backend: Arc<dyn Backend>) {
    const INSTANCES: usize = 8;
    const MESSAGES: usize = 20;
    for n in 0..INSTANCES {
        create(&*backend, &format!("i{n}")).await;
    }
    let mut workers = Vec::new();
    for _ in 0..4 {
        let backend = Arc::clone(&backend);
        workers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(item) = backend
                .fetch_orchestration(LEASE, Duration::from_secs(1))
                .await
                .expect("fetch")
            {
                for message in &item.messages {
                    seen.push(message.id);
                }
                tokio::task::yield_now().await;
                backend
                    .ack_orchestration(
                        &item.instance.instance_id,
                        item.lease.token,
                        &empty_commit(),
                    )
                    .await
                    .expect("ack");
            }
            seen
        }));
    }
    for round in 0..MESSAGES {
        for n in 0..INSTANCES {
            backend
                .send_message(raised(&format!("i{n}"), &round.to_string(), None))
                .await
                .expect("send");
        }
        tokio::task::yield_now().await;
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.expect("worker"));
    }
    let unique: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "a message was handed out twice");
    assert_eq!(all.len(), INSTANCES * (MESSAGES + 1));
}

/// A commit creates its sub-orchestrations atomically: metadata with the parent link, the
/// start in the child's inbox; and messages reach other instances.
pub async fn commits_create_sub_orchestrations(backend: Arc<dyn Backend>) {
    create(&*backend, "parent").await;
    let commit = OrchestrationCommit {
        instances: vec![child_of("parent", 4, "child")],
        metadata: Some(running(1)),
        ..empty_commit()
    };
    let item = commit_next(&*backend, &commit).await;
    let child = metadata(&*backend, "child").await;
    assert_eq!(child.status, InstanceStatus::Pending);
    assert_eq!(child.name, "flow");
    assert_eq!(
        child.parent,
        Some(ParentInstance {
            instance_id: "parent".to_owned(),
            execution_id: 1,
            task_id: 4,
        })
    );
    assert!(child.created_at_ms >= item.now_ms);
    let work = fetch(&*backend).await.expect("the child's start");
    assert_eq!(work.instance.instance_id, "child");
    assert_eq!(work.messages.len(), 1);
    assert_eq!(work.messages[0].event, start_event("flow"));
    // The child reports back with a message to its parent's execution.
    let report = NewMessage {
        instance_id: "parent".to_owned(),
        execution_id: Some(1),
        event: Event::SubOrchestrationCompleted {
            task_id: 4,
            output: "7".to_owned(),
        },
        visible_at_ms: None,
    };
    let commit = OrchestrationCommit {
        messages: vec![report.clone()],
        metadata: Some(finished(InstanceStatus::Completed)),
        ..empty_commit()
    };
    backend
        .ack_orchestration("child", work.lease.token, &commit)
        .await
        .expect("ack");
    let parent = fetch(&*backend).await.expect("the report");
    assert_eq!(parent.instance.instance_id, "parent");
    assert_eq!(parent.messages.len(), 1);
    assert_eq!(parent.messages[0].event, report.event);
    assert_eq!(parent.messages[0].execution_id, Some(1));
}

/// A sub-orchestration whose id is taken is not created; the parent gets the rejection.
pub async fn a_taken_sub_orchestration_id_is_reported_to_the_parent(backend: Arc<dyn Backend>) {
    create(&*backend, "taken").await;
    let before = metadata(&*backend, "taken").await;
    let taken = fetch(&*backend).await.expect("work");
    backend
        .ack_orchestration("taken", taken.lease.token, &empty_commit())
        .await
        .expect("ack");
    create(&*backend, "parent").await;
    let child = child_of("parent", 2, "taken");
    let commit = OrchestrationCommit {
        instances: vec![child.clone()],
        metadata: Some(running(1)),
        ..empty_commit()
    };
    commit_next(&*backend, &commit).await;
    assert_eq!(metadata(&*backend, "taken").await, before);
    let parent = fetch(&*backend).await.expect("the rejection");
    assert_eq!(parent.instance.instance_id, "parent");
    let rejection = child.rejection().expect("a child has a rejection");
    assert_eq!(parent.messages.len(), 1);
    assert_eq!(parent.messages[0].event, rejection.event);
    assert!(matches!(
        &parent.messages[0].event,
        Event::SubOrchestrationFailed { task_id: 2, failure } if failure.kind == crate::FailureKind::InstanceExists
    ));
}

/// `Refuse` never replaces; `ReplaceFinished` replaces only a finished instance, discarding
/// its history and inbox.
pub async fn create_follows_the_reuse_policy(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let replace = NewInstance {
        input: "2".to_owned(),
        reuse: IdReusePolicy::ReplaceFinished,
        ..new_instance("a")
    };
    // Pending: not replaced.
    assert_eq!(
        backend.create_instance(replace.clone()).await,
        Err(BackendError::InstanceExists("a".to_owned()))
    );
    let commit = OrchestrationCommit {
        history: vec![start_event("flow")],
        metadata: Some(finished(InstanceStatus::Completed)),
        ..empty_commit()
    };
    commit_next(&*backend, &commit).await;
    backend
        .send_message(raised("a", "stale", None))
        .await
        .expect("send");
    assert_eq!(
        backend.create_instance(new_instance("a")).await,
        Err(BackendError::InstanceExists("a".to_owned()))
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    backend
        .create_instance(replace)
        .await
        .expect("a finished instance is replaced");
    let fresh = metadata(&*backend, "a").await;
    assert_eq!(fresh.status, InstanceStatus::Pending);
    assert_eq!(fresh.input, "2");
    assert_eq!(fresh.output, None);
    assert_eq!(fresh.history_len, 0);
    assert!(backend.read_history("a").await.expect("history").is_empty());
    let item = fetch(&*backend).await.expect("the new start");
    assert_eq!(item.messages.len(), 1, "the old inbox is gone");
    assert_eq!(item.lease.attempt, 1);
}

/// Every instance created under an id, by replacement or after a purge, has an incarnation
/// no earlier one had; commits (a new execution included) keep it.
pub async fn reused_ids_get_a_new_incarnation(backend: Arc<dyn Backend>) {
    let replace = NewInstance {
        reuse: IdReusePolicy::ReplaceFinished,
        ..new_instance("a")
    };
    let next_execution = OrchestrationCommit {
        history: vec![start_event("flow")],
        metadata: Some(running(2)),
        ..empty_commit()
    };
    let finish = OrchestrationCommit {
        history: vec![start_event("flow")],
        metadata: Some(finished(InstanceStatus::Completed)),
        ..empty_commit()
    };
    let mut seen = Vec::new();
    create(&*backend, "a").await;
    for round in 0..4 {
        let item = fetch(&*backend).await.expect("the start");
        let incarnation = item.instance.incarnation;
        assert_eq!(metadata(&*backend, "a").await.incarnation, incarnation);
        assert!(
            !seen.contains(&incarnation),
            "incarnation {incarnation} was given before: {seen:?}"
        );
        seen.push(incarnation);
        backend
            .ack_orchestration("a", item.lease.token, &next_execution)
            .await
            .expect("ack");
        assert_eq!(metadata(&*backend, "a").await.incarnation, incarnation);
        backend
            .send_message(raised("a", "finish", None))
            .await
            .expect("send");
        commit_next(&*backend, &finish).await;
        assert_eq!(metadata(&*backend, "a").await.incarnation, incarnation);
        if round % 2 == 0 {
            backend
                .create_instance(replace.clone())
                .await
                .expect("replace");
        } else {
            backend.purge_instance("a").await.expect("purge");
            create(&*backend, "a").await;
        }
    }
}

/// Purging or replacing an instance drops the activity work it scheduled, leased or not: a
/// late completion gets `LeaseLost` instead of reaching the instance now under that id (same
/// execution id, same task id), and nothing of the old instance is handed out again.
pub async fn activities_of_a_removed_instance_are_dropped(backend: Arc<dyn Backend>) {
    let replace = NewInstance {
        reuse: IdReusePolicy::ReplaceFinished,
        ..new_instance("a")
    };
    let schedule_and_finish = OrchestrationCommit {
        history: vec![start_event("flow")],
        activities: vec![work("a", 0), work("a", 1)],
        metadata: Some(finished(InstanceStatus::Terminated)),
        ..empty_commit()
    };
    let schedule = OrchestrationCommit {
        history: vec![start_event("flow")],
        activities: vec![work("a", 0)],
        metadata: Some(running(1)),
        ..empty_commit()
    };
    for purge in [true, false] {
        create(&*backend, "a").await;
        commit_next(&*backend, &schedule_and_finish).await;
        let stale = backend
            .fetch_activity(LEASE, NO_WAIT)
            .await
            .expect("fetch")
            .expect("the old instance's activity");
        if purge {
            backend.purge_instance("a").await.expect("purge");
            create(&*backend, "a").await;
        } else {
            backend
                .create_instance(replace.clone())
                .await
                .expect("replace");
        }
        commit_next(&*backend, &schedule).await;
        let completion = NewMessage {
            instance_id: "a".to_owned(),
            execution_id: Some(1),
            event: Event::ActivityCompleted {
                task_id: stale.work.task_id,
                output: "stale".to_owned(),
            },
            visible_at_ms: None,
        };
        let late = backend
            .ack_activity(stale.id, stale.lease.token, &completion)
            .await;
        assert!(
            matches!(late, Err(BackendError::LeaseLost { .. })),
            "purge {purge}: {late:?}"
        );
        assert_eq!(
            fetch(&*backend).await.map(|item| item.messages),
            None,
            "purge {purge}: the late completion reached the new instance"
        );
        let fresh = backend
            .fetch_activity(LEASE, NO_WAIT)
            .await
            .expect("fetch")
            .expect("the new instance's activity");
        assert_ne!(fresh.id, stale.id);
        assert_eq!(
            fresh.work.task_id, 0,
            "purge {purge}: old work is handed out"
        );
        tokio::time::advance(LEASE * 2).await;
        let again = backend
            .fetch_activity(LEASE, NO_WAIT)
            .await
            .expect("fetch")
            .expect("the new activity, its lease expired");
        assert_eq!(
            again.id, fresh.id,
            "purge {purge}: old work is handed out again"
        );
        let done = NewMessage {
            event: Event::ActivityCompleted {
                task_id: 0,
                output: "fresh".to_owned(),
            },
            ..completion
        };
        backend
            .ack_activity(again.id, again.lease.token, &done)
            .await
            .expect("ack the new activity");
        assert_eq!(
            backend.fetch_activity(LEASE, NO_WAIT).await.expect("fetch"),
            None,
            "purge {purge}: nothing of the old instance is left"
        );
        commit_next(
            &*backend,
            &OrchestrationCommit {
                metadata: Some(finished(InstanceStatus::Completed)),
                ..empty_commit()
            },
        )
        .await;
        backend.purge_instance("a").await.expect("clean up");
    }
}

/// Activity work stays queued while later episodes of its instance commit: an episode that
/// consumes the instance's last message leaves the activities it scheduled before alone.
pub async fn pending_activities_outlive_later_episodes(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let schedule = OrchestrationCommit {
        history: vec![start_event("flow")],
        activities: vec![work("a", 0), work("a", 1)],
        metadata: Some(running(1)),
        ..empty_commit()
    };
    commit_next(&*backend, &schedule).await;
    let first = backend
        .fetch_activity(LEASE, NO_WAIT)
        .await
        .expect("fetch")
        .expect("an activity");
    let completion = NewMessage {
        instance_id: "a".to_owned(),
        execution_id: Some(1),
        event: Event::ActivityCompleted {
            task_id: first.work.task_id,
            output: "1".to_owned(),
        },
        visible_at_ms: None,
    };
    backend
        .ack_activity(first.id, first.lease.token, &completion)
        .await
        .expect("ack activity");
    // The instance consumes the completion; its inbox is empty afterwards.
    commit_next(&*backend, &empty_commit()).await;
    let second = backend
        .fetch_activity(LEASE, NO_WAIT)
        .await
        .expect("fetch")
        .expect("the other activity is still queued");
    assert_ne!(second.work.task_id, first.work.task_id);
}

/// The time limits an orchestration gave at the call are stored with the work item and handed
/// back with it, each limit on its own (set or not).
pub async fn activity_options_travel_with_the_work(backend: Arc<dyn Backend>) {
    use crate::ActivityOptions;
    create(&*backend, "a").await;
    let limits = [
        ActivityOptions::new(),
        ActivityOptions::new().timeout(Duration::from_millis(1500)),
        ActivityOptions::new().heartbeat_timeout(Duration::from_secs(7)),
        ActivityOptions::new()
            .timeout(Duration::from_secs(3600))
            .heartbeat_timeout(Duration::from_millis(250)),
    ];
    let activities: Vec<ActivityWork> = (0..)
        .zip(limits)
        .map(|(task_id, options)| ActivityWork {
            options,
            ..work("a", task_id)
        })
        .collect();
    commit_next(
        &*backend,
        &OrchestrationCommit {
            history: vec![start_event("flow")],
            activities: activities.clone(),
            metadata: Some(running(1)),
            ..empty_commit()
        },
    )
    .await;
    let mut fetched = Vec::new();
    while let Some(item) = backend.fetch_activity(LEASE, NO_WAIT).await.expect("fetch") {
        fetched.push(item.work);
    }
    fetched.sort_by_key(|work| work.task_id);
    assert_eq!(fetched, activities);
}

/// An episode that finishes its instance (terminated, failed or completed) cancels the
/// activity work the instance scheduled before: work not yet handed out is never handed out,
/// and a worker running some of it loses its lease (renewal refused, so it stops) and its late
/// completion is refused.
pub async fn finishing_an_instance_cancels_its_activities(backend: Arc<dyn Backend>) {
    for (instance_id, status) in [
        ("t", InstanceStatus::Terminated),
        ("f", InstanceStatus::Failed),
        ("c", InstanceStatus::Completed),
    ] {
        create(&*backend, instance_id).await;
        let schedule = OrchestrationCommit {
            history: vec![start_event("flow")],
            activities: vec![work(instance_id, 0), work(instance_id, 1)],
            metadata: Some(running(1)),
            ..empty_commit()
        };
        commit_next(&*backend, &schedule).await;
        let running_item = backend
            .fetch_activity(LEASE, NO_WAIT)
            .await
            .expect("fetch")
            .expect("an activity");
        backend
            .send_message(raised(instance_id, "1", None))
            .await
            .expect("send");
        commit_next(
            &*backend,
            &OrchestrationCommit {
                metadata: Some(finished(status)),
                ..empty_commit()
            },
        )
        .await;
        let renewed = backend
            .renew_activity_lease(running_item.id, running_item.lease.token, LEASE)
            .await;
        assert!(
            matches!(renewed, Err(BackendError::LeaseLost { .. })),
            "{status:?}: {renewed:?}"
        );
        let completion = NewMessage {
            instance_id: instance_id.to_owned(),
            execution_id: Some(1),
            event: Event::ActivityCompleted {
                task_id: running_item.work.task_id,
                output: "\"late\"".to_owned(),
            },
            visible_at_ms: None,
        };
        let late = backend
            .ack_activity(running_item.id, running_item.lease.token, &completion)
            .await;
        assert!(
            matches!(late, Err(BackendError::LeaseLost { .. })),
            "{status:?}: {late:?}"
        );
        assert_eq!(
            fetch(&*backend).await,
            None,
            "{status:?}: nothing delivered"
        );
        tokio::time::advance(LEASE * 2).await;
        assert_eq!(
            backend.fetch_activity(LEASE, NO_WAIT).await.expect("fetch"),
            None,
            "{status:?}: the instance's work is still handed out"
        );
        assert_eq!(metadata(&*backend, instance_id).await.status, status);
    }
}

/// A start scheduled for later is not handed out before its time.
pub async fn a_delayed_start_is_not_handed_out_early(backend: Arc<dyn Backend>) {
    // An instance to learn the backend's clock from.
    create(&*backend, "probe").await;
    let now_ms = metadata(&*backend, "probe").await.created_at_ms;
    let probe = fetch(&*backend).await.expect("probe");
    backend
        .ack_orchestration("probe", probe.lease.token, &empty_commit())
        .await
        .expect("ack");
    backend
        .create_instance(NewInstance {
            start_at_ms: Some(now_ms + 60_000),
            ..new_instance("later")
        })
        .await
        .expect("create");
    let later = metadata(&*backend, "later").await;
    assert_eq!(later.scheduled_start_ms, Some(now_ms + 60_000));
    assert_eq!(later.status, InstanceStatus::Pending);
    assert_eq!(fetch(&*backend).await, None);
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(fetch(&*backend).await, None);
    tokio::time::advance(Duration::from_secs(1)).await;
    let item = fetch(&*backend).await.expect("due");
    assert_eq!(item.messages[0].event, start_event("flow"));
}

/// `list_instances` filters by status, name, id prefix, parent and creation time, orders by
/// id and applies the limit last.
pub async fn instances_are_listed_and_filtered(backend: Arc<dyn Backend>) {
    for id in ["b-2", "a-1", "b-1"] {
        create(&*backend, id).await;
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    let created = metadata(&*backend, "a-1").await.created_at_ms;
    backend
        .create_instance(NewInstance {
            name: "other".to_owned(),
            ..child_of("a-1", 0, "c-1")
        })
        .await
        .expect("create");
    let ids = |list: Vec<InstanceMetadata>| -> Vec<String> {
        list.into_iter()
            .map(|metadata| metadata.instance_id)
            .collect()
    };
    let list = |filter: InstanceFilter| {
        let backend = Arc::clone(&backend);
        async move { ids(backend.list_instances(&filter).await.expect("list")) }
    };
    assert_eq!(
        list(InstanceFilter::all()).await,
        ["a-1", "b-1", "b-2", "c-1"]
    );
    assert_eq!(
        list(InstanceFilter::all().with_instance_id_prefix("b-")).await,
        ["b-1", "b-2"]
    );
    assert_eq!(
        list(InstanceFilter::all().with_name("other")).await,
        ["c-1"]
    );
    assert_eq!(
        list(InstanceFilter::all().with_parent("a-1")).await,
        ["c-1"]
    );
    assert_eq!(
        list(InstanceFilter::all().created_between(Some(created), Some(created + 1_000))).await,
        ["a-1"]
    );
    assert_eq!(
        list(InstanceFilter::all().with_limit(2)).await,
        ["a-1", "b-1"]
    );
    assert!(
        list(InstanceFilter::all().with_statuses([InstanceStatus::Running]))
            .await
            .is_empty()
    );
    assert_eq!(
        list(
            InstanceFilter::all()
                .with_statuses([InstanceStatus::Pending])
                .with_instance_id_prefix("b")
                .with_limit(1)
        )
        .await,
        ["b-1"]
    );
}

/// `purge_finished_before` deletes finished instances last changed before the cutoff, oldest
/// first and at most `limit` per call, with their inbox; unfinished instances and recently
/// finished ones stay.
pub async fn purge_finished_before_keeps_unfinished_and_recent(backend: Arc<dyn Backend>) {
    let finish = |status| OrchestrationCommit {
        history: vec![start_event("flow")],
        metadata: Some(finished(status)),
        ..empty_commit()
    };
    for (id, status) in [
        ("old-completed", InstanceStatus::Completed),
        ("old-terminated", InstanceStatus::Terminated),
        ("old-failed", InstanceStatus::Failed),
    ] {
        create(&*backend, id).await;
        commit_next(&*backend, &finish(status)).await;
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    create(&*backend, "old-running").await;
    commit_next(
        &*backend,
        &OrchestrationCommit {
            history: vec![start_event("flow")],
            metadata: Some(running(1)),
            ..empty_commit()
        },
    )
    .await;
    // The backend's clock: the last change of the last old instance, then 10 s on.
    let cutoff_ms = metadata(&*backend, "old-running").await.updated_at_ms + 5_000;
    // A timer that fires after the end stays in the inbox until the purge.
    backend
        .send_message(raised("old-completed", "late", Some(cutoff_ms + 60_000)))
        .await
        .expect("send");
    tokio::time::advance(Duration::from_secs(10)).await;
    create(&*backend, "recent-completed").await;
    commit_next(&*backend, &finish(InstanceStatus::Completed)).await;
    create(&*backend, "pending").await;

    assert_eq!(
        backend
            .purge_finished_before(cutoff_ms, 2)
            .await
            .expect("purge"),
        ["old-completed", "old-terminated"],
        "the oldest first, at most the limit"
    );
    assert_eq!(
        backend
            .purge_finished_before(cutoff_ms, 10)
            .await
            .expect("purge"),
        ["old-failed"]
    );
    assert!(
        backend
            .purge_finished_before(cutoff_ms, 10)
            .await
            .expect("purge")
            .is_empty()
    );
    for gone in ["old-completed", "old-terminated", "old-failed"] {
        assert_eq!(backend.read_metadata(gone).await.expect("read"), None);
        assert!(
            backend
                .read_history(gone)
                .await
                .expect("history")
                .is_empty()
        );
    }
    let left: Vec<String> = backend
        .list_instances(&InstanceFilter::all())
        .await
        .expect("list")
        .into_iter()
        .map(|metadata| metadata.instance_id)
        .collect();
    assert_eq!(left, ["old-running", "pending", "recent-completed"]);
    assert_eq!(
        metadata(&*backend, "old-running").await.history_len,
        1,
        "unfinished instances keep their history"
    );
    // The purged instance's inbox went with it: only the pending start is handed out.
    tokio::time::advance(Duration::from_secs(120)).await;
    let next = fetch(&*backend).await.expect("the pending start");
    assert_eq!(next.instance.instance_id, "pending");
    assert_eq!(fetch(&*backend).await, None);
    // Everything finished is due with a cutoff in the future.
    let later = metadata(&*backend, "recent-completed").await.updated_at_ms + 1;
    assert_eq!(
        backend
            .purge_finished_before(later, 10)
            .await
            .expect("purge"),
        ["recent-completed"]
    );
}

/// Keyset pages (`Client::list_page`) list every instance once, in id order, while instances
/// are created between pages; a listing of unfinished instances pages the same way and
/// leaves finished ones out.
pub async fn pages_neither_repeat_nor_skip_while_instances_are_created(backend: Arc<dyn Backend>) {
    let client = crate::client::Client::new(Arc::clone(&backend));
    // Even numbers first; odd ones arrive while the listing pages.
    for n in (0..30).step_by(2) {
        create(&*backend, &format!("i-{n:02}")).await;
    }
    // Finish two of them.
    for _ in 0..2 {
        commit_next(
            &*backend,
            &OrchestrationCommit {
                history: vec![start_event("flow")],
                metadata: Some(finished(InstanceStatus::Completed)),
                ..empty_commit()
            },
        )
        .await;
    }
    let finished_ids: Vec<String> = backend
        .list_instances(&InstanceFilter::all().with_statuses(InstanceStatus::FINISHED))
        .await
        .expect("list")
        .into_iter()
        .map(|metadata| metadata.instance_id)
        .collect();
    assert_eq!(finished_ids.len(), 2);
    for unfinished_only in [false, true] {
        let base = if unfinished_only {
            InstanceFilter::all().unfinished()
        } else {
            InstanceFilter::all()
        };
        let mut seen: Vec<String> = Vec::new();
        // Instances created between pages, with the cursor at the time.
        let mut created: Vec<(String, String)> = Vec::new();
        let mut filter = base.clone();
        let mut pages = 0;
        loop {
            let page = client.list_page(&filter, 4).await.expect("page");
            assert!(page.instances.len() <= 4);
            seen.extend(page.instances.iter().map(|m| m.instance_id.clone()));
            pages += 1;
            let Some(next) = page.next else { break };
            assert_eq!(Some(&next), seen.last(), "the cursor is the last id");
            // New instances on both sides of the cursor.
            let suffix = if unfinished_only { "u" } else { "a" };
            for n in [pages * 4 - 3, 29 - pages] {
                let id = format!("i-{n:02}{suffix}");
                create(&*backend, &id).await;
                created.push((id, next.clone()));
            }
            filter = base.clone().starting_after(next);
            assert!(pages < 50, "paging does not end");
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(seen, sorted, "in id order, without repeats");
        for n in (0..30).step_by(2) {
            let id = format!("i-{n:02}");
            assert_eq!(
                seen.contains(&id),
                !(unfinished_only && finished_ids.contains(&id)),
                "{id} (unfinished only: {unfinished_only})"
            );
        }
        for (id, cursor) in &created {
            assert_eq!(
                seen.contains(id),
                id > cursor,
                "{id}, created when the cursor was {cursor}"
            );
        }
    }
    assert_eq!(
        client
            .list_page(&InstanceFilter::all().starting_after("i-99"), 4)
            .await
            .expect("page"),
        crate::metadata::InstancePage::default(),
        "past the end: an empty last page"
    );
}

/// Purge deletes a finished instance whole and refuses one that has not finished.
pub async fn purge_deletes_finished_instances_only(backend: Arc<dyn Backend>) {
    assert_eq!(
        backend.purge_instance("ghost").await,
        Err(BackendError::InstanceNotFound("ghost".to_owned()))
    );
    create(&*backend, "a").await;
    assert_eq!(
        backend.purge_instance("a").await,
        Err(BackendError::InstanceActive("a".to_owned()))
    );
    let commit = OrchestrationCommit {
        history: vec![start_event("flow")],
        metadata: Some(finished(InstanceStatus::Failed)),
        ..empty_commit()
    };
    commit_next(&*backend, &commit).await;
    backend
        .send_message(raised("a", "late", None))
        .await
        .expect("send");
    let leased = fetch(&*backend).await.expect("the late message");
    backend.purge_instance("a").await.expect("purge");
    assert_eq!(backend.read_metadata("a").await.expect("read"), None);
    assert!(backend.read_history("a").await.expect("history").is_empty());
    assert_eq!(
        backend.send_message(raised("a", "1", None)).await,
        Err(BackendError::InstanceNotFound("a".to_owned()))
    );
    let stale = backend
        .ack_orchestration("a", leased.lease.token, &empty_commit())
        .await;
    assert!(
        matches!(stale, Err(BackendError::LeaseLost { .. })),
        "{stale:?}"
    );
    tokio::time::advance(LEASE * 2).await;
    assert_eq!(fetch(&*backend).await, None);
    // The id is free again.
    create(&*backend, "a").await;
}

/// A commit with no metadata and no history (stray messages consumed) changes nothing the
/// client sees, not even `updated_at_ms`.
pub async fn empty_commits_leave_the_metadata_alone(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    commit_next(
        &*backend,
        &OrchestrationCommit {
            history: vec![start_event("flow")],
            metadata: Some(running(1)),
            ..empty_commit()
        },
    )
    .await;
    let before = metadata(&*backend, "a").await;
    tokio::time::advance(Duration::from_secs(10)).await;
    backend
        .send_message(raised("a", "stray", None))
        .await
        .expect("send");
    commit_next(&*backend, &empty_commit()).await;
    assert_eq!(metadata(&*backend, "a").await, before);
}

/// Attempt counts grow with every hand-out, whether the lease expired or was abandoned, for
/// orchestrations and activities alike; only an acknowledgement resets them.
pub async fn poison_counts_survive_expiry_and_abandon(backend: Arc<dyn Backend>) {
    create(&*backend, "a").await;
    let mut attempts = Vec::new();
    for round in 0..4 {
        let item = fetch(&*backend).await.expect("work");
        attempts.push(item.lease.attempt);
        if round % 2 == 0 {
            tokio::time::advance(LEASE).await;
        } else {
            backend
                .abandon_orchestration("a", item.lease.token, Duration::ZERO)
                .await
                .expect("abandon");
        }
    }
    assert_eq!(attempts, [1, 2, 3, 4]);
    let item = fetch(&*backend).await.expect("work");
    assert_eq!(item.lease.attempt, 5);
    let commit = OrchestrationCommit {
        activities: vec![work("a", 0)],
        ..empty_commit()
    };
    backend
        .ack_orchestration("a", item.lease.token, &commit)
        .await
        .expect("ack");
    let mut attempts = Vec::new();
    for round in 0..4 {
        let item = backend
            .fetch_activity(LEASE, NO_WAIT)
            .await
            .expect("fetch")
            .expect("the activity");
        attempts.push(item.lease.attempt);
        if round % 2 == 0 {
            tokio::time::advance(LEASE).await;
        } else {
            backend
                .abandon_activity(item.id, item.lease.token, Duration::ZERO)
                .await
                .expect("abandon");
        }
    }
    assert_eq!(attempts, [1, 2, 3, 4]);
}

/// The engine runs orchestrations with activities, fan-out, timers and events on the backend.
pub async fn orchestrations_run_end_to_end(backend: Arc<dyn Backend>) {
    use crate::{
        ActivityContext, Client, Failure, OrchestrationContext, Registry, Worker, WorkerOptions,
    };
    let registry = Registry::new()
        .activity("double", |_ctx: ActivityContext, n: u64| async move {
            Ok::<_, Failure>(n * 2)
        })
        .orchestration("flow", |ctx: OrchestrationContext, n: u64| async move {
            let doubled: u64 = ctx.call_activity("double", &n).await?;
            let fanned = futures::future::join_all(
                (0..doubled).map(|k| ctx.call_activity::<_, u64>("double", &k)),
            )
            .await;
            let mut sum = 0;
            for value in fanned {
                sum += value?;
            }
            ctx.create_timer(Duration::from_secs(60)).await?;
            let bonus: u64 = ctx.wait_for_event("bonus").await?;
            Ok(sum + bonus)
        });
    let worker = Worker::start(Arc::clone(&backend), registry, WorkerOptions::default());
    let client = Client::new(Arc::clone(&backend));
    for n in 0..5u64 {
        let id = format!("i{n}");
        client.schedule("flow", &id, &n).await.expect("schedule");
        client
            .raise_event(&id, "bonus", &1000u64)
            .await
            .expect("raise");
    }
    for n in 0..5u64 {
        let done = client
            .wait_for_completion(&format!("i{n}"), Duration::from_secs(3600))
            .await
            .expect("completion");
        let expected: u64 = (0..2 * n).map(|k| 2 * k).sum::<u64>() + 1000;
        assert_eq!(
            done.output::<u64>().ok().flatten(),
            Some(expected),
            "{done:?}"
        );
    }
    worker.shutdown().await;
}

/// The engine runs sub-orchestrations (fan-out, failure, events between instances) on the
/// backend.
pub async fn sub_orchestrations_run_end_to_end(backend: Arc<dyn Backend>) {
    use crate::{Client, Failure, OrchestrationContext, Registry, Worker, WorkerOptions};
    let registry = Registry::new()
        .orchestration("child", |ctx: OrchestrationContext, n: u64| async move {
            if n == 0 {
                return Err(Failure::application("zero"));
            }
            let parent = ctx
                .instance_id()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned();
            ctx.raise_event(&parent, "hello", &n)?;
            Ok(n * 10)
        })
        .orchestration("parent", |ctx: OrchestrationContext, n: u64| async move {
            let calls: Vec<_> = (0..n)
                .map(|k| ctx.call_sub_orchestration::<_, u64>("child", &k))
                .collect();
            let mut sum = 0;
            let mut failures = 0;
            for result in futures::future::join_all(calls).await {
                match result {
                    Ok(value) => sum += value,
                    Err(_) => failures += 1,
                }
            }
            for _ in 1..n {
                let hello: u64 = ctx.wait_for_event("hello").await?;
                sum += hello;
            }
            Ok((sum, failures))
        });
    let worker = Worker::start(Arc::clone(&backend), registry, WorkerOptions::default());
    let client = Client::new(Arc::clone(&backend));
    client
        .schedule("parent", "p", &4u64)
        .await
        .expect("schedule");
    let done = client
        .wait_for_completion("p", Duration::from_secs(3600))
        .await
        .expect("completion");
    assert_eq!(
        done.output::<(u64, u64)>().ok().flatten(),
        Some((60 + 6, 1)),
        "{done:?}"
    );
    let children = client
        .list(&InstanceFilter::all().with_parent("p"))
        .await
        .expect("list");
    assert_eq!(children.len(), 4);
    worker.shutdown().await;
}

/// Suspend holds an instance, resume releases it, terminate reaches its sub-orchestrations,
/// purge deletes the tree.
pub async fn terminate_suspend_resume_and_purge_end_to_end(backend: Arc<dyn Backend>) {
    use crate::{Client, OrchestrationContext, Registry, Worker, WorkerOptions};
    const LIMIT: Duration = Duration::from_secs(3600);
    let registry = Registry::new()
        .orchestration("waiter", |ctx: OrchestrationContext, _: ()| async move {
            let value: u64 = ctx.wait_for_event("go").await?;
            Ok(value)
        })
        .orchestration("holder", |ctx: OrchestrationContext, _: ()| async move {
            let value: u64 = ctx.call_sub_orchestration("waiter", &()).await?;
            Ok(value)
        });
    let worker = Worker::start(Arc::clone(&backend), registry, WorkerOptions::default());
    let client = Client::new(Arc::clone(&backend));

    client.schedule("waiter", "w", &()).await.expect("schedule");
    client.wait_for_start("w", LIMIT).await.expect("start");
    client.suspend("w", "hold").await.expect("suspend");
    client.raise_event("w", "go", &5u64).await.expect("raise");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let held = client
        .metadata("w")
        .await
        .expect("metadata")
        .expect("exists");
    assert_eq!(held.status, InstanceStatus::Suspended);
    client.resume("w", "go on").await.expect("resume");
    let done = client.wait_for_completion("w", LIMIT).await.expect("done");
    assert_eq!(done.output::<u64>().ok().flatten(), Some(5));

    client.schedule("holder", "h", &()).await.expect("schedule");
    client.wait_for_start("h", LIMIT).await.expect("start");
    client
        .wait_for_start("h:1:0", LIMIT)
        .await
        .expect("child start");
    client.terminate("h", "stop").await.expect("terminate");
    for id in ["h", "h:1:0"] {
        let done = client.wait_for_completion(id, LIMIT).await.expect("done");
        assert_eq!(done.status, InstanceStatus::Terminated, "{id}");
    }
    let purged = client.purge("h").await.expect("purge");
    assert_eq!(purged, ["h:1:0", "h"]);
    let left = client.list(&InstanceFilter::all()).await.expect("list");
    assert_eq!(left.len(), 1);
    worker.shutdown().await;
}

/// Terminating an instance stops the activity a worker is running for it: at the worker's
/// next lease renewal the activity is cancelled (an async one is dropped, a blocking one sees
/// `is_cancelled`) and stops well before it would have finished, and its result never reaches
/// the instance's history.
pub async fn terminate_cancels_running_activities_end_to_end(backend: Arc<dyn Backend>) {
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::{
        ActivityContext, Client, Failure, OrchestrationContext, Registry, Worker, WorkerOptions,
    };
    const LIMIT: Duration = Duration::from_secs(3600);
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let started = Arc::new(tokio::sync::Notify::new());
    let stopped = Arc::new(AtomicBool::new(false));
    let registry = Registry::new()
        .activity("stall", {
            let started = Arc::clone(&started);
            let stopped = Arc::clone(&stopped);
            move |ctx: ActivityContext, _: ()| {
                let started = Arc::clone(&started);
                let stopped = Arc::clone(&stopped);
                async move {
                    // An async activity stops when it sees its cancellation or when the worker
                    // drops it: either way the guard records it.
                    let _guard = SetOnDrop(stopped);
                    started.notify_one();
                    tokio::select! {
                        () = ctx.cancelled() => {}
                        () = tokio::time::sleep(LIMIT) => {}
                    }
                    Ok::<_, Failure>("finished anyway".to_owned())
                }
            }
        })
        .orchestration("flow", |ctx: OrchestrationContext, _: ()| async move {
            let value: String = ctx.call_activity("stall", &()).await?;
            Ok(value)
        });
    let options = WorkerOptions {
        activity_lease: Duration::from_secs(30),
        ..WorkerOptions::default()
    };
    let worker = Worker::start(Arc::clone(&backend), registry, options);
    let client = Client::new(Arc::clone(&backend));
    client.schedule("flow", "x", &()).await.expect("schedule");
    started.notified().await;
    client.terminate("x", "stop").await.expect("terminate");
    let done = client.wait_for_completion("x", LIMIT).await.expect("done");
    assert_eq!(done.status, InstanceStatus::Terminated);
    // The next renewal (a third of the lease) finds the lease gone and cancels the activity.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        stopped.load(Ordering::SeqCst),
        "the activity was not cancelled"
    );
    assert!(worker.metrics().leases_lost >= 1, "{:?}", worker.metrics());
    let history = backend.read_history("x").await.expect("history");
    assert!(
        !history
            .iter()
            .any(|event| matches!(event, Event::ActivityCompleted { .. })),
        "{history:?}"
    );
    worker.shutdown().await;
}

/// An episode that keeps being handed out without a commit is poisoned after the worker's
/// `max_attempts`, with a clear failure.
pub async fn poisoned_work_fails_end_to_end(backend: Arc<dyn Backend>) {
    use crate::{Client, FailureKind, Registry, Worker, WorkerOptions};
    create(&*backend, "x").await;
    // Three workers crash mid-episode (their leases expire).
    for _ in 0..3 {
        let item = fetch(&*backend).await.expect("work");
        assert_eq!(item.instance.instance_id, "x");
        tokio::time::advance(LEASE).await;
    }
    let options = WorkerOptions {
        max_attempts: 3,
        ..WorkerOptions::default()
    };
    let worker = Worker::start(Arc::clone(&backend), Registry::new(), options);
    let client = Client::new(Arc::clone(&backend));
    let done = client
        .wait_for_completion("x", Duration::from_secs(3600))
        .await
        .expect("done");
    assert_eq!(done.status, InstanceStatus::Failed);
    let failure = done.failure.expect("a failure");
    assert_eq!(failure.kind, FailureKind::Poisoned);
    assert!(failure.message.contains("attempted 4 times"), "{failure}");
    worker.shutdown().await;
}

/// Patch markers (`patched`, `deprecate_patch`) are stored and read back as recorded, and the
/// history read back replays with the code that recorded it.
pub async fn patch_markers_round_trip_end_to_end(backend: Arc<dyn Backend>) {
    use crate::{Client, Failure, OrchestrationContext, Registry, Worker, WorkerOptions};
    let registry = Registry::new()
        .activity(
            "double",
            |_ctx, n: u64| async move { Ok::<_, Failure>(n * 2) },
        )
        .orchestration("flow", |ctx: OrchestrationContext, n: u64| async move {
            let n = if ctx.patched("double-first") {
                ctx.call_activity::<_, u64>("double", &n).await?
            } else {
                n
            };
            ctx.deprecate_patch("old-change");
            ctx.call_activity::<_, u64>("double", &n).await
        });
    let worker = Worker::start(
        Arc::clone(&backend),
        registry.clone(),
        WorkerOptions::default(),
    );
    let client = Client::new(Arc::clone(&backend));
    client.schedule("flow", "i", &3u64).await.expect("schedule");
    let done = client
        .wait_for_completion("i", Duration::from_secs(3600))
        .await
        .expect("completion");
    worker.shutdown().await;
    assert_eq!(done.output::<u64>().ok().flatten(), Some(12), "{done:?}");
    let history = backend.read_history("i").await.expect("read_history");
    let markers: Vec<&Event> = history
        .iter()
        .filter(|event| matches!(event, Event::PatchMarkerRecorded { .. }))
        .collect();
    assert_eq!(
        markers,
        [
            &Event::PatchMarkerRecorded {
                patch_id: "double-first".to_owned(),
                deprecated: false,
            },
            &Event::PatchMarkerRecorded {
                patch_id: "old-change".to_owned(),
                deprecated: true,
            },
        ]
    );
    assert_eq!(registry.verify_history("i", &history), Ok(()));
}

#[cfg(test)]
mod tests {
    /// Every public test of this module is in `backend_conformance_tests!`, so no backend can
    /// miss one.
    #[test]
    fn the_macro_lists_every_test() {
        let source = include_str!("conformance.rs");
        let (head, body) = source
            .split_once("const LEASE: Duration")
            .expect("the macro comes before the tests");
        let listed: std::collections::BTreeSet<&str> = head
            .lines()
            .map(str::trim)
            .filter_map(|line| line.strip_suffix(','))
            .filter(|name| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
            .collect();
        let defined: std::collections::BTreeSet<&str> = body
            .lines()
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .filter_map(|rest| rest.split('(').next())
            .collect();
        assert!(defined.len() > 30, "{defined:?}");
        assert_eq!(listed, defined);
    }
}
