//! Lease tokens never repeat, even when a server crash loses a fetch's asynchronously
//! committed lease: the stale holder's acknowledgement is refused.
//! Skipped (with a note) without `OCFL_TEST_POSTGRES_URL`.

mod common;

use std::time::Duration;

use durable_core::backend::OrchestrationCommit;
use durable_core::testing::new_instance;
use durable_core::{Backend, BackendError, Event};
use durable_postgres::testing::sql_client;
use durable_postgres::{PostgresBackend, PostgresOptions};

const LEASE: Duration = Duration::from_secs(30);

/// Every sequence of the schema with its state (`last_value`, `is_called`).
async fn sequences(client: &tokio_postgres::Client) -> Vec<(String, i64, bool)> {
    let names: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'S' AND n.nspname = current_schema() ORDER BY 1",
            &[],
        )
        .await
        .expect("list sequences")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut states = Vec::new();
    for name in names {
        let row = client
            .query_one(
                &format!("SELECT last_value, is_called FROM \"{name}\""),
                &[],
            )
            .await
            .expect("read a sequence");
        states.push((name, row.get(0), row.get(1)));
    }
    states
}

#[tokio::test]
async fn a_token_lost_in_a_crash_is_never_handed_out_again() {
    let Some(base) = common::base_url("a_token_lost_in_a_crash_is_never_handed_out_again") else {
        return;
    };
    let url = common::fresh_url(&base, "tokens").await;
    let before_crash = PostgresBackend::connect(&url).await.expect("connect");
    let client = sql_client(&url).await.expect("connect");
    // A first lease, acknowledged: the process is warmed up (any token block reserved).
    before_crash
        .create_instance(new_instance("w"))
        .await
        .expect("create");
    let warm = before_crash
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("work");
    before_crash
        .ack_orchestration("w", warm.lease.token, &OrchestrationCommit::default())
        .await
        .expect("ack");
    before_crash
        .create_instance(new_instance("a"))
        .await
        .expect("create");
    let durable = sequences(&client).await;

    let stale = before_crash
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("work");
    assert_eq!(stale.instance.instance_id, "a");

    // The server crashes before the fetch's asynchronous commit reached the WAL: the lease
    // and the sequence values it drew are gone, as if it never ran.
    for (name, last_value, is_called) in &durable {
        client
            .execute(
                &format!("SELECT setval('\"{name}\"', $1, $2)"),
                &[last_value, is_called],
            )
            .await
            .expect("put a sequence back");
    }
    client
        .execute(
            "UPDATE durable_instances SET lease_token = NULL, lease_expires_ms = 0, \
             attempts = 0, leased_messages = NULL WHERE instance_id = 'a'",
            &[],
        )
        .await
        .expect("lose the lease");

    // After the restart another process takes the instance.
    let after_crash = PostgresBackend::connect(&url).await.expect("connect again");
    let fresh = after_crash
        .fetch_orchestration(LEASE, Duration::ZERO)
        .await
        .expect("fetch")
        .expect("the instance is free again");
    assert_eq!(fresh.instance.instance_id, "a");
    assert_ne!(
        fresh.lease.token, stale.lease.token,
        "a token was handed out twice"
    );
    let commit = OrchestrationCommit {
        history: vec![Event::EpisodeStarted {
            timestamp_ms: stale.now_ms,
        }],
        ..OrchestrationCommit::default()
    };
    let late = before_crash
        .ack_orchestration("a", stale.lease.token, &commit)
        .await;
    assert!(
        matches!(late, Err(BackendError::LeaseLost { .. })),
        "the stale holder's ack passed: {late:?}"
    );
    after_crash
        .ack_orchestration("a", fresh.lease.token, &OrchestrationCommit::default())
        .await
        .expect("the new holder's ack");
}

/// The `durable_lease_tokens` sequence's last value: one step per reserved block.
async fn last_block(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT last_value FROM durable_lease_tokens", &[])
        .await
        .expect("read the token sequence")
        .get(0)
}

/// Fetches that run out of tokens together never hold a pooled connection while waiting
/// for another to reserve a block (with a pool of one connection such a fetch could never
/// finish: it would wait for the pool's timeout and fail), and they share one reservation.
#[tokio::test]
async fn fetches_out_of_tokens_share_one_reservation_without_starving_the_pool() {
    let Some(base) =
        common::base_url("fetches_out_of_tokens_share_one_reservation_without_starving_the_pool")
    else {
        return;
    };
    const FETCHES: usize = 4;
    let url = common::fresh_url(&base, "token_pool").await;
    let backend = PostgresBackend::connect_with(
        &url,
        PostgresOptions {
            pool_size: 1,
            // A fetch waiting for a connection that its own kind holds fails instead of
            // retrying until it happens to get one.
            pool_wait_timeout: Duration::from_secs(5),
            retry_for: Duration::from_secs(1),
            ..PostgresOptions::default()
        },
    )
    .await
    .expect("connect");
    let client = sql_client(&url).await.expect("connect");
    for n in 0..FETCHES {
        backend
            .create_instance(new_instance(&format!("i{n}")))
            .await
            .expect("create");
    }
    let before = last_block(&client).await;

    // No block is reserved yet: every fetch finds none.
    let fetched = futures::future::join_all(
        (0..FETCHES).map(|_| backend.fetch_orchestration(LEASE, Duration::ZERO)),
    )
    .await;
    let mut tokens = Vec::new();
    for item in fetched {
        let item = item
            .expect("a fetch waited for a connection held by fetches")
            .expect("work");
        tokens.push(item.lease.token);
    }
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len(), FETCHES, "a token was handed out twice");
    assert_eq!(
        last_block(&client).await - before,
        1024,
        "the fetches did not share one block"
    );
}
