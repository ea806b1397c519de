//! Wake-ups: in-process `Notify`s, fed by our own commits and by PostgreSQL notifications.
//!
//! Every commit that makes work available or changes a history is announced by a `NOTIFY` on
//! the schema's channel, sent after the commit by `notify` (coalesced with the commits around
//! it), with a payload of flags: `o` orchestration work, `a` activity work, `c` a history
//! changed. Each backend keeps
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
use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::oneshot;
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
    pub(crate) orchestrations: WaitList,
    pub(crate) activities: WaitList,
    pub(crate) changes: WaitList,
}

impl Wakers {
    /// Wakes the waiters for a commit of this process: as many waiting fetches as the
    /// commit's flags name items of work (see `ops`: one flag per item, up to a bound), and
    /// every `wait_for_change`. Waking every waiting fetch for each item made all of them
    /// query and all but one find nothing.
    pub(crate) fn wake(&self, flags: &str) {
        let count = |flag| flags.chars().filter(|&c| c == flag).count();
        self.orchestrations.wake(count(ORCHESTRATIONS));
        self.activities.wake(count(ACTIVITIES));
        if flags.contains(CHANGES) {
            self.changes.wake_all();
        }
    }

    /// Wakes every waiter the flags name: for notifications from other processes, whose
    /// flags carry no counts.
    pub(crate) fn wake_every(&self, flags: &str) {
        if flags.contains(ORCHESTRATIONS) {
            self.orchestrations.wake_all();
        }
        if flags.contains(ACTIVITIES) {
            self.activities.wake_all();
        }
        if flags.contains(CHANGES) {
            self.changes.wake_all();
        }
    }

    fn wake_all(&self) {
        self.wake_every("oac");
    }
}

/// Waiters of one kind, woken in the order they registered, a given number or all.
///
/// Unlike `tokio::sync::Notify::notify_one`, waking one when none is registered stores
/// nothing: a stored permit would make the next fetch, which looks at once anyway, look a
/// second time for nothing. A waiter registers before it looks, so a commit made while it
/// looks still wakes it.
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    waiters: Mutex<VecDeque<oneshot::Sender<()>>>,
}

impl WaitList {
    /// Registers a waiter: the receiver completes when it is woken.
    pub(crate) fn register(&self) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        let mut waiters = self.lock();
        // Waiters that stopped waiting (found work, timed out) leave their sender behind.
        waiters.retain(|waiter| !waiter.is_closed());
        waiters.push_back(sender);
        receiver
    }

    /// Wakes up to `count` waiters, the longest waiting first.
    pub(crate) fn wake(&self, count: usize) {
        let mut waiters = self.lock();
        let mut woken = 0;
        while woken < count {
            let Some(waiter) = waiters.pop_front() else {
                break;
            };
            if waiter.send(()).is_ok() {
                woken += 1;
            }
        }
    }

    /// Wakes every waiter.
    pub(crate) fn wake_all(&self) {
        for waiter in self.lock().drain(..) {
            let _ = waiter.send(());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<oneshot::Sender<()>>> {
        // A queue of senders, valid whatever a panicking holder did.
        self.waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
    origin: String,
    wakers: Arc<Wakers>,
) -> ListenerTask {
    ListenerTask(handle.spawn(async move {
        let mut backoff = Duration::from_millis(50);
        loop {
            match listen(&config, &channel, &origin, &wakers).await {
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
    origin: &str,
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
            // A payload is `origin:flags` (see `notify`). This backend's own commits woke
            // its waiters already, one per item: waking every waiter again for them made
            // them all query for nothing.
            match payload.split_once(':') {
                Some((from, _)) if from == origin => {}
                Some((_, flags)) => wakers.wake_every(flags),
                None => wakers.wake_every(&payload),
            }
        }
        Ok::<(), tokio_postgres::Error>(())
    };
    tokio::select! {
        ended = driver => ended,
        ended = session => ended,
    }
}
