//! The cache of running executions kept between episodes (least recently used evicted).

use std::collections::HashMap;

use crate::replay::Execution;

pub(crate) struct Cache {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (u64, Execution)>,
}

impl Cache {
    /// A cache of at most `capacity` executions; 0 disables caching (every episode replays).
    pub(crate) fn new(capacity: usize) -> Self {
        Cache {
            capacity,
            tick: 0,
            entries: HashMap::new(),
        }
    }

    /// Removes and returns the execution of `instance_id`: while an episode runs, the
    /// execution belongs to it alone.
    pub(crate) fn take(&mut self, instance_id: &str) -> Option<Execution> {
        self.entries
            .remove(instance_id)
            .map(|(_, execution)| execution)
    }

    pub(crate) fn put(&mut self, instance_id: String, execution: Execution) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (tick, _))| *tick)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.tick += 1;
        self.entries.insert(instance_id, (self.tick, execution));
    }
}
