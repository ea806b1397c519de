//! Lease tokens that never repeat, even across a server crash.
//!
//! Fetches commit asynchronously (`synchronous_commit = off`: a lease lost in a crash only
//! makes work be handed out again), so a token drawn from a sequence inside the fetch could be
//! drawn again after a crash, while the holder that saw it first still acts on it: its
//! acknowledgement would pass. Instead each backend reserves a block of tokens with a
//! synchronously committed `nextval` of `durable_lease_tokens` (which steps by
//! [`BLOCK`]) and hands them out itself; a block is durable before any of its tokens is used.
//! One synchronous commit per [`BLOCK`] leases.
//!
//! A fetch takes its token before it takes its own connection, and a used-up block is
//! replaced by one reservation that the other fetches wait for: a fetch holding a pooled
//! connection while it waits for another (to reserve) would starve the pool as soon as as
//! many fetches as connections ran out of tokens together, until the pool's wait timeout.

use std::sync::{Arc, Mutex};

use deadpool_postgres::Pool;

use crate::error::Fault;
use crate::rows::num;
use crate::workers::Identity;

/// Tokens per block: the sequence's increment (migration 3).
pub(crate) const BLOCK: u64 = 1024;

/// The unused rest of this backend's current block.
#[derive(Debug)]
pub(crate) struct Tokens {
    /// Who reserves the blocks: each is recorded as its (see `workers`).
    identity: Arc<Identity>,
    /// `next..end` are free to hand out.
    free: Mutex<(u64, u64)>,
    /// Held while a block is being reserved, so fetches that find the block used up wait for
    /// that one reservation instead of each reserving (and wasting) a block of its own.
    reserving: tokio::sync::Mutex<()>,
    /// Benchmarks only: draw each token inside the fetch's own (asynchronously committed)
    /// transaction instead, as before the fix.
    #[cfg(feature = "bench")]
    pub(crate) from_fetch: std::sync::atomic::AtomicBool,
}

impl Tokens {
    /// No block yet; blocks will be recorded as `identity`'s.
    pub fn new(identity: Arc<Identity>) -> Tokens {
        Tokens {
            identity,
            free: Mutex::new((0, 0)),
            reserving: tokio::sync::Mutex::new(()),
            #[cfg(feature = "bench")]
            from_fetch: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the fetch draws its token itself (`bench` feature only; never in production).
    pub fn drawn_in_fetch(&self) -> bool {
        #[cfg(feature = "bench")]
        if self.from_fetch.load(std::sync::atomic::Ordering::Relaxed) {
            return true;
        }
        false
    }

    /// A token no lease has had or will have. Call it without holding a connection of
    /// `pool`: a reservation takes one (at `now`, the time the worker is then seen).
    pub async fn next(&self, pool: &Pool, now: u64) -> Result<u64, Fault> {
        if let Some(token) = self.take() {
            return Ok(token);
        }
        let _reserving = self.reserving.lock().await;
        // The fetch that held the lock before may just have reserved a block.
        if let Some(token) = self.take() {
            return Ok(token);
        }
        let start = reserve(pool, &self.identity, now).await?;
        *self.lock() = (start + 1, start + BLOCK);
        Ok(start)
    }

    fn take(&self) -> Option<u64> {
        let mut free = self.lock();
        (free.0 < free.1).then(|| {
            free.0 += 1;
            free.0 - 1
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, u64)> {
        // Two integers, always consistent: a poisoned lock still guards valid data.
        self.free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Reserves a block: its first token. Committed synchronously whatever the server's default,
/// and with a transaction id, so the commit flushes the WAL up to its own record: the
/// sequence's state is durable even when this `nextval` was covered by a record written
/// (ahead) by an earlier call that never committed. The block is recorded as `identity`'s
/// in the same transaction.
async fn reserve(pool: &Pool, identity: &Identity, now: u64) -> Result<u64, Fault> {
    // (The benchmark switch `drawn_in_fetch` bypasses this: see `ops::fetch_token`.)
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL synchronous_commit = on")
        .await?;
    let statement = tx
        .prepare_cached("SELECT nextval('durable_lease_tokens'), txid_current()")
        .await?;
    let start: i64 = tx.query_one(&statement, &[]).await?.try_get(0)?;
    let worker = identity.record_block(&tx, num(start), now).await?;
    tx.commit().await?;
    identity.registered(worker, now);
    Ok(num(start))
}
