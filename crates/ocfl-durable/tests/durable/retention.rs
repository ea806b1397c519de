//! Runs page, and purged runs take what they left in the work area with them.

use std::collections::BTreeSet;
use std::time::Duration;

use ocfl_durable::{CommitRequest, RunState};

use crate::support::{Fixture, tuning};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_page_lists_each_run_once_in_id_order() {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let worker = fx.worker(fx.env());
    let mut finished = BTreeSet::new();
    for n in 0..5 {
        let source = fx.source(&format!("s{n}"), &[("a.txt", format!("{n}\n").as_bytes())]);
        let outcome = service
            .commit(&CommitRequest::new(format!("obj-{n}"), &source))
            .await
            .expect("commit");
        finished.insert(outcome.run);
    }
    worker.shutdown().await;
    // Two submitted that no worker started: pending, listed with the others.
    let mut pending = BTreeSet::new();
    for n in 5..7 {
        let source = fx.source(&format!("s{n}"), &[("a.txt", b"x\n")]);
        let submitted = service
            .submit(&CommitRequest::new(format!("obj-{n}"), &source))
            .await
            .expect("submit");
        pending.insert(submitted.run);
    }
    for all in [true, false] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = service
                .runs_page(all, 2, after.as_deref())
                .await
                .expect("page");
            assert!(page.runs.len() <= 2, "{page:?}");
            seen.extend(page.runs.iter().map(|r| (r.run.clone(), r.state)));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let ids: Vec<&String> = seen.iter().map(|(run, _)| run).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted, "in run id order, each once");
        let expected: BTreeSet<String> = if all {
            finished.union(&pending).cloned().collect()
        } else {
            pending.clone()
        };
        assert_eq!(
            ids.into_iter().cloned().collect::<BTreeSet<_>>(),
            expected,
            "all: {all}"
        );
        for (run, state) in &seen {
            let want = if pending.contains(run) {
                RunState::Pending
            } else {
                RunState::Completed
            };
            assert_eq!(*state, want, "{run}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purged_runs_take_their_leftovers_and_unfinished_runs_stay() {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let worker = fx.worker(fx.env());
    let source = fx.source("deposit", &[("a.txt", b"a\n")]);
    let done = service
        .commit(&CommitRequest::new("done", &source))
        .await
        .expect("commit");
    worker.shutdown().await;
    let waiting = service
        .submit(&CommitRequest::new("waiting", &source))
        .await
        .expect("submit");
    // What a clean-up that failed would have left: a work directory and blobs.
    let work = fx
        .root
        .with_file_name(format!("root.ocfl-work/{}", done.run));
    std::fs::create_dir_all(work.join("spool")).expect("work dir");
    std::fs::write(work.join("spool/a.txt"), b"a\n").expect("spool file");
    let blobs = fx.state.join("blobs").join(&done.run);
    std::fs::create_dir_all(&blobs).expect("blob dir");
    std::fs::write(blobs.join("0123"), b"plan").expect("blob");
    assert_eq!(fx.leftovers(&done.run).len(), 2);

    let env = fx.env();
    assert!(
        service
            .purge_finished(&env, Duration::from_secs(3600))
            .await
            .expect("purge")
            .is_empty(),
        "nothing is an hour old"
    );
    assert!(service.run(&done.run).await.expect("run").is_some());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let purged = service
        .purge_finished(&env, Duration::ZERO)
        .await
        .expect("purge");
    assert_eq!(purged, std::slice::from_ref(&done.run));
    assert_eq!(service.run(&done.run).await.expect("run"), None);
    assert!(
        fx.leftovers(&done.run).is_empty(),
        "work dir and blobs gone"
    );
    let runs = service.runs(true).await.expect("runs");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].run, waiting.run);
    assert_eq!(runs[0].state, RunState::Pending);
    // The object itself is the storage root's, not the run's: it stays.
    fx.assert_holds("done", &source);
}
