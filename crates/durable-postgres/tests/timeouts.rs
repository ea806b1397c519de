//! A call on a connection that stopped answering (a frozen network path: the socket stays
//! open, nothing comes back) fails after the answer timeout and is retried on a new
//! connection, instead of hanging for ever.
//! Skipped (with a note) without `OCFL_TEST_POSTGRES_URL`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use durable_core::testing::new_instance;
use durable_core::{Backend, BackendError};
use durable_postgres::testing::sql_client;
use durable_postgres::{ANSWER_GRACE, PostgresBackend, PostgresOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy to the database whose connections can be frozen: they stay open but forward
/// nothing more, as over a network path that died without a reset.
struct Proxy {
    port: u16,
    /// Connections numbered below this are frozen.
    frozen_below: Arc<AtomicU64>,
    /// How many connections were made.
    made: Arc<AtomicU64>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let frozen_below = Arc::new(AtomicU64::new(0));
        let frozen = Arc::clone(&frozen_below);
        let made = Arc::new(AtomicU64::new(0));
        let next = Arc::clone(&made);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let number = next.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(forward(
                    client_read,
                    server_write,
                    number,
                    Arc::clone(&frozen),
                ));
                tokio::spawn(forward(
                    server_read,
                    client_write,
                    number,
                    Arc::clone(&frozen),
                ));
            }
        });
        Proxy {
            port,
            frozen_below,
            made,
        }
    }

    /// Freezes every connection made so far; later ones forward normally.
    fn freeze_existing(&self) {
        self.frozen_below
            .store(self.made.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    number: u64,
    frozen_below: Arc<AtomicU64>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        if number < frozen_below.load(Ordering::SeqCst) {
            // Keep both sockets open and say nothing, for ever.
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// `url` as a key=value connection string to the proxy on `port`.
fn through_proxy(url: &str, port: u16) -> (String, String) {
    let config: tokio_postgres::Config = url.parse().expect("a URL");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "localhost".to_owned(),
    };
    let target_port = config.get_ports().first().copied().unwrap_or(5432);
    let quote = |value: &str| format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"));
    let password = config
        .get_password()
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .unwrap_or_default();
    let proxied = format!(
        "host=127.0.0.1 port={port} user={} password={} dbname={} options={}",
        quote(config.get_user().unwrap_or("")),
        quote(&password),
        quote(config.get_dbname().unwrap_or("")),
        quote(config.get_options().unwrap_or("")),
    );
    (proxied, format!("{host}:{target_port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_a_frozen_connection_is_retried_on_a_new_one() {
    let Some(base) = common::base_url("a_call_on_a_frozen_connection_is_retried_on_a_new_one")
    else {
        return;
    };
    let url = common::fresh_url(&base, "timeouts").await;
    let (_, target) = through_proxy(&url, 0);
    let proxy = Proxy::start(target).await;
    let (proxied, _) = through_proxy(&url, proxy.port);
    let statement_timeout = Duration::from_secs(1);
    let backend = PostgresBackend::connect_with(
        &proxied,
        PostgresOptions {
            pool_size: 1,
            statement_timeout,
            ..PostgresOptions::default()
        },
    )
    .await
    .expect("connect through the proxy");
    backend
        .create_instance(new_instance("a"))
        .await
        .expect("create");
    // The listener's connection and the pool's one.
    proxy.freeze_existing();
    let answered = tokio::time::timeout(
        statement_timeout + ANSWER_GRACE + Duration::from_secs(20),
        backend.read_metadata("a"),
    )
    .await
    .expect("the call gave up on the frozen connection and was retried");
    let metadata = answered.expect("read").expect("the instance exists");
    assert_eq!(metadata.instance_id, "a");
    assert!(backend.retried_calls() >= 1);
}

/// A backend with `options` on a fresh schema holding instance "a", and a SQL connection in
/// a transaction holding an exclusive lock on the instances table (until [`release`]), so
/// that every call of the backend that reads or writes an instance waits for it.
async fn locked_store(
    base: &str,
    test: &str,
    options: PostgresOptions,
) -> (PostgresBackend, tokio_postgres::Client) {
    let url = common::fresh_url(base, test).await;
    let backend = PostgresBackend::connect_with(&url, options)
        .await
        .expect("connect");
    backend
        .create_instance(new_instance("a"))
        .await
        .expect("create");
    let lock = sql_client(&url).await.expect("connect");
    lock.batch_execute("BEGIN; LOCK TABLE durable_instances IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock the instances");
    (backend, lock)
}

/// Ends the lock of [`locked_store`].
async fn release(lock: &tokio_postgres::Client) {
    lock.batch_execute("ROLLBACK")
        .await
        .expect("release the lock");
}

/// A call that finds every pooled connection busy (here the only one, held by a call blocked
/// on a table lock) gives up after `pool_wait_timeout`, is retried, and reports a transient
/// error once `retry_for` is over, instead of waiting for as long as the busy call runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_waiting_for_a_busy_pool_gives_up_after_the_pool_wait_timeout() {
    let Some(base) =
        common::base_url("a_call_waiting_for_a_busy_pool_gives_up_after_the_pool_wait_timeout")
    else {
        return;
    };
    let options = PostgresOptions {
        pool_size: 1,
        pool_wait_timeout: Duration::from_millis(500),
        retry_for: Duration::from_secs(1),
        ..PostgresOptions::default()
    };
    let (backend, lock) = locked_store(&base, "pool_wait", options).await;
    let backend = Arc::new(backend);
    // This call takes the pool's one connection and waits for the lock (the statement
    // timeout, 30 s, is far away).
    let blocked = tokio::spawn({
        let backend = Arc::clone(&backend);
        async move { backend.read_metadata("a").await }
    });
    let waiting = "SELECT count(*) FROM pg_locks \
                   WHERE relation = 'durable_instances'::regclass AND NOT granted";
    for _ in 0..200 {
        let row = lock.query_one(waiting, &[]).await.expect("pg_locks");
        if row.get::<_, i64>(0) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let second = tokio::time::timeout(Duration::from_secs(20), backend.read_metadata("a"))
        .await
        .expect("the call waited for the busy connection instead of giving up");
    assert!(
        matches!(&second, Err(BackendError::Transient(message)) if message.contains("pool")),
        "{second:?}"
    );
    release(&lock).await;
    let first = blocked.await.expect("join").expect("the blocked call");
    assert_eq!(first.map(|m| m.instance_id), Some("a".to_owned()));
}

/// The server cancels a statement of the pool's connections that runs past
/// `statement_timeout` (here one blocked on a table lock); the call is retried and, the lock
/// still held once `retry_for` is over, reports the server's cancellation as a transient
/// error, well before the answer timeout would have given up on the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_cancels_a_statement_past_the_statement_timeout() {
    let Some(base) = common::base_url("the_server_cancels_a_statement_past_the_statement_timeout")
    else {
        return;
    };
    let options = PostgresOptions {
        pool_size: 1,
        statement_timeout: Duration::from_millis(500),
        retry_for: Duration::from_millis(200),
        ..PostgresOptions::default()
    };
    let (backend, lock) = locked_store(&base, "statement_timeout", options).await;

    let read = backend.read_metadata("a").await;
    assert!(
        matches!(&read, Err(BackendError::Transient(message)) if message.contains("57014")),
        "not cancelled by the server's statement timeout (SQLSTATE 57014): {read:?}"
    );
    release(&lock).await;
    let metadata = backend.read_metadata("a").await.expect("read");
    assert_eq!(metadata.map(|m| m.instance_id), Some("a".to_owned()));
}
