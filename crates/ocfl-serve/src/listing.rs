//! The index of the root's objects behind the objects listing: every object's id, head
//! and path, sorted by id, so that any page, deep or searched, answers from memory.
//!
//! Walking a root of 100,000 objects reads 100,000 inventories, far longer than a page may
//! take, so the walk never runs for a request. A thread of the console builds the index
//! once at start (requests meanwhile answer from what is indexed, saying it is not
//! complete), then keeps it fresh:
//! - objects the console learns changed are read again, one each: those whose runs its
//!   worker reports verified, those whose runs it saw unfinished and then no longer (so
//!   also runs of workers elsewhere, on PostgreSQL), and those a request opens;
//! - the whole root is walked again every [`REBUILD_EVERY`] (or ten times the last walk's
//!   duration, if longer), for changes made by others without the engine.
//!
//! The index is a B-tree map keyed by id: a page after a key is a range, a search scans
//! lowercased ids.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use ocfl_core::object::{Object, ObjectError, StorageRoot};
use ocfl_core::version_num::VersionNum;
use ocfl_durable::{ProgressEvent, ProgressSink, UpdateService};
use tokio::sync::{Notify, watch};

/// The longest time between two walks of the whole root.
pub const REBUILD_EVERY: Duration = Duration::from_secs(300);

/// How soon a walk of the root that failed is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// How often the unfinished runs are read to learn which objects their ends changed.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// The most unfinished runs one watch reads.
const WATCH_RUNS: usize = 1000;

/// One object of the root's listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its id.
    pub id: String,
    /// Its head version.
    pub head: String,
    /// Its object root, relative to the storage root.
    pub path: String,
}

struct Entry {
    head: String,
    path: String,
    /// The id lowercased, for searches.
    lower: String,
}

/// A page of the listing.
#[derive(Debug, Clone)]
pub struct ListingPage {
    /// The objects, sorted by id.
    pub objects: Vec<Listed>,
    /// The id the next page starts after, when more follow.
    pub next: Option<String>,
    /// Whether the first walk of the root has ended (before that, the listing holds only
    /// the objects learnt of otherwise).
    pub complete: bool,
}

/// What the indexing thread is asked to do.
#[derive(Default)]
struct Work {
    /// Object ids to read again.
    refresh: HashSet<String>,
    /// Ids changed since the running walk started: read again after it.
    touched: HashSet<String>,
    walking: bool,
}

/// The index and its upkeep.
pub struct Listing {
    entries: RwLock<BTreeMap<String, Entry>>,
    work: Mutex<Work>,
    wake: Condvar,
    built: watch::Sender<bool>,
    /// Runs the console's worker reported verified, for the watcher to resolve.
    verified: Mutex<HashSet<String>>,
    verified_wake: Notify,
}

impl Listing {
    /// An empty index of `root`, built by a thread started here; with `service`, a task
    /// of the current tokio runtime (if any) watches the runs' ends.
    pub fn start(root: StorageRoot<'static>, service: Option<Arc<UpdateService>>) -> Arc<Listing> {
        let listing = Arc::new(Listing {
            entries: RwLock::new(BTreeMap::new()),
            work: Mutex::new(Work::default()),
            wake: Condvar::new(),
            built: watch::channel(false).0,
            verified: Mutex::new(HashSet::new()),
            verified_wake: Notify::new(),
        });
        let weak = Arc::downgrade(&listing);
        let spawned = std::thread::Builder::new()
            .name("ocfl-serve-listing".to_owned())
            .spawn(move || index(&weak, &root));
        if let Err(error) = spawned {
            tracing::error!(%error, "starting the thread that lists the root's objects");
        }
        if let (Some(service), Ok(runtime)) = (service, tokio::runtime::Handle::try_current()) {
            runtime.spawn(watch_runs(Arc::downgrade(&listing), service));
        }
        listing
    }

    /// Waits until the first walk of the root has ended.
    pub async fn built(&self) {
        let mut receiver = self.built.subscribe();
        let _ = receiver.wait_for(|built| *built).await;
    }

    /// Asks for objects `ids` to be read again.
    pub fn refresh(&self, ids: impl IntoIterator<Item = String>) {
        let mut work = lock(&self.work);
        work.refresh.extend(ids);
        self.wake.notify_one();
    }

    /// Records object `object` as a request just read it.
    pub fn saw(&self, object: &Object<'_>) {
        self.saw_head(object.id(), object.head(), object.path());
    }

    /// Records that object `id`, at `path`, has head `head`.
    pub fn saw_head(&self, id: &str, head: VersionNum, path: &str) {
        let listed = Listed {
            id: id.to_owned(),
            head: head.to_string(),
            path: path.to_owned(),
        };
        let unchanged = read(&self.entries)
            .get(&listed.id)
            .is_some_and(|e| e.head == listed.head && e.path == listed.path);
        if !unchanged {
            self.touch(&listed.id);
            insert(&mut write(&self.entries), listed);
        }
    }

    /// Records that object `id` is not in the root.
    pub fn gone(&self, id: &str) {
        if read(&self.entries).contains_key(id) {
            self.touch(id);
            write(&self.entries).remove(id);
        }
    }

    fn touch(&self, id: &str) {
        let mut work = lock(&self.work);
        if work.walking {
            work.touched.insert(id.to_owned());
        }
    }

    /// At most `limit` objects after id `after` whose id contains `search` (lowercase;
    /// empty: all).
    pub fn page(&self, search: &str, after: Option<&str>, limit: usize) -> ListingPage {
        let entries = read(&self.entries);
        let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_owned()));
        let mut found = entries
            .range::<String, _>((start, Bound::Unbounded))
            .filter(|(_, e)| search.is_empty() || e.lower.contains(search))
            .take(limit + 1)
            .map(|(id, e)| Listed {
                id: id.clone(),
                head: e.head.clone(),
                path: e.path.clone(),
            })
            .collect::<Vec<_>>();
        let next = (found.len() > limit).then(|| {
            found.truncate(limit);
            found.last().map(|l| l.id.clone())
        });
        ListingPage {
            objects: found,
            next: next.flatten(),
            complete: *self.built.borrow(),
        }
    }

    /// The sink that hears the console's worker verify new versions.
    pub fn sink(self: &Arc<Listing>) -> Arc<dyn ProgressSink> {
        Arc::new(VerifiedRuns(Arc::downgrade(self)))
    }
}

/// Hears `Verified` reports: their runs' objects changed.
struct VerifiedRuns(Weak<Listing>);

impl ProgressSink for VerifiedRuns {
    fn event(&self, event: &ProgressEvent<'_>) {
        if let (ProgressEvent::Verified { run, .. }, Some(listing)) = (event, self.0.upgrade()) {
            lock(&listing.verified).insert((*run).to_owned());
            listing.verified_wake.notify_one();
        }
    }
}

fn insert(entries: &mut BTreeMap<String, Entry>, listed: Listed) {
    let lower = listed.id.to_lowercase();
    entries.insert(
        listed.id,
        Entry {
            head: listed.head,
            path: listed.path,
            lower,
        },
    );
}

/// The indexing thread: walks the root, then reads again what it is asked to, and walks
/// again when due, until the console is gone.
fn index(listing: &Weak<Listing>, root: &StorageRoot<'static>) {
    loop {
        let Some(this) = listing.upgrade() else {
            return;
        };
        lock(&this.work).walking = true;
        let started = Instant::now();
        let walked = walk(root);
        let took = started.elapsed();
        let listed = walked.is_ok();
        let due = match walked {
            Ok(entries) => {
                *write(&this.entries) = entries;
                started + REBUILD_EVERY.max(took * 10)
            }
            Err(error) => {
                // A listing that failed is not complete: try again soon.
                tracing::warn!(%error, "listing the root's objects");
                Instant::now() + RETRY_AFTER
            }
        };
        {
            let mut work = lock(&this.work);
            work.walking = false;
            let touched = std::mem::take(&mut work.touched);
            work.refresh.extend(touched);
        }
        if listed {
            this.built.send_replace(true);
        }
        drop(this);
        loop {
            let Some(this) = listing.upgrade() else {
                return;
            };
            let ids = {
                let mut work = lock(&this.work);
                let now = Instant::now();
                if work.refresh.is_empty() && now < due {
                    // Wake now and then to notice the console is gone.
                    let wait = (due - now).min(Duration::from_secs(5));
                    work = this
                        .wake
                        .wait_timeout(work, wait)
                        .map(|(guard, _)| guard)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                std::mem::take(&mut work.refresh)
            };
            for id in ids {
                reread(&this, root, &id);
            }
            if Instant::now() >= due {
                break;
            }
        }
    }
}

/// Every readable object of the root (objects whose inventory cannot be read are left out:
/// validation reports them). Only each inventory's summary is read: building the full
/// inventories of a root's large objects would be most of the console's memory.
fn walk(root: &StorageRoot<'static>) -> Result<BTreeMap<String, Entry>, ObjectError> {
    let mut entries = BTreeMap::new();
    for found in root.list_object_summaries()? {
        if let Ok(summary) = found.summary {
            insert(
                &mut entries,
                Listed {
                    id: summary.id,
                    head: summary.head.to_string(),
                    path: found.path,
                },
            );
        }
    }
    Ok(entries)
}

/// Reads object `id` again (its summary: the index needs no more of its inventory):
/// through the layout, or at its listed path in a root without one (a new object there
/// waits for the next walk).
fn reread(listing: &Listing, root: &StorageRoot<'static>, id: &str) {
    let read = match root.object_path(id) {
        Ok(_) => root.summarise_object_id(id),
        Err(_) => {
            let path = read(&listing.entries).get(id).map(|e| e.path.clone());
            match path {
                Some(path) => root.summarise_object(&path).map(|summary| (path, summary)),
                None => return,
            }
        }
    };
    match read {
        Ok((path, summary)) if summary.id == id => listing.saw_head(id, summary.head, &path),
        Ok(_) => listing.gone(id),
        Err(error) if error.is_not_found() => listing.gone(id),
        Err(error) => tracing::warn!(%error, id, "reading an object again for the listing"),
    }
}

/// Reads the unfinished runs every [`WATCH_EVERY`] (or at once when the worker reports a
/// version verified) and has the objects of the runs that ended read again.
async fn watch_runs(listing: Weak<Listing>, service: Arc<UpdateService>) {
    let mut unfinished: HashMap<String, String> = HashMap::new();
    loop {
        let Some(this) = listing.upgrade() else {
            return;
        };
        // The console's end is noticed at the next round: this holds the index until then.
        tokio::select! {
            () = tokio::time::sleep(WATCH_EVERY) => {}
            () = this.verified_wake.notified() => {}
        }
        let verified: Vec<String> = lock(&this.verified).drain().collect();
        let current: HashMap<String, String> =
            match service.runs_page(false, WATCH_RUNS, None).await {
                Ok(page) => page
                    .runs
                    .into_iter()
                    .map(|info| (info.run, info.object_id))
                    .collect(),
                Err(error) => {
                    tracing::warn!(%error, "reading the unfinished runs for the listing");
                    continue;
                }
            };
        let mut changed: HashSet<String> = unfinished
            .iter()
            .filter(|(run, _)| !current.contains_key(*run))
            .map(|(_, object)| object.clone())
            .collect();
        for run in verified {
            let object = match current.get(&run).or_else(|| unfinished.get(&run)) {
                Some(object) => Some(object.clone()),
                None => match service.run(&run).await {
                    Ok(info) => info.map(|info| info.object_id),
                    Err(error) => {
                        tracing::warn!(%error, run, "reading a run for the listing");
                        None
                    }
                },
            };
            changed.extend(object);
        }
        if !changed.is_empty() {
            this.refresh(changed);
        }
        unfinished = current;
    }
}

// A panic while holding a lock leaves an index that may miss a change, never a broken one:
// go on with it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
