//! The persistence models and the enumeration of crash states.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand_pcg::Pcg64;
use rand_pcg::rand_core::{Rng, SeedableRng};

use super::sim::{
    Event, FileNode, Ino, Node, ROOT, SimStorage, Snapshot, apply_entries, snapshot_of,
};

/// What a power cut may undo: each crash state says which model produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Model {
    /// The POSIX persistence model, as pessimistic as `fsync(2)`'s promises allow: a file's
    /// data written since its last flush may be lost, cut short or replaced by stale blocks
    /// (zeros, here); a creation, rename or removal is durable only once its directory (both
    /// directories, for a rename) has been flushed after it; every operation not yet durable
    /// may or may not have persisted, independently of the others (any subset, applied in
    /// program order).
    Posix,
    /// ext4 with `data=ordered` (its default): directory operations are journalled in
    /// program order, and any flush commits the journal, so what persists of them is every
    /// operation before the last flush and then a prefix of the later ones; a file's data
    /// not flushed may be lost or cut short (delayed allocation), never stale.
    Ext4Ordered,
    /// An object store: a completed request is durable and nothing else exists (no
    /// unflushed state, no partial upload), so a crash leaves exactly the completed prefix.
    ObjectStore,
}

impl Model {
    /// The models that apply to a storage: the two filesystem models, or the object store's.
    pub fn for_storage(storage: &SimStorage) -> &'static [Model] {
        if storage.is_object_store() {
            &[Model::ObjectStore]
        } else {
            &[Model::Posix, Model::Ext4Ordered]
        }
    }
}

/// How many crash states to produce for one crash point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Enumerate every state when there are at most this many combinations of outcomes.
    pub exhaustive_up_to: u64,
    /// Otherwise: the extreme states, each outcome varied alone from them, then seeded
    /// random combinations, until this many distinct states.
    pub samples: usize,
    /// The seed of the random combinations (mixed with the crash point and model).
    pub seed: u64,
}

/// The states a power cut at one point may leave, under one model.
#[derive(Debug, Clone)]
pub struct CrashStates {
    /// The model.
    pub model: Model,
    /// The crash point: how many recorded operations had been issued.
    pub point: usize,
    /// Whether `states` holds every possible state (otherwise a bounded sample).
    pub exhaustive: bool,
    /// The distinct trees a reboot may find.
    pub states: Vec<Snapshot>,
}

/// What may become of a file's unflushed data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Lost,
    Short,
    Stale,
    Kept,
}

/// One independent choice of a crash state.
#[derive(Debug, Clone)]
enum Unit {
    /// One directory operation that may or may not persist (POSIX).
    Op(usize),
    /// How many of these directory operations persist, in order (ext4).
    Prefix(Vec<usize>),
    /// What became of one file's unflushed data.
    Data(Ino, Vec<Vec<u8>>),
}

impl Unit {
    fn radix(&self) -> u64 {
        match self {
            Unit::Op(_) => 2,
            Unit::Prefix(ops) => ops.len() as u64 + 1,
            Unit::Data(_, options) => options.len() as u64,
        }
    }
}

fn is_entry_op(event: &Event) -> bool {
    matches!(
        event,
        Event::Link { .. } | Event::Unlink { .. } | Event::Rename { .. } | Event::Put { .. }
    )
}

impl SimStorage {
    /// The states a power cut after the first `point` recorded operations may leave under
    /// `model`, within `bound`.
    pub fn crash_states(&self, point: usize, model: Model, bound: &Bound) -> CrashStates {
        let state = super::sim::lock_state(self);
        let events = &state.events[..point.min(state.events.len())];
        let medium = state.medium;

        // Each file's data now and as last flushed.
        let mut current: HashMap<Ino, Vec<u8>> = HashMap::new();
        let mut durable: HashMap<Ino, Vec<u8>> = HashMap::new();
        for (ino, node) in state.initial.iter().enumerate() {
            if let Node::File(file) = node {
                current.insert(ino, file.data.clone());
                durable.insert(ino, file.data.clone());
            }
        }
        for event in events {
            match event {
                Event::Link {
                    ino, is_dir: false, ..
                } => {
                    current.entry(*ino).or_default();
                    durable.entry(*ino).or_default();
                }
                Event::Truncate { ino } => {
                    current.insert(*ino, Vec::new());
                }
                Event::Append { ino, bytes } => {
                    current.entry(*ino).or_default().extend_from_slice(bytes);
                }
                Event::SyncFile { ino } => {
                    let now = current.get(ino).cloned().unwrap_or_default();
                    durable.insert(*ino, now);
                }
                Event::Put { ino, file, .. } => {
                    current.insert(*ino, file.data.clone());
                    durable.insert(*ino, file.data.clone());
                }
                _ => {}
            }
        }

        // Which directory operations are durable already; the others are the choices.
        let entry_ops: Vec<usize> = (0..events.len())
            .filter(|&i| is_entry_op(&events[i]))
            .collect();
        let mut last_dir_sync: HashMap<Ino, usize> = HashMap::new();
        let mut last_sync = None;
        for (i, event) in events.iter().enumerate() {
            match event {
                Event::SyncDir { ino } => {
                    last_dir_sync.insert(*ino, i);
                    last_sync = Some(i);
                }
                Event::SyncFile { .. } => last_sync = Some(i),
                _ => {}
            }
        }
        let synced_after = |dir: &Ino, i: usize| last_dir_sync.get(dir).is_some_and(|&s| s > i);
        let is_durable = |i: usize| match model {
            Model::ObjectStore => true,
            Model::Ext4Ordered => last_sync.is_some_and(|s| s > i),
            Model::Posix => match &events[i] {
                Event::Link { dir, .. } | Event::Unlink { dir, .. } => synced_after(dir, i),
                Event::Rename {
                    from_dir, to_dir, ..
                } => synced_after(from_dir, i) && synced_after(to_dir, i),
                _ => true,
            },
        };
        let durable_ops: Vec<usize> = entry_ops
            .iter()
            .copied()
            .filter(|&i| is_durable(i))
            .collect();
        let pending: Vec<usize> = entry_ops
            .iter()
            .copied()
            .filter(|&i| !is_durable(i))
            .collect();

        let image = |ops: &[usize]| -> Vec<Node> {
            let mut nodes = state.initial.clone();
            for &i in ops {
                apply_entries(&mut nodes, &events[i]);
            }
            nodes
        };
        let with_all = {
            let mut all = durable_ops.clone();
            all.extend(&pending);
            all.sort_unstable();
            image(&all)
        };
        let reachable = |nodes: &[Node]| {
            let mut seen = BTreeSet::new();
            let mut todo = vec![ROOT];
            while let Some(ino) = todo.pop() {
                if seen.insert(ino)
                    && let Some(Node::Dir(entries)) = nodes.get(ino)
                {
                    todo.extend(entries.values().copied());
                }
            }
            seen
        };
        let mut relevant = reachable(&with_all);
        relevant.extend(reachable(&image(&durable_ops)));

        let mut units: Vec<Unit> = match model {
            Model::Posix => pending.iter().map(|&i| Unit::Op(i)).collect(),
            Model::Ext4Ordered if !pending.is_empty() => vec![Unit::Prefix(pending.clone())],
            _ => Vec::new(),
        };
        if model != Model::ObjectStore {
            let mut dirty: Vec<&Ino> = current
                .keys()
                .filter(|ino| relevant.contains(ino) && current.get(ino) != durable.get(ino))
                .collect();
            dirty.sort_unstable();
            for ino in dirty {
                let now = &current[ino];
                let then = &durable[ino];
                let outcomes: &[Outcome] = if model == Model::Posix {
                    &[Outcome::Lost, Outcome::Short, Outcome::Stale, Outcome::Kept]
                } else {
                    &[Outcome::Lost, Outcome::Short, Outcome::Kept]
                };
                let mut options: Vec<Vec<u8>> = Vec::new();
                for outcome in outcomes {
                    let bytes = data_after(*outcome, then, now);
                    if !options.contains(&bytes) {
                        options.push(bytes);
                    }
                }
                units.push(Unit::Data(*ino, options));
            }
        }

        let total = units
            .iter()
            .try_fold(1u64, |acc, unit| acc.checked_mul(unit.radix()));
        let exhaustive = total.is_some_and(|t| t <= bound.exhaustive_up_to);
        let choices: Vec<Vec<u64>> = if exhaustive {
            let total = total.unwrap_or(1);
            (0..total)
                .map(|mut n| {
                    units
                        .iter()
                        .map(|unit| {
                            let digit = n % unit.radix();
                            n /= unit.radix();
                            digit
                        })
                        .collect()
                })
                .collect()
        } else {
            sampled(&units, bound, point, model)
        };

        let mut seen = BTreeSet::new();
        let mut states = Vec::new();
        for choice in choices {
            let mut ops = durable_ops.clone();
            let mut data: HashMap<Ino, &Vec<u8>> = HashMap::new();
            for (unit, &digit) in units.iter().zip(&choice) {
                match unit {
                    Unit::Op(i) if digit == 1 => ops.push(*i),
                    Unit::Op(_) => {}
                    Unit::Prefix(list) => ops.extend(&list[..digit as usize]),
                    Unit::Data(ino, options) => {
                        data.insert(*ino, &options[digit as usize]);
                    }
                }
            }
            ops.sort_unstable();
            let nodes = image(&ops);
            let snapshot = snapshot_of(&nodes, medium, |ino| FileNode {
                data: data
                    .get(&ino)
                    .map(|b| (*b).clone())
                    .or_else(|| current.get(&ino).cloned())
                    .unwrap_or_default(),
                metadata: match nodes.get(ino) {
                    Some(Node::File(file)) => file.metadata.clone(),
                    _ => BTreeMap::new(),
                },
            });
            if seen.insert(snapshot.clone()) {
                states.push(snapshot);
            }
        }
        CrashStates {
            model,
            point,
            exhaustive,
            states,
        }
    }
}

/// A file's bytes after a power cut, from what was flushed (`then`) and what was written
/// (`now`).
fn data_after(outcome: Outcome, then: &[u8], now: &[u8]) -> Vec<u8> {
    let kept = if now.starts_with(then) { then.len() } else { 0 };
    match outcome {
        Outcome::Lost => then.to_vec(),
        Outcome::Short => now[..kept + (now.len() - kept) / 2].to_vec(),
        Outcome::Stale => {
            let mut bytes = now[..kept].to_vec();
            let fill = if now[kept..].iter().all(|&b| b == 0) {
                0xff
            } else {
                0
            };
            bytes.resize(now.len(), fill);
            bytes
        }
        Outcome::Kept => now.to_vec(),
    }
}

/// Choices when the combinations are too many: everything persisted, nothing persisted,
/// each unit varied alone from both (the states ALICE and CrashMonkey find most telling: one
/// operation lost or one kept), then seeded random combinations.
fn sampled(units: &[Unit], bound: &Bound, point: usize, model: Model) -> Vec<Vec<u64>> {
    let max: Vec<u64> = units.iter().map(|u| u.radix() - 1).collect();
    let min: Vec<u64> = vec![0; units.len()];
    let mut out = vec![max.clone(), min.clone()];
    for (k, unit) in units.iter().enumerate() {
        for digit in 0..unit.radix() {
            for base in [&max, &min] {
                if base[k] != digit {
                    let mut choice = base.clone();
                    choice[k] = digit;
                    out.push(choice);
                }
            }
        }
    }
    let mut rng = Pcg64::seed_from_u64(
        bound.seed ^ (point as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (model as u64) << 56,
    );
    while out.len() < bound.samples {
        out.push(units.iter().map(|u| rng.next_u64() % u.radix()).collect());
    }
    out.truncate(bound.samples.max(2));
    out
}
