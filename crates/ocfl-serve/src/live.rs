//! Live progress: one task reads the unfinished runs every [`POLL`] while someone listens,
//! and broadcasts each run whose line changed; browsers receive them as server-sent
//! events. However many pages are open, the store is read once per interval.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ocfl_durable::UpdateService;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::shapes::run_json;

/// How often the unfinished runs are read while someone listens.
pub const POLL: Duration = Duration::from_millis(400);

/// The most unfinished runs one poll reads.
const POLL_RUNS: usize = 1000;

/// The broadcast of changed runs.
pub struct Live {
    sender: broadcast::Sender<Arc<Value>>,
    polling: AtomicBool,
}

impl Default for Live {
    fn default() -> Live {
        Live {
            sender: broadcast::channel(1024).0,
            polling: AtomicBool::new(false),
        }
    }
}

impl Live {
    /// A receiver of changed runs' lines (`ocfl runs --json`), starting the poller if it is
    /// not running.
    pub fn subscribe(
        self: &Arc<Live>,
        service: Arc<UpdateService>,
    ) -> broadcast::Receiver<Arc<Value>> {
        let receiver = self.sender.subscribe();
        if !self.polling.swap(true, Ordering::SeqCst) {
            let live = self.clone();
            tokio::spawn(async move { live.poll(service).await });
        }
        receiver
    }

    /// Reads the unfinished runs until nobody listens; a run that leaves the unfinished
    /// ones is read once more, so its end is sent too.
    async fn poll(self: Arc<Live>, service: Arc<UpdateService>) {
        let mut last: HashMap<String, Arc<Value>> = HashMap::new();
        loop {
            if self.sender.receiver_count() == 0 {
                self.polling.store(false, Ordering::SeqCst);
                // A subscriber that came between the check and the store starts no
                // poller of its own: take the job back.
                if self.sender.receiver_count() == 0 || self.polling.swap(true, Ordering::SeqCst) {
                    return;
                }
            }
            match service.runs_page(false, POLL_RUNS, None).await {
                Ok(page) => {
                    let mut now = HashMap::new();
                    for info in &page.runs {
                        let line = Arc::new(run_json(info));
                        if last.get(&info.run) != Some(&line) {
                            let _ = self.sender.send(line.clone());
                        }
                        now.insert(info.run.clone(), line);
                    }
                    for gone in last.keys().filter(|run| !now.contains_key(*run)) {
                        if let Ok(Some(info)) = service.run(gone).await {
                            let _ = self.sender.send(Arc::new(run_json(&info)));
                        }
                    }
                    last = now;
                }
                Err(error) => tracing::warn!(%error, "reading the runs for live progress"),
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
