//! The work queues a backend hands work out from, and the wait loop of its fetches.
//!
//! For backends that keep their work queues in process memory (`MemoryBackend`, and
//! `durable-redb` beside its file): [`WorkQueues`] holds the pending messages and activity
//! work items with their leases and attempt counts. Inside it, instances with messages are
//! ordered by when each can next be handed out (its oldest visible message, its lease's
//! expiry, an abandon delay), then by its oldest message; activity work items by when each is
//! next free, then by id. A fetch takes the first entry, in O(log n) however many instances
//! and work items there are.
//!
//! A fetch that finds nothing waits in [`wait_for`]: it wakes when the backend notifies a
//! change, or exactly when the first entry it saw comes due, so latency is not bound to a
//! polling interval and paused tokio time drives timers in tests.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::Clock;

mod work;

pub use work::{Consumed, LeasedActivity, LeasedInstance, WorkQueues};

/// When an instance can next be handed out, and the id of its oldest-visible message: `None`
/// without messages (`oldest` is its first inbox key, (visible at, message id)).
pub(crate) fn ready_key(
    oldest: Option<(u64, u64)>,
    lease_ends_ms: u64,
    not_before_ms: u64,
) -> Option<(u64, u64)> {
    let (visible_at_ms, id) = oldest?;
    Some((visible_at_ms.max(lease_ends_ms).max(not_before_ms), id))
}

/// Instances with messages, keyed by when they can next be handed out, then by their oldest
/// message. Each instance's record holds its current key (`Option<(u64, u64)>`), which the
/// queue updates as it moves the entry.
#[derive(Debug, Default)]
pub(crate) struct ReadyQueue {
    entries: BTreeSet<(u64, u64, String)>,
}

impl ReadyQueue {
    /// Moves `instance_id`'s entry from `current` to `key` (none: out of the queue), and
    /// records `key` in `current`.
    pub fn update(
        &mut self,
        instance_id: &str,
        current: &mut Option<(u64, u64)>,
        key: Option<(u64, u64)>,
    ) {
        if key == *current {
            return;
        }
        if let Some((at, id)) = std::mem::replace(current, key) {
            self.entries.remove(&(at, id, instance_id.to_owned()));
        }
        if let Some((at, id)) = key {
            self.entries.insert((at, id, instance_id.to_owned()));
        }
    }

    /// Takes `instance_id` out of the queue (`current`: its key, if it has one).
    pub fn remove(&mut self, instance_id: &str, current: Option<(u64, u64)>) {
        if let Some((at, id)) = current {
            self.entries.remove(&(at, id, instance_id.to_owned()));
        }
    }

    /// The instance to hand out next and when it can be.
    pub fn first(&self) -> Option<(u64, &str)> {
        self.entries
            .first()
            .map(|(at, _, instance_id)| (*at, instance_id.as_str()))
    }
}

/// Activity work items keyed by when they can next be handed out (visible at, or when their
/// lease expires), then by id.
#[derive(Debug, Default)]
pub(crate) struct ActivityQueue {
    entries: BTreeSet<(u64, u64)>,
}

impl ActivityQueue {
    /// Queues item `id`, free at `free_at_ms`.
    pub fn insert(&mut self, free_at_ms: u64, id: u64) {
        self.entries.insert((free_at_ms, id));
    }

    /// Takes item `id` (queued at `free_at_ms`) out.
    pub fn remove(&mut self, free_at_ms: u64, id: u64) {
        self.entries.remove(&(free_at_ms, id));
    }

    /// Moves item `id` from `from_ms` to `to_ms`.
    pub fn reschedule(&mut self, id: u64, from_ms: u64, to_ms: u64) {
        self.entries.remove(&(from_ms, id));
        self.entries.insert((to_ms, id));
    }

    /// The item to hand out next, as (free at, id).
    pub fn first(&self) -> Option<(u64, u64)> {
        self.entries.first().copied()
    }
}

/// Runs `attempt` (given the clock's now) until it yields a value or `wait` runs out; between
/// attempts, sleeps until the time it reports as the next wake-up (`Err(Some(ms))`; `Err(None)`:
/// nothing due) or until `notify` fires. Notifications are registered before each attempt, so
/// a change made after an attempt looked is never missed.
pub async fn wait_for<T>(
    notify: &Notify,
    clock: &Clock,
    wait: Duration,
    mut attempt: impl FnMut(u64) -> Result<T, Option<u64>>,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next_wake_ms = match attempt(clock.now_ms()) {
            Ok(found) => return Some(found),
            Err(next) => next,
        };
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        let until = next_wake_ms.map_or(deadline, |ms| clock.instant_at(ms).min(deadline));
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(until) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_ready_when_its_message_lease_and_delay_all_allow() {
        assert_eq!(ready_key(None, 5, 5), None);
        assert_eq!(ready_key(Some((10, 7)), 0, 0), Some((10, 7)));
        assert_eq!(ready_key(Some((10, 7)), 30, 20), Some((30, 7)));
        assert_eq!(ready_key(Some((10, 7)), 15, 20), Some((20, 7)));
    }

    #[test]
    fn the_ready_queue_hands_out_the_earliest_and_follows_moves() {
        let mut queue = ReadyQueue::default();
        let (mut a, mut b) = (None, None);
        queue.update("a", &mut a, Some((20, 1)));
        queue.update("b", &mut b, Some((10, 2)));
        assert_eq!(queue.first(), Some((10, "b")));
        queue.update("b", &mut b, Some((30, 2)));
        assert_eq!(b, Some((30, 2)));
        assert_eq!(queue.first(), Some((20, "a")));
        queue.update("a", &mut a, None);
        assert_eq!(a, None);
        assert_eq!(queue.first(), Some((30, "b")));
        queue.remove("b", b);
        assert_eq!(queue.first(), None);
    }

    #[test]
    fn the_activity_queue_hands_out_the_earliest_free_item() {
        let mut queue = ActivityQueue::default();
        queue.insert(20, 1);
        queue.insert(10, 2);
        assert_eq!(queue.first(), Some((10, 2)));
        queue.reschedule(2, 10, 40);
        assert_eq!(queue.first(), Some((20, 1)));
        queue.remove(20, 1);
        assert_eq!(queue.first(), Some((40, 2)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_wakes_when_the_next_item_comes_due() {
        let clock = Clock::starting_at(1_000);
        let notify = Notify::new();
        let found = wait_for(&notify, &clock, Duration::from_secs(60), |now_ms| {
            if now_ms >= 1_500 {
                Ok(now_ms)
            } else {
                Err(Some(1_500))
            }
        })
        .await;
        assert_eq!(found, Some(1_500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_that_finds_nothing_ends_at_its_deadline() {
        let clock = Clock::starting_at(1_000);
        let notify = Notify::new();
        let found: Option<()> =
            wait_for(&notify, &clock, Duration::from_secs(2), |_| Err(None)).await;
        assert_eq!(found, None);
        assert_eq!(clock.now_ms(), 3_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_notification_wakes_a_wait_at_once() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        let clock = Clock::starting_at(1_000);
        let notify = Arc::new(Notify::new());
        let ready = Arc::new(AtomicBool::new(false));
        let (notifier, flag) = (notify.clone(), ready.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            flag.store(true, Ordering::SeqCst);
            notifier.notify_waiters();
        });
        let found = wait_for(&notify, &clock, Duration::from_secs(60), |now_ms| {
            if ready.load(Ordering::SeqCst) {
                Ok(now_ms)
            } else {
                Err(None)
            }
        })
        .await;
        assert_eq!(found, Some(2_000));
    }
}
