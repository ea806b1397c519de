//! The store-wide bound on the bytes that uploads hold in memory.
//!
//! Each upload buffers what it was given until it has a part (or the whole key) to send, and a
//! part stays in memory until the server has it. With many uploads at once (16 copy batches
//! of 64 MiB files, say) that would be uploads x parts in flight x part size; instead every
//! buffered byte is reserved from one budget that the store and its clones share, and an
//! upload that would go past it waits for parts in flight to finish.
//!
//! Reservations are counted in units of [`UNIT`] bytes and grow in three steps: one unit for
//! an upload's first bytes (a small file never holds more), [`MEDIUM`] bytes past that, then a
//! whole part, which it keeps until the part is sent; the part's request then holds it until
//! the server answered, and the next part is reserved whole. So an upload waits for the budget
//! only while holding at most [`MEDIUM`] bytes, or nothing (starting a part after sending one),
//! and the holders that are not waiting (parts in flight, buffers short of their reservation)
//! give theirs back without waiting for anything. No deadlock, then, as long as the budget is
//! at least a part plus [`MEDIUM`] bytes per upload at once: [`Budget::new`] raises it to that
//! for the number of uploads the store's request limit lets run.
//!
//! A key whose size is known and larger than a part is sent in one PUT if it fits
//! [`Budget::largest_whole`]: its upload reserves the whole size at once before its first
//! byte, holding nothing while it waits, and never waits again (it fills its buffer, sends
//! it, and gives the reservation back when answered). The one such waiter at the head of the
//! queue waits, at worst, for the others' holdings that are not waiting (given back) and for
//! [`MEDIUM`] bytes per upload held by uploads waiting behind it, so the largest whole key is
//! the budget less that.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The granularity of reservations: a small file's upload holds one unit.
pub(crate) const UNIT: usize = 64 * 1024;

/// The second step of a reservation.
pub(crate) const MEDIUM: usize = 16 * UNIT;

/// Bytes that uploads may hold at once; clones share it.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    units: Arc<Semaphore>,
    total_units: usize,
    /// The most bytes one upload may reserve at once (see the module's comment).
    largest_whole: usize,
}

/// Bytes reserved from a [`Budget`]: given back when dropped (or when the part they hold is
/// sent and answered: the reservation moves into the request).
#[derive(Debug, Default)]
pub(crate) struct Reserved(Option<OwnedSemaphorePermit>);

impl Reserved {
    /// How many bytes are reserved.
    pub(crate) fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |p| p.num_permits() * UNIT)
    }
}

fn units_for(bytes: usize) -> usize {
    bytes.div_ceil(UNIT).max(1)
}

impl Budget {
    /// A budget of `bytes`, raised if needed to at least two parts of `part_size` and
    /// [`MEDIUM`] bytes per upload of `uploads` at once.
    pub(crate) fn new(bytes: usize, part_size: usize, uploads: usize) -> Budget {
        let waiting = uploads * units_for(MEDIUM.min(part_size));
        let floor = 2 * units_for(part_size) + waiting;
        let total_units = units_for(bytes).max(floor).min(Semaphore::MAX_PERMITS);
        Budget {
            units: Arc::new(Semaphore::new(total_units)),
            total_units,
            largest_whole: (total_units - waiting) * UNIT,
        }
    }

    /// The largest key that an upload may hold whole (sent in one PUT) without a deadlock.
    pub(crate) fn largest_whole(&self) -> usize {
        self.largest_whole
    }

    /// The size of the budget in bytes.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.total_units * UNIT
    }

    /// Bytes reserved now, by every upload together.
    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        (self.total_units - self.units.available_permits()) * UNIT
    }

    /// Grows `reserved` to at least `bytes`, waiting (blocking the thread) until enough of the
    /// budget is free; `Err` only if the budget was closed, which nothing does.
    pub(crate) fn reserve(&self, reserved: &mut Reserved, bytes: usize) -> Result<(), String> {
        let held = reserved.0.as_ref().map_or(0, |p| p.num_permits());
        let wanted = units_for(bytes).min(self.total_units);
        if wanted <= held {
            return Ok(());
        }
        let more = u32::try_from(wanted - held).map_err(|e| e.to_string())?;
        let permit = match Arc::clone(&self.units).try_acquire_many_owned(more) {
            Ok(permit) => permit,
            // The semaphore needs no runtime: the thread waits as it does for a request.
            Err(_) => futures::executor::block_on(Arc::clone(&self.units).acquire_many_owned(more))
                .map_err(|e| e.to_string())?,
        };
        match &mut reserved.0 {
            Some(held) => held.merge(permit),
            none => *none = Some(permit),
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn a_budget_holds_at_least_two_parts_and_a_medium_per_upload() {
        // Parts smaller than a medium reservation: a part per upload.
        assert_eq!(
            Budget::new(0, 8 * UNIT, 4).bytes(),
            2 * 8 * UNIT + 4 * 8 * UNIT
        );
        assert_eq!(
            Budget::new(0, 5 << 20, 16).bytes(),
            (10 << 20) + 16 * MEDIUM
        );
        assert_eq!(Budget::new(100 * UNIT, 8 * UNIT, 4).bytes(), 100 * UNIT);
    }

    #[test]
    fn a_whole_key_leaves_a_medium_per_upload_of_the_budget() {
        let budget = Budget::new(100 << 20, 8 << 20, 16);
        assert_eq!(budget.largest_whole(), (100 << 20) - 16 * MEDIUM);
        // The smallest budget still takes two parts whole.
        assert_eq!(Budget::new(0, 8 << 20, 16).largest_whole(), 16 << 20);
    }

    #[test]
    fn reservations_grow_and_are_given_back_when_dropped() {
        let budget = Budget::new(10 * UNIT, UNIT, 1);
        let mut reserved = Reserved::default();
        budget.reserve(&mut reserved, 1).unwrap();
        assert_eq!(reserved.bytes(), UNIT);
        budget.reserve(&mut reserved, 3 * UNIT + 1).unwrap();
        assert_eq!(reserved.bytes(), 4 * UNIT);
        budget.reserve(&mut reserved, 2 * UNIT).unwrap();
        assert_eq!((reserved.bytes(), budget.in_use()), (4 * UNIT, 4 * UNIT));
        drop(reserved);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn a_reservation_past_the_budget_waits_for_one_given_back() {
        let budget = Budget::new(4 * UNIT, UNIT, 1);
        let mut first = Reserved::default();
        budget.reserve(&mut first, 3 * UNIT).unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn({
            let budget = budget.clone();
            move || {
                let mut second = Reserved::default();
                budget.reserve(&mut second, 2 * UNIT).unwrap();
                sender.send(second.bytes()).unwrap();
            }
        });
        assert!(
            receiver
                .recv_timeout(std::time::Duration::from_millis(200))
                .is_err(),
            "3 + 2 units were reserved from a budget of 4"
        );
        drop(first);
        assert_eq!(receiver.recv().unwrap(), 2 * UNIT);
        waiter.join().unwrap();
    }
}
