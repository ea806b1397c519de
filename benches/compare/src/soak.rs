//! `cargo xtask soak --minutes N`: the scale-out deployment under chaos (docs/durability.md,
//! "Soak").
//!
//! Three `ocfl worker` processes serve one local storage root from PostgreSQL (a fresh schema
//! of the soak database). A submitter keeps detached commits of 50 objects coming: a new
//! object's first version from a generated directory, later versions from the changed
//! directory or as file-level edits (`--add`, `--remove`), one run at a time per object. A
//! chaos loop SIGKILLs random workers (restarting them), restarts PostgreSQL and terminates
//! the soak database's connections, all for `--minutes`; then the remaining runs drain.
//!
//! At the end every run must have completed or failed with a reason (none lost or stuck),
//! every object must validate and hold exactly what its last completed run committed, and no
//! history may record an activity's completion twice (read from the PostgreSQL tables).
//! A summary and one JSON line go to stdout; the exit status says whether every check held.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::bench::prng::SplitMix64;

/// The soak database, created once (see docs/durability.md); each soak works in a schema of
/// its own there.
const DEFAULT_URL: &str = "postgres://ocfl_test:ocfl_test@127.0.0.1:5432/ocfl_soak";
const DEFAULT_RESTART: &str = "pg_ctlcluster 15 main restart";
/// Short leases, so that work a killed worker held is taken over within seconds.
const LEASE_SECONDS: &str = "5";

struct Options {
    minutes: f64,
    url: String,
    objects: usize,
    workers: usize,
    drain: Duration,
    seed: u64,
    restart_every: Option<Duration>,
    restart_command: String,
    keep: Option<PathBuf>,
    release: bool,
    /// An `ocfl` binary to use as it is, instead of building one.
    ocfl: Option<PathBuf>,
}

/// `cargo xtask soak`'s command line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Minutes of chaos.
    #[arg(long, default_value = "5", value_parser = non_negative)]
    minutes: f64,
    /// The soak database (default `OCFL_SOAK_POSTGRES_URL`, or the local `ocfl_soak`).
    #[arg(long)]
    url: Option<String>,
    /// Objects committed.
    #[arg(long, default_value = "50", value_parser = crate::bench::positive)]
    objects: usize,
    /// `ocfl worker` processes.
    #[arg(long, default_value = "3", value_parser = crate::bench::positive)]
    workers: usize,
    /// Minutes the workers get to finish after the chaos.
    #[arg(long, default_value = "5", value_parser = non_negative)]
    drain_minutes: f64,
    /// The chaos loop's seed.
    #[arg(long, default_value = "1")]
    seed: u64,
    /// Seconds between two server restarts.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = non_negative)]
    restart_every: f64,
    /// The command that restarts the server.
    #[arg(long, value_name = "COMMAND", default_value = DEFAULT_RESTART)]
    pg_restart: String,
    /// Never restart the server.
    #[arg(long)]
    no_pg_restart: bool,
    /// Keep the roots and logs in DIR.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Build `ocfl` in debug instead of release.
    #[arg(long)]
    debug: bool,
    /// An `ocfl` binary to use as it is, instead of building one.
    #[arg(long, value_name = "BINARY")]
    ocfl: Option<PathBuf>,
}

/// A finite number of at least 0.
fn non_negative(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| format!("needs a number, not {text:?}"))
}

impl From<Args> for Options {
    fn from(args: Args) -> Options {
        Options {
            minutes: args.minutes,
            url: args.url.unwrap_or_else(|| {
                std::env::var("OCFL_SOAK_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
            }),
            objects: args.objects,
            workers: args.workers,
            drain: Duration::from_secs_f64(args.drain_minutes * 60.0),
            seed: args.seed,
            restart_every: (!args.no_pg_restart)
                .then(|| Duration::from_secs_f64(args.restart_every)),
            restart_command: args.pg_restart,
            keep: args.keep,
            release: !args.debug,
            ocfl: args.ocfl,
        }
    }
}

/// What the chaos loop did.
#[derive(Debug, Default)]
struct Chaos {
    kills: u64,
    restarts: u64,
    restart_failures: u64,
    terminations: u64,
    connections_terminated: u64,
    worker_exits: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = Options::from(args);
    let workspace = crate::bench::workspace_root();
    let ocfl = match &options.ocfl {
        Some(binary) => binary.clone(),
        None => build_ocfl(&workspace, options.release)?,
    };
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let schema = format!("soak_{}", since_epoch.as_secs());
    psql(&options.url, &format!("CREATE SCHEMA {schema}")).with_context(|| {
        format!("creating schema {schema} (is the soak database there? see docs/durability.md)")
    })?;
    let separator = if options.url.contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}options=-csearch_path%3D{schema}", options.url);

    let scratch = match &options.keep {
        Some(dir) => {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            None
        }
        None => Some(tempfile::tempdir().context("creating a scratch directory")?),
    };
    let base = options
        .keep
        .clone()
        .or_else(|| scratch.as_ref().map(|dir| dir.path().to_path_buf()))
        .context("a scratch directory")?;
    let root = base.join("root");
    for dir in ["sources", "edits", "logs", "exports"] {
        fs::create_dir_all(base.join(dir))?;
    }
    let site = Site {
        ocfl: ocfl.clone(),
        root: root.clone(),
        url: url.clone(),
    };
    let init = site
        .command(&["init"])
        .output()
        .context("running ocfl init")?;
    if !init.status.success() {
        bail!(
            "ocfl init failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    eprintln!(
        "soak: {} minutes, {} workers, {} objects, schema {schema}, in {}",
        options.minutes,
        options.workers,
        options.objects,
        base.display()
    );

    let began = Instant::now();
    let chaos_ends = began + Duration::from_secs_f64(options.minutes * 60.0);
    let stop = Arc::new(AtomicBool::new(false));
    let chaos = Arc::new(Mutex::new(Chaos::default()));
    let mut workers = Workers::start(&site, options.workers, &base.join("logs"))?;
    let chaos_thread = {
        let (stop, chaos, url) = (Arc::clone(&stop), Arc::clone(&chaos), options.url.clone());
        let (restart_every, restart_command) =
            (options.restart_every, options.restart_command.clone());
        let seed = options.seed;
        thread::spawn(move || {
            chaos_loop(
                &mut workers,
                &ChaosPlan {
                    url,
                    restart_every,
                    restart_command,
                    seed,
                },
                &stop,
                &chaos,
            );
            workers
        })
    };

    let mut submitter = Submitter::new(&site, &base, options.objects, options.seed);
    let mut submit = || -> anyhow::Result<()> {
        while Instant::now() < chaos_ends {
            match submitter.poll() {
                Ok(()) => submitter.submit_idle(3, chaos_ends)?,
                // PostgreSQL restarting, say: the next round lists again.
                Err(error) => eprintln!("soak: listing runs failed ({error:#}); retrying"),
            }
            thread::sleep(Duration::from_millis(500));
        }
        Ok(())
    };
    let submitted = submit();
    stop.store(true, Ordering::SeqCst);
    let mut workers = chaos_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the chaos loop panicked"))?;
    submitted?;
    eprintln!(
        "soak: chaos over after {:.0} s; draining {} unfinished run(s)",
        began.elapsed().as_secs_f64(),
        submitter.pending()
    );
    let drain_ends = Instant::now() + options.drain;
    while submitter.pending() > 0 && Instant::now() < drain_ends {
        workers.revive(&mut lock(&chaos));
        if let Err(error) = submitter.poll() {
            eprintln!("soak: listing runs failed ({error:#}); retrying");
        }
        thread::sleep(Duration::from_secs(1));
    }
    let drained_in = began.elapsed();
    workers.stop();

    let report = check(&site, &submitter, &base, &url)?;
    let chaos = lock(&chaos);
    let ok = report.ok();
    println!(
        "soak: {:.1} min of chaos, {:.1} min in all; {} workers, {} objects",
        options.minutes,
        drained_in.as_secs_f64() / 60.0,
        options.workers,
        options.objects
    );
    println!(
        "  runs: {} submitted, {} completed, {} failed (with a reason: {}), {} lost, {} stuck",
        submitter.runs.len(),
        report.completed,
        report.failed.len(),
        report.failed_with_reason,
        report.lost.len(),
        report.stuck.len()
    );
    println!(
        "  chaos: {} workers SIGKILLed, {} worker exits on their own, {} PostgreSQL restarts ({} failed), {} connection terminations ({} connections)",
        chaos.kills,
        chaos.worker_exits,
        chaos.restarts,
        chaos.restart_failures,
        chaos.terminations,
        chaos.connections_terminated
    );
    println!(
        "  submissions retried after an error: {}",
        submitter.retries
    );
    println!(
        "  objects: {} checked byte-exact, {} mismatched; root valid: {}",
        report.objects_exact,
        report.mismatched.len(),
        report.valid
    );
    println!(
        "  activity completions recorded: {}, recorded twice: {}",
        report.completions,
        report.duplicates.len()
    );
    for (what, list) in [
        ("failed", &report.failed),
        ("lost", &report.lost),
        ("stuck", &report.stuck),
        ("mismatched", &report.mismatched),
        ("duplicate", &report.duplicates),
    ] {
        for item in list.iter().take(10) {
            println!("  {what}: {item}");
        }
    }
    println!(
        "{}",
        json!({
            "soak": {
                "minutes": options.minutes,
                "workers": options.workers,
                "objects": options.objects,
                "schema": schema,
                "seconds_total": drained_in.as_secs_f64(),
            },
            "runs": {
                "submitted": submitter.runs.len(),
                "completed": report.completed,
                "failed": report.failed.len(),
                "failed_with_reason": report.failed_with_reason,
                "lost": report.lost,
                "stuck": report.stuck,
            },
            "chaos": {
                "kills": chaos.kills,
                "worker_exits": chaos.worker_exits,
                "pg_restarts": chaos.restarts,
                "pg_restart_failures": chaos.restart_failures,
                "terminations": chaos.terminations,
                "connections_terminated": chaos.connections_terminated,
            },
            "submission_retries": submitter.retries,
            "objects": {"exact": report.objects_exact, "mismatched": report.mismatched, "root_valid": report.valid},
            "activity_completions": report.completions,
            "duplicate_completions": report.duplicates,
            "ok": ok,
        })
    );
    if let Some(dir) = &options.keep {
        eprintln!("soak: kept {}", dir.display());
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Builds the `ocfl` binary (release unless `--debug`).
fn build_ocfl(workspace: &Path, release: bool) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut args = vec!["build", "-p", "ocfl-cli"];
    if release {
        args.push("--release");
    }
    eprintln!("soak: cargo {}", args.join(" "));
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args(&args)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo {} failed", args.join(" "));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    Ok(target
        .join(if release { "release" } else { "debug" })
        .join("ocfl"))
}

/// Runs one SQL statement with `psql` on `url`; returns its unaligned output.
fn psql(url: &str, sql: &str) -> anyhow::Result<String> {
    let output = Command::new("psql")
        .args([url, "-X", "-v", "ON_ERROR_STOP=1", "-Atc", sql])
        .output()
        .context("running psql")?;
    if !output.status.success() {
        bail!(
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The root and the store every `ocfl` command of the soak uses.
#[derive(Clone)]
struct Site {
    ocfl: PathBuf,
    root: PathBuf,
    url: String,
}

impl Site {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.ocfl);
        command
            .arg("--root")
            .arg(&self.root)
            .arg("--backend")
            .arg(&self.url)
            .args(args)
            .env("OCFL_LEASE_SECONDS", LEASE_SECONDS)
            .stdin(Stdio::null());
        command
    }
}

/// The worker processes, each restarted when it dies.
struct Workers {
    site: Site,
    logs: PathBuf,
    running: Vec<Child>,
    started: u64,
}

impl Workers {
    fn start(site: &Site, count: usize, logs: &Path) -> anyhow::Result<Workers> {
        let mut workers = Workers {
            site: site.clone(),
            logs: logs.to_path_buf(),
            running: Vec::new(),
            started: 0,
        };
        for _ in 0..count {
            let child = workers.spawn()?;
            workers.running.push(child);
        }
        Ok(workers)
    }

    fn spawn(&mut self) -> anyhow::Result<Child> {
        self.started += 1;
        let log = self.logs.join(format!("worker-{}.log", self.started));
        let file = fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = self
            .site
            .command(&["worker", "--json", "--concurrency", "2"])
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .context("starting ocfl worker")?;
        Ok(child)
    }

    /// Restarts the workers that exited on their own.
    fn revive(&mut self, chaos: &mut Chaos) {
        for n in 0..self.running.len() {
            if let Ok(Some(status)) = self.running[n].try_wait() {
                eprintln!(
                    "soak: worker {} exited ({status}); restarting it",
                    self.running[n].id()
                );
                chaos.worker_exits += 1;
                match self.spawn() {
                    Ok(child) => self.running[n] = child,
                    Err(error) => eprintln!("soak: {error:#}"),
                }
            }
        }
    }

    /// SIGKILLs worker `n` and starts another in its place.
    fn kill(&mut self, n: usize) -> anyhow::Result<()> {
        let child = &mut self.running[n];
        child.kill().context("killing a worker")?;
        child.wait().context("reaping a worker")?;
        self.running[n] = self.spawn()?;
        Ok(())
    }

    /// SIGTERM to every worker, then waits for them (SIGKILL after a minute).
    fn stop(&mut self) {
        for child in &self.running {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for child in &mut self.running {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct ChaosPlan {
    url: String,
    restart_every: Option<Duration>,
    restart_command: String,
    seed: u64,
}

/// Until `stop`: every 3 to 12 s one of: SIGKILL a random worker (and start another), restart
/// PostgreSQL (at most once per `restart_every`), terminate the soak database's connections.
fn chaos_loop(workers: &mut Workers, plan: &ChaosPlan, stop: &AtomicBool, chaos: &Mutex<Chaos>) {
    let mut random = SplitMix64::new(plan.seed ^ 0xC4A0_5000);
    let mut next = Instant::now() + Duration::from_secs(random.range(3, 12));
    let mut last_restart = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        workers.revive(&mut lock(chaos));
        if Instant::now() < next {
            thread::sleep(Duration::from_millis(200));
            continue;
        }
        next = Instant::now() + Duration::from_secs(random.range(3, 12));
        let roll = random.range(0, 9);
        let restart_due = plan
            .restart_every
            .is_some_and(|every| last_restart.elapsed() >= every);
        if roll < 2 && restart_due {
            eprintln!("soak: chaos: restarting PostgreSQL");
            let restarted = Command::new("sh")
                .args(["-c", &plan.restart_command])
                .status();
            last_restart = Instant::now();
            let mut chaos = lock(chaos);
            match restarted {
                Ok(status) if status.success() => chaos.restarts += 1,
                other => {
                    eprintln!("soak: restarting PostgreSQL failed: {other:?}");
                    chaos.restart_failures += 1;
                }
            }
        } else if roll < 5 {
            let sql = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                       WHERE datname = current_database() AND pid <> pg_backend_pid()";
            match psql(&plan.url, sql) {
                Ok(count) => {
                    let count: u64 = count.trim().parse().unwrap_or(0);
                    eprintln!("soak: chaos: terminated {count} connection(s)");
                    let mut chaos = lock(chaos);
                    chaos.terminations += 1;
                    chaos.connections_terminated += count;
                }
                Err(error) => eprintln!("soak: terminating connections failed: {error:#}"),
            }
        } else {
            let n = random.range_usize(0, workers.running.len() - 1);
            eprintln!("soak: chaos: SIGKILL worker {}", workers.running[n].id());
            match workers.kill(n) {
                Ok(()) => lock(chaos).kills += 1,
                Err(error) => eprintln!("soak: {error:#}"),
            }
        }
    }
}

/// The files of a directory tree (or an object's head): logical path -> bytes.
type Tree = BTreeMap<String, Vec<u8>>;

/// One object: what its last completed run committed, and the run in flight.
#[derive(Default)]
struct Object {
    head: Option<Tree>,
    pending: Option<(String, Tree)>,
    submissions: u64,
}

struct Submitter {
    site: Site,
    base: PathBuf,
    objects: Vec<Object>,
    random: SplitMix64,
    /// Every run submitted: run id -> object index.
    runs: BTreeMap<String, usize>,
    /// The last listing: run id -> (state, error).
    states: BTreeMap<String, (String, Option<String>)>,
    retries: u64,
}

fn object_id(n: usize) -> String {
    format!("info:soak-{n:02}")
}

impl Submitter {
    fn new(site: &Site, base: &Path, objects: usize, seed: u64) -> Submitter {
        Submitter {
            site: site.clone(),
            base: base.to_path_buf(),
            objects: (0..objects).map(|_| Object::default()).collect(),
            random: SplitMix64::new(seed),
            runs: BTreeMap::new(),
            states: BTreeMap::new(),
            retries: 0,
        }
    }

    fn pending(&self) -> usize {
        self.objects.iter().filter(|o| o.pending.is_some()).count()
    }

    /// Reads every run's state; a finished run frees its object.
    fn poll(&mut self) -> anyhow::Result<()> {
        let output = self
            .site
            .command(&["runs", "--all", "--json"])
            .output()
            .context("running ocfl runs")?;
        if !output.status.success() {
            bail!(
                "ocfl runs failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Ok(run) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let (Some(id), Some(state)) = (run["run"].as_str(), run["state"].as_str()) else {
                continue;
            };
            let error = run["error"].as_str().map(str::to_owned);
            self.states.insert(id.to_owned(), (state.to_owned(), error));
        }
        for object in &mut self.objects {
            let Some((run, _)) = &object.pending else {
                continue;
            };
            match self.states.get(run).map(|(state, _)| state.as_str()) {
                Some("completed") => {
                    if let Some((_, tree)) = object.pending.take() {
                        object.head = Some(tree);
                    }
                }
                Some("failed" | "terminated") => object.pending = None,
                _ => {}
            }
        }
        Ok(())
    }

    /// Submits a change to at most `most` idle objects.
    fn submit_idle(&mut self, most: usize, deadline: Instant) -> anyhow::Result<()> {
        let idle: Vec<usize> = (0..self.objects.len())
            .filter(|&n| self.objects[n].pending.is_none())
            .collect();
        for _ in 0..most.min(idle.len()) {
            if Instant::now() >= deadline {
                break;
            }
            let n = idle[self.random.range_usize(0, idle.len() - 1)];
            if self.objects[n].pending.is_none() {
                self.submit(n, deadline)?;
            }
        }
        Ok(())
    }

    fn submit(&mut self, n: usize, deadline: Instant) -> anyhow::Result<()> {
        let id = object_id(n);
        self.objects[n].submissions += 1;
        let serial = self.objects[n].submissions;
        let source = self.base.join("sources").join(format!("{n:02}"));
        let (args, expected) = match self.objects[n].head.clone() {
            Some(head) if self.random.one_in(2) => {
                // File-level edits of the head: add (or replace) one file, maybe remove one.
                let edits = self.base.join("edits").join(format!("{n:02}-{serial}"));
                fs::create_dir_all(&edits)?;
                let mut expected = head.clone();
                let path = format!("edit/{serial}.bin");
                let bytes = self.bytes();
                fs::write(edits.join("file"), &bytes)?;
                let mut args = vec![
                    "--add".to_owned(),
                    edits.join("file").display().to_string(),
                    path.clone(),
                ];
                expected.insert(path, bytes);
                if head.len() > 2 && self.random.one_in(2) {
                    let victim = self.random.range_usize(0, head.len() - 1);
                    if let Some(gone) = head.keys().nth(victim).cloned()
                        && !gone.starts_with("edit/")
                    {
                        expected.remove(&gone);
                        args.extend(["--remove".to_owned(), gone]);
                    }
                }
                (args, expected)
            }
            head => {
                // A directory: the head changed (one file rewritten, one added, maybe one
                // removed), or a new object's first files.
                let mut tree = head.unwrap_or_default();
                if tree.is_empty() {
                    for k in 0..self.random.range(1, 6) {
                        let name = format!("dir{}/file-{k}.dat", k % 2);
                        tree.insert(name, self.bytes());
                    }
                } else {
                    let changed = self.random.range_usize(0, tree.len() - 1);
                    if let Some(name) = tree.keys().nth(changed).cloned() {
                        tree.insert(name, self.bytes());
                    }
                    tree.insert(format!("added/{serial}.dat"), self.bytes());
                    if tree.len() > 3 && self.random.one_in(3) {
                        let gone = self.random.range_usize(0, tree.len() - 1);
                        if let Some(name) = tree.keys().nth(gone).cloned() {
                            tree.remove(&name);
                        }
                    }
                }
                write_tree(&source, &tree)?;
                (vec![source.display().to_string()], tree)
            }
        };
        let mut command_args = vec!["commit".to_owned(), id.clone()];
        command_args.extend(args);
        command_args.extend(["--detach".to_owned(), "--json".to_owned()]);
        let borrowed: Vec<&str> = command_args.iter().map(String::as_str).collect();
        // A submission that fails (PostgreSQL restarting, a connection terminated) may or may
        // not have recorded the run: the same command again maps to the same run.
        loop {
            let output = self.site.command(&borrowed).output()?;
            if output.status.success() {
                let line = String::from_utf8_lossy(&output.stdout);
                let submitted: Value = serde_json::from_str(line.trim())
                    .with_context(|| format!("reading the commit's output {line:?}"))?;
                let run = submitted["run"]
                    .as_str()
                    .context("the commit's output names its run")?
                    .to_owned();
                self.runs.insert(run.clone(), n);
                self.objects[n].pending = Some((run, expected));
                return Ok(());
            }
            self.retries += 1;
            let error = String::from_utf8_lossy(&output.stderr);
            eprintln!("soak: submitting {id} failed ({}); retrying", error.trim());
            if Instant::now() >= deadline + Duration::from_secs(120) {
                bail!("cannot submit a run for {id}: {}", error.trim());
            }
            thread::sleep(Duration::from_secs(1));
        }
    }

    /// 1 byte to 16 KiB of pseudo-random bytes.
    fn bytes(&mut self) -> Vec<u8> {
        let mut bytes = vec![0; self.random.range_usize(1, 16 * 1024)];
        self.random.fill(&mut bytes);
        bytes
    }
}

/// Makes `dir` hold exactly `tree`.
fn write_tree(dir: &Path, tree: &Tree) -> anyhow::Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    for (path, bytes) in tree {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&file, bytes).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(())
}

/// Reads a directory tree.
fn read_tree(dir: &Path) -> anyhow::Result<Tree> {
    let mut tree = Tree::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in
            fs::read_dir(&current).with_context(|| format!("listing {}", current.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)?
                    .to_str()
                    .context("a UTF-8 path")?
                    .to_owned();
                tree.insert(name, fs::read(&path)?);
            }
        }
    }
    Ok(tree)
}

#[derive(Default)]
struct Report {
    completed: usize,
    failed: Vec<String>,
    failed_with_reason: usize,
    lost: Vec<String>,
    stuck: Vec<String>,
    objects_exact: usize,
    mismatched: Vec<String>,
    valid: bool,
    completions: u64,
    duplicates: Vec<String>,
}

impl Report {
    fn ok(&self) -> bool {
        self.failed_with_reason == self.failed.len()
            && self.lost.is_empty()
            && self.stuck.is_empty()
            && self.mismatched.is_empty()
            && self.valid
            && self.duplicates.is_empty()
    }
}

fn check(site: &Site, submitter: &Submitter, base: &Path, url: &str) -> anyhow::Result<Report> {
    let mut report = Report::default();
    for (run, &n) in &submitter.runs {
        match submitter.states.get(run) {
            None => report.lost.push(format!("{run} ({})", object_id(n))),
            Some((state, _)) if state == "completed" => report.completed += 1,
            Some((state, error)) if state == "failed" || state == "terminated" => {
                let reason = error.clone().unwrap_or_default();
                if !reason.trim().is_empty() {
                    report.failed_with_reason += 1;
                }
                report
                    .failed
                    .push(format!("{run} ({}): {state}: {reason}", object_id(n)));
            }
            Some((state, _)) => report
                .stuck
                .push(format!("{run} ({}): {state}", object_id(n))),
        }
    }
    let validated = site
        .command(&["validate"])
        .output()
        .context("running ocfl validate")?;
    report.valid = validated.status.success();
    if !report.valid {
        eprintln!(
            "soak: ocfl validate failed:\n{}{}",
            String::from_utf8_lossy(&validated.stdout),
            String::from_utf8_lossy(&validated.stderr)
        );
    }
    for (n, object) in submitter.objects.iter().enumerate() {
        let Some(head) = &object.head else {
            continue;
        };
        let dest = base.join("exports").join(format!("{n:02}"));
        let id = object_id(n);
        let exported = site
            .command(&["export", &id, &dest.display().to_string()])
            .output()
            .context("running ocfl export")?;
        if !exported.status.success() {
            report.mismatched.push(format!(
                "{id}: export failed: {}",
                String::from_utf8_lossy(&exported.stderr).trim()
            ));
            continue;
        }
        let held = read_tree(&dest)?;
        if &held == head {
            report.objects_exact += 1;
        } else {
            let expected: BTreeSet<&String> = head.keys().collect();
            let found: BTreeSet<&String> = held.keys().collect();
            report.mismatched.push(format!(
                "{id}: expected {expected:?}, found {found:?} (or different bytes)"
            ));
        }
    }
    let completions = "SELECT instance_id, event::json->>'task_id' FROM durable_history \
        WHERE event::json->>'type' IN ('activity_completed', 'activity_failed')";
    let rows = psql(url, completions).context("reading activity completions")?;
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    for row in rows.lines().filter(|row| !row.is_empty()) {
        report.completions += 1;
        *seen.entry(row).or_default() += 1;
    }
    report.duplicates = seen
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(row, count)| format!("{} recorded {count} times", row.replace('|', " task ")))
        .collect();
    Ok(report)
}
