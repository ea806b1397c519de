//! The cache of running executions kept between episodes (least recently used evicted).
//!
//! An execution is *checked out* while an episode runs and *checked in* once the episode's
//! commit is known to have landed (or failed). The next episode of the same instance can be
//! fetched as soon as the commit lands, before the previous episode has checked its
//! execution back in; it then waits for the check-in instead of missing the cache and
//! replaying the whole history (which, repeated, would make replay quadratic).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::replay::Execution;

enum Entry {
    /// Cached, last used at this tick.
    Idle(u64, Execution),
    /// An episode of this instance is running; wakes waiters when it checks in.
    Busy(Arc<Notify>),
}

/// What `checkout` found.
pub(crate) enum Checkout {
    /// The slot is now checked out to the caller, with the cached execution if there was one.
    Ready(Option<Execution>),
    /// Another episode of this instance has it; wait on this (enabled before the cache lock
    /// was released, so no check-in is missed) and try again.
    Wait(Arc<Notify>),
}

pub(crate) struct Cache {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, Entry>,
    /// How many entries are `Idle` (only those count against the capacity).
    idle: usize,
}

impl Cache {
    /// A cache of at most `capacity` executions; 0 disables caching (every episode replays),
    /// though episodes of one instance are still told apart.
    pub(crate) fn new(capacity: usize) -> Self {
        Cache {
            capacity,
            tick: 0,
            entries: HashMap::new(),
            idle: 0,
        }
    }

    /// Checks out the slot of `instance_id`: while an episode runs, the execution belongs to
    /// it alone.
    pub(crate) fn checkout(&mut self, instance_id: &str) -> Checkout {
        match self.entries.get(instance_id) {
            Some(Entry::Busy(done)) => return Checkout::Wait(Arc::clone(done)),
            Some(Entry::Idle(..)) | None => {}
        }
        let busy = Entry::Busy(Arc::new(Notify::new()));
        match self.entries.insert(instance_id.to_owned(), busy) {
            Some(Entry::Idle(_, execution)) => {
                self.idle -= 1;
                Checkout::Ready(Some(execution))
            }
            _ => Checkout::Ready(None),
        }
    }

    /// True while the checkout that `done` belongs to is still running.
    pub(crate) fn still_busy(&self, instance_id: &str, done: &Arc<Notify>) -> bool {
        matches!(self.entries.get(instance_id), Some(Entry::Busy(current)) if Arc::ptr_eq(current, done))
    }

    /// Ends a checkout: keeps `execution` (if any, and if there is room) and wakes an episode
    /// waiting for this instance.
    pub(crate) fn checkin(&mut self, instance_id: &str, execution: Option<Execution>) {
        let previous = match execution {
            Some(execution) if self.capacity > 0 => {
                self.make_room();
                self.tick += 1;
                self.idle += 1;
                self.entries
                    .insert(instance_id.to_owned(), Entry::Idle(self.tick, execution))
            }
            _ => self.entries.remove(instance_id),
        };
        match previous {
            Some(Entry::Busy(done)) => done.notify_waiters(),
            Some(Entry::Idle(..)) => self.idle -= 1,
            None => {}
        }
    }

    /// Evicts the least recently used idle execution if the cache is full.
    fn make_room(&mut self) {
        if self.idle < self.capacity {
            return;
        }
        let oldest = self
            .entries
            .iter()
            .filter_map(|(id, entry)| match entry {
                Entry::Idle(tick, _) => Some((*tick, id)),
                Entry::Busy(_) => None,
            })
            .min()
            .map(|(_, id)| id.clone());
        if let Some(oldest) = oldest {
            self.entries.remove(&oldest);
            self.idle -= 1;
        }
    }
}
