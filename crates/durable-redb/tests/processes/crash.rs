//! The crash test: a child process runs the workload on a store and is killed with SIGKILL at
//! a seeded random moment; the parent reopens the store, restarts the workers and checks that
//! nothing was lost or done twice.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use durable_core::backend::Backend;
use durable_core::{Client, ClientError, Event, InstanceStatus, Worker, WorkerOptions};
use durable_redb::RedbBackend;
use redb::{ReadableDatabase, TableDefinition};

use crate::workload::{self, Planned};
use crate::{CHILD, RUNS, STORE};

const LIMIT: Duration = Duration::from_secs(60);
/// The child is killed this long after it is started, plus a random part below
/// `DURABLE_REDB_CRASH_SPREAD_MS` (default 150 ms; a release build finishes the workload
/// sooner, so `cargo xtask crash engine` uses less).
const KILL_MIN_MS: u64 = 10;

/// The history table as the store lays it out (see `durable_redb::schema`), read directly to
/// check the sequence numbers.
const HISTORY: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("history");

fn env_number(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .map_err(|error| format!("{name}={text:?}: {error}")),
        Err(_) => Ok(default),
    }
}

/// SplitMix64: a seed's kill delay.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| error.to_string())
}

async fn schedule_all(client: &Client, plan: &[Planned]) -> Result<(), String> {
    for planned in plan {
        match client
            .schedule(planned.name, &planned.instance_id, &planned.input)
            .await
        {
            Ok(()) | Err(ClientError::Backend(durable_core::BackendError::InstanceExists(_))) => {}
            Err(error) => return Err(format!("schedule {}: {error}", planned.instance_id)),
        }
    }
    Ok(())
}

/// Child: schedule the workload (what is not there yet) and work until killed.
pub fn run_child() -> Result<(), String> {
    let store = std::env::var(STORE).map_err(|error| error.to_string())?;
    let runs = std::env::var(RUNS).map_err(|error| error.to_string())?;
    runtime()?.block_on(async {
        let backend = std::sync::Arc::new(RedbBackend::open(&store).map_err(|e| e.to_string())?);
        let worker = Worker::start(
            backend.clone(),
            workload::registry(runs.into()),
            WorkerOptions::default(),
        );
        schedule_all(&Client::new(backend), &workload::plan()).await?;
        tokio::time::sleep(LIMIT).await;
        worker.shutdown().await;
        Ok(())
    })
}

/// What one seed saw, for the summary.
#[derive(Default)]
struct Seen {
    /// Instances that had finished before the kill.
    finished_before: usize,
    /// Instances that existed, unfinished, at the kill.
    in_progress: usize,
}

pub fn killed_workers_lose_nothing() -> Result<(), String> {
    let iterations = env_number("DURABLE_REDB_CRASH_ITERATIONS", 50)?;
    let spread_ms = env_number("DURABLE_REDB_CRASH_SPREAD_MS", 150)?.max(1);
    let first = env_number("DURABLE_REDB_CRASH_SEED", 0)?;
    let runtime = runtime()?;
    let mut failures = Vec::new();
    let (mut mid_work, mut finished, mut untouched) = (0, 0, 0);
    for seed in first..first + iterations {
        match run_seed(&runtime, seed, spread_ms) {
            Ok(seen) => {
                if seen.in_progress > 0 {
                    mid_work += 1;
                } else if seen.finished_before > 0 {
                    finished += 1;
                } else {
                    untouched += 1;
                }
            }
            Err(error) => failures.push(format!("seed {seed}: {error}")),
        }
    }
    println!(
        "crash: seeds {first}..{}: killed mid-work {mid_work}, after all work {finished}, before any work {untouched}",
        first + iterations
    );
    if !failures.is_empty() {
        return Err(failures.join("\n"));
    }
    if mid_work == 0 {
        return Err(
            "no seed killed the child in the middle of its work: the test tested nothing"
                .to_owned(),
        );
    }
    Ok(())
}

fn run_seed(runtime: &tokio::runtime::Runtime, seed: u64, spread_ms: u64) -> Result<Seen, String> {
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    let store = dir.path().join("engine.redb");
    let runs = dir.path().join("runs.log");
    let exe = std::env::current_exe().map_err(|error| error.to_string())?;
    let delay = Duration::from_millis(KILL_MIN_MS + mix(seed) % spread_ms);
    let started = Instant::now();
    let mut child = Command::new(exe)
        .env(CHILD, "workload")
        .env(STORE, &store)
        .env(RUNS, &runs)
        .spawn()
        .map_err(|error| error.to_string())?;
    std::thread::sleep(delay.saturating_sub(started.elapsed()));
    child.kill().map_err(|error| format!("kill: {error}"))?;
    child.wait().map_err(|error| error.to_string())?;
    runtime.block_on(recover_and_check(&store, &runs))
}

async fn recover_and_check(store: &Path, runs: &Path) -> Result<Seen, String> {
    let plan = workload::plan();
    let backend = std::sync::Arc::new(
        RedbBackend::open(store).map_err(|error| format!("reopen after the kill: {error}"))?,
    );
    let mut seen = Seen::default();
    for planned in &plan {
        match backend.read_metadata(&planned.instance_id).await {
            Ok(Some(metadata)) if metadata.status.is_terminal() => seen.finished_before += 1,
            Ok(Some(_)) => seen.in_progress += 1,
            Ok(None) => {}
            Err(error) => return Err(format!("read after the kill: {error}")),
        }
    }
    let worker = Worker::start(
        backend.clone(),
        workload::registry(runs.to_owned()),
        WorkerOptions::default(),
    );
    let client = Client::new(backend.clone());
    schedule_all(&client, &plan).await?;
    let mut problems = Vec::new();
    for planned in &plan {
        let done = client
            .wait_for_completion(&planned.instance_id, LIMIT)
            .await
            .map_err(|error| format!("{}: {error}", planned.instance_id))?;
        if done.status != InstanceStatus::Completed
            || done.output::<u64>().ok().flatten() != Some(planned.output)
        {
            problems.push(format!(
                "{} ended {:?} with {:?} / {:?}, expected output {}",
                planned.instance_id, done.status, done.output, done.failure, planned.output
            ));
        }
    }
    worker.shutdown().await;
    let ran = read_runs(runs)?;
    let mut lengths = BTreeMap::new();
    for planned in &plan {
        let id = &planned.instance_id;
        let history = backend.read_history(id).await.map_err(|e| e.to_string())?;
        let metadata = backend
            .read_metadata(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or(format!("{id} is gone"))?;
        if metadata.history_len != history.len() as u64 {
            problems.push(format!(
                "{id}: history_len {} but {} events",
                metadata.history_len,
                history.len()
            ));
        }
        lengths.insert(id.clone(), history.len() as u64);
        check_activities(id, metadata.execution_id, &history, &ran, &mut problems);
    }
    drop(client);
    drop(backend);
    check_sequence_numbers(store, &lengths, &mut problems)?;
    if problems.is_empty() {
        Ok(seen)
    } else {
        Err(problems.join("\n"))
    }
}

/// The (instance, execution, task) of every activity run recorded.
fn read_runs(runs: &Path) -> Result<HashSet<(String, u64, u64)>, String> {
    let text = match std::fs::read_to_string(runs) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error.to_string()),
    };
    let mut ran = HashSet::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if let [instance, execution, task] = fields[..]
            && let (Ok(execution), Ok(task)) = (execution.parse(), task.parse())
        {
            ran.insert((instance.to_owned(), execution, task));
        }
    }
    Ok(ran)
}

/// Every scheduled activity ran at least once and has exactly one recorded outcome; no
/// outcome without a schedule.
fn check_activities(
    id: &str,
    execution_id: u64,
    history: &[Event],
    ran: &HashSet<(String, u64, u64)>,
    problems: &mut Vec<String>,
) {
    let mut scheduled = Vec::new();
    let mut outcomes: BTreeMap<u64, usize> = BTreeMap::new();
    for event in history {
        match event {
            Event::ActivityScheduled { task_id, .. } => scheduled.push(*task_id),
            Event::ActivityCompleted { task_id, .. } | Event::ActivityFailed { task_id, .. } => {
                *outcomes.entry(*task_id).or_default() += 1;
            }
            _ => {}
        }
    }
    for task_id in &scheduled {
        if !ran.contains(&(id.to_owned(), execution_id, *task_id)) {
            problems.push(format!("{id}: activity {task_id} never ran"));
        }
        match outcomes.get(task_id) {
            Some(1) => {}
            Some(n) => problems.push(format!("{id}: activity {task_id} has {n} outcomes")),
            None => problems.push(format!("{id}: activity {task_id} has no outcome")),
        }
    }
    for task_id in outcomes.keys() {
        if !scheduled.contains(task_id) {
            problems.push(format!("{id}: outcome of unscheduled activity {task_id}"));
        }
    }
}

/// Each instance's history rows are numbered 0, 1, ... without a gap, as many as it has.
fn check_sequence_numbers(
    store: &Path,
    lengths: &BTreeMap<String, u64>,
    problems: &mut Vec<String>,
) -> Result<(), String> {
    // The store closes when the last task holding it (the worker's, the writer's) has ended.
    let deadline = Instant::now() + Duration::from_secs(10);
    let db = loop {
        match redb::Database::open(store) {
            Ok(db) => break db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(error) => return Err(format!("raw open: {error}")),
        }
    };
    let txn = db.begin_read().map_err(|error| error.to_string())?;
    let table = txn.open_table(HISTORY).map_err(|error| error.to_string())?;
    for (id, &length) in lengths {
        let mut expected = 0u64;
        for row in table
            .range((id.as_str(), 0)..=(id.as_str(), u64::MAX))
            .map_err(|error| error.to_string())?
        {
            let (key, _) = row.map_err(|error| error.to_string())?;
            let (_, seq) = key.value();
            if seq != expected {
                problems.push(format!(
                    "{id}: history row {seq} where {expected} was expected"
                ));
                break;
            }
            expected += 1;
        }
        if expected != length {
            problems.push(format!(
                "{id}: {expected} history rows, {length} events read"
            ));
        }
    }
    Ok(())
}
