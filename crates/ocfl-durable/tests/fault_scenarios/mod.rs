//! What the two fault sweeps share: `faults` fails the operations of a commit on a local root
//! (`ocfl_plan::fault`), `faults_s3` the requests of a commit on a root in a bucket
//! (`ocfl_object_store::faults`). Both sweep the same two commits - a new object and an update
//! of it - so that a fault in either kind of root is tried on the same changes, and both
//! watch a run the same way until it settles.

use std::time::Duration;

use durable_core::Event;
use ocfl_durable::{RunInfo, RunState, UpdateService};

/// The files of a version: logical path and bytes.
pub type Files = Vec<(String, Vec<u8>)>;

pub fn files(list: &[(&str, &[u8])]) -> Files {
    list.iter()
        .map(|(p, b)| ((*p).to_owned(), b.to_vec()))
        .collect()
}

/// A new object's v1: three files, two of them with the same bytes (one content path for
/// both).
pub fn small_v1() -> Files {
    files(&[
        ("data/a.txt", b"alpha\n"),
        ("data/b.txt", b"bravo\n"),
        ("same-as-a.txt", b"alpha\n"),
    ])
}

/// The update of [`small_v1`]: a file changed, one removed, one added, one kept.
pub fn small_v2() -> Files {
    files(&[
        ("data/a.txt", b"alpha, changed\n"),
        ("same-as-a.txt", b"alpha\n"),
        ("new/c.txt", b"charlie\n"),
    ])
}

/// The messages of the activity failures in a run's history, in order.
pub fn failures(history: &[Event]) -> Vec<String> {
    history
        .iter()
        .filter_map(|e| match e {
            Event::ActivityFailed { failure, .. } => Some(failure.message.clone()),
            _ => None,
        })
        .collect()
}

/// Polls the run every `every` until it completes, fails or stalls; fails the test after
/// `tries` polls.
pub async fn settle(
    service: &UpdateService,
    run: &str,
    what: &str,
    every: Duration,
    tries: u32,
) -> RunInfo {
    for _ in 0..tries {
        if let Some(info) = service.run(run).await.expect("run info")
            && (info.state.is_finished() || info.state == RunState::Stalled)
        {
            return info;
        }
        tokio::time::sleep(every).await;
    }
    panic!("{what}: the run neither finished nor stalled");
}
