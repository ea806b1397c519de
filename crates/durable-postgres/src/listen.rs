//! Wake-ups: in-process `Notify`s, fed by our own commits and by PostgreSQL notifications.
//!
//! Every commit that makes work available or changes a history sends one `NOTIFY` on the
//! schema's channel (delivered by PostgreSQL when the transaction commits), with a payload of
//! flags: `o` orchestration work, `a` activity work, `c` a history changed. Each backend keeps
//! one connection that `LISTEN`s on that channel and wakes its waiting fetches and
//! `wait_for_change` calls. The channel's name is derived from the schema's name, so two
//! schemas in one database never wake each other.
//!
//! The commits of this process also wake its own waiters directly, without the round trip.
//! A lost listening connection is re-established with backoff; since notifications sent in
//! the meantime are lost, every waiter is woken once it is back (and waiters poll at
//! `PostgresOptions::poll_interval` anyway).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Config, NoTls};

/// Orchestration work may be available.
pub(crate) const ORCHESTRATIONS: char = 'o';
/// Activity work may be available.
pub(crate) const ACTIVITIES: char = 'a';
/// An instance's history changed.
pub(crate) const CHANGES: char = 'c';

/// The waiters of one backend.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    pub(crate) orchestrations: Notify,
    pub(crate) activities: Notify,
    pub(crate) changes: Notify,
}

impl Wakers {
    /// Wakes the waiters the flags name.
    pub(crate) fn wake(&self, flags: &str) {
        if flags.contains(ORCHESTRATIONS) {
            self.orchestrations.notify_waiters();
        }
        if flags.contains(ACTIVITIES) {
            self.activities.notify_waiters();
        }
        if flags.contains(CHANGES) {
            self.changes.notify_waiters();
        }
    }

    fn wake_all(&self) {
        self.wake("oac");
    }
}

/// The notification channel of a schema: a fixed-length identifier (PostgreSQL truncates
/// longer ones, which could make two long schema names share a channel).
pub(crate) fn channel_name(schema: &str) -> String {
    let digest = Sha256::digest(schema.as_bytes());
    format!("durable_{}", hex::encode(&digest[..12]))
}

/// Aborts the listener task when the backend is dropped.
#[derive(Debug)]
pub(crate) struct ListenerTask(tokio::task::JoinHandle<()>);

impl Drop for ListenerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts listening on `channel` (on the I/O runtime), forever, reconnecting as needed.
pub(crate) fn start(
    handle: &tokio::runtime::Handle,
    config: Config,
    channel: String,
    wakers: Arc<Wakers>,
) -> ListenerTask {
    ListenerTask(handle.spawn(async move {
        let mut backoff = Duration::from_millis(50);
        loop {
            match listen(&config, &channel, &wakers).await {
                Ok(()) => backoff = Duration::from_millis(50),
                Err(error) => {
                    tracing::warn!(%error, "listening for notifications failed; reconnecting");
                }
            }
            // Whatever was sent while we were not listening: let every waiter look.
            wakers.wake_all();
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }))
}

/// One listening session: returns when the connection ends.
async fn listen(
    config: &Config,
    channel: &str,
    wakers: &Arc<Wakers>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (sender, mut receiver) = futures::channel::mpsc::unbounded();
    let driver = async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(notification)) => {
                    let _ = sender.unbounded_send(notification.payload().to_owned());
                }
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    };
    let session = async {
        client
            .batch_execute(&format!("LISTEN \"{channel}\""))
            .await?;
        // Listening now: anything committed before is found by the waiters' next look.
        wakers.wake_all();
        while let Some(payload) = receiver.next().await {
            wakers.wake(&payload);
        }
        Ok::<(), tokio_postgres::Error>(())
    };
    tokio::select! {
        ended = driver => ended,
        ended = session => ended,
    }
}
