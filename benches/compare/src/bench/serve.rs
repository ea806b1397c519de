//! `cargo xtask bench serve [--files N] [--runs N] [--objects N] [--pages P] [--only PART]
//! [--keep DIR] [--ours PATH]`: the console's answer times and memory, by parts (`--only`
//! repeated picks some; default all):
//! - `object`: a generated root with one object of N files (default 100,000): P consecutive
//!   pages (default 60) of its version, the API's and the HTML page's; the server's peak RSS
//!   (VmHWM) meanwhile <= 200 MiB;
//! - `runs`: the store of N runs of `bench store` (default 10,000, built by the
//!   `store_growth` example): P consecutive pages of all runs;
//! - `listing`: a root of N minimal objects (default 100,000): once the console has listed
//!   it, P times each the first page of objects, a page 90% of the way in, and an id search
//!   (one match, so every id is looked at), the API's and the HTML page's.
//!
//! Everything is served by the release `ocfl serve` (or the `ocfl` at `--ours`), each answer timed from the request to
//! the last byte. Target: p50 <= 100 ms for each page. Prints a table and one JSON line per
//! part; see docs/benchmarks.md.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::generate::{
    MANY_ID, Profile, SEED, generate_many_objects, generate_root, listed_object_id,
};
use super::{build_ours, workspace_root};

/// The bound on a page's answer (p50).
const PAGE_LIMIT_S: f64 = 0.100;
/// The bound on the server's peak RSS while serving a big object's pages.
const RSS_LIMIT_BYTES: u64 = 200 * 1024 * 1024;

/// `--only`: a part of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    Object,
    Runs,
    Listing,
}

/// `bench serve`'s command line.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files of the big object.
    #[arg(long, default_value = "100000", value_parser = super::positive)]
    files: usize,
    /// Runs in the big engine store.
    #[arg(long, default_value = "10000", value_parser = super::positive)]
    runs: usize,
    /// Objects of the listing root.
    #[arg(long, default_value = "100000", value_parser = super::positive)]
    objects: usize,
    /// Pages timed per kind of page.
    #[arg(long, default_value = "60", value_parser = super::positive)]
    pages: usize,
    /// Run only this part (repeatable); all parts without it.
    #[arg(long, value_enum)]
    only: Vec<Part>,
    /// Build the roots under DIR and keep them (a kept listing root is used again).
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// An `ocfl` binary to time instead of building `target/release/ocfl`.
    #[arg(long, value_name = "PATH")]
    ours: Option<PathBuf>,
}

impl Args {
    fn part(&self, part: Part) -> bool {
        self.only.is_empty() || self.only.contains(&part)
    }
}

/// A running `ocfl serve`, stopped when dropped.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(ocfl: &Path, root: &Path, state: &Path) -> anyhow::Result<Server> {
        let mut child = Command::new(ocfl)
            .arg("--root")
            .arg(root)
            .arg("--state")
            .arg(state)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("OCFL_BACKEND")
            .env_remove("OCFL_WORK_AREA")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting ocfl serve")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?)
            .read_line(&mut line)
            .context("reading the URL of ocfl serve")?;
        let address = line
            .trim()
            .strip_prefix("http://")
            .and_then(|a| a.strip_suffix('/'))
            .with_context(|| format!("ocfl serve printed {line:?}"))?
            .to_owned();
        Ok(Server { child, address })
    }

    /// Seconds of one GET of `path`, to the last byte, and the body.
    fn get(&self, path: &str) -> anyhow::Result<(f64, Vec<u8>)> {
        let started = Instant::now();
        let mut stream = TcpStream::connect(&self.address)?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.address
        )?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        let seconds = started.elapsed().as_secs_f64();
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("an HTTP answer")?;
        let head = String::from_utf8_lossy(&answer[..split]).into_owned();
        if !head.starts_with("HTTP/1.1 200") {
            bail!("GET {path}: {}", head.lines().next().unwrap_or(""));
        }
        Ok((seconds, answer[split + 4..].to_vec()))
    }

    /// The server's peak resident set size so far (VmHWM).
    fn peak_rss(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("VmHWM in /proc/PID/status")?;
        Ok(kib * 1024)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Times `pages` consecutive pages of `api` (whose documents give `next`), each followed
/// by the HTML `page` at the same place: (API times, page times).
fn walk(
    server: &Server,
    api: &str,
    page: &str,
    pages: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let (mut api_times, mut page_times) = (Vec::new(), Vec::new());
    let mut after = String::new();
    for _ in 0..pages {
        let (seconds, body) = server.get(&format!("{api}&after={}", encode(&after)))?;
        api_times.push(seconds);
        let (seconds, _) = server.get(&format!("{page}&after={}", encode(&after)))?;
        page_times.push(seconds);
        let document: Value = serde_json::from_slice(&body)?;
        match document["next"].as_str() {
            Some(next) => after = next.to_owned(),
            None => after.clear(),
        }
    }
    Ok((api_times, page_times))
}

/// The p-th percentile (0 to 100) of `times`, by the nearest rank.
fn percentile(times: &[f64], p: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn run(options: Args) -> anyhow::Result<()> {
    let workspace = workspace_root();
    let temp = tempfile::tempdir()?;
    let dir = options
        .keep
        .clone()
        .unwrap_or_else(|| temp.path().join("serve"));
    // A kept listing root is used again (generating 100,000 objects takes minutes); the
    // rest is made afresh.
    if dir.exists() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path
                .file_name()
                .is_some_and(|n| n == "listing" || n == "listing.count")
            {
                continue;
            }
            if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            }
            .with_context(|| format!("clearing {}", path.display()))?;
        }
    }
    let ocfl = match &options.ours {
        Some(path) => path.clone(),
        None => build_ours(&workspace),
    };
    if options.part(Part::Object) {
        object_part(&ocfl, &dir, &options)?;
    }
    if options.part(Part::Runs) {
        runs_part(&ocfl, &workspace, &dir, &options)?;
    }
    if options.part(Part::Listing) {
        listing_part(&ocfl, &dir, &options)?;
    }
    Ok(())
}

/// The pages of a version of one object of `--files` files, and the server's peak RSS.
fn object_part(ocfl: &Path, dir: &Path, options: &Args) -> anyhow::Result<()> {
    eprintln!("bench: generating an object of {} files", options.files);
    let many_root = dir.join("many");
    generate_root(
        &many_root,
        Profile {
            many_files: options.files,
            small_objects: 0,
        },
        SEED,
    )?;
    let server = Server::start(ocfl, &many_root, &dir.join("many-state.redb"))?;
    let id = encode(MANY_ID);
    let (first, _) = server.get(&format!("/api/objects/{id}/versions/v1?limit=100"))?;
    let (object_api, object_page) = walk(
        &server,
        &format!("/api/objects/{id}/versions/v1?limit=100"),
        &format!("/objects/{id}/versions/v1?limit=100"),
        options.pages,
    )?;
    let rss = server.peak_rss()?;
    drop(server);
    let figures = [
        ("object version, API page", object_api),
        ("object version, HTML page", object_page),
    ];
    println!(
        "ocfl serve: {} consecutive pages of 100 files of a {}-file object:",
        options.pages, options.files
    );
    println!(
        "  {:<44} {:>10.1} ms",
        "first page (inventory parsed)",
        first * 1e3
    );
    let met = print_figures(&figures);
    let rss_ok = rss <= RSS_LIMIT_BYTES;
    println!(
        "  {:<44} {:>10.1} MiB  (target <= 200 MiB: {})",
        "server peak RSS (object pages)",
        rss as f64 / (1024.0 * 1024.0),
        if rss_ok { "met" } else { "NOT met" }
    );
    println!(
        "{}",
        json!({
            "bench": "serve",
            "part": "object",
            "files": options.files,
            "pages": options.pages,
            "first_page_s": first,
            "object_api_p50_s": percentile(&figures[0].1, 50.0),
            "object_page_p50_s": percentile(&figures[1].1, 50.0),
            "pages_target_met": met,
            "peak_rss_bytes": rss,
            "rss_target_met": rss_ok,
        })
    );
    Ok(())
}

/// The pages of all runs of a store of `--runs` runs.
fn runs_part(ocfl: &Path, workspace: &Path, dir: &Path, options: &Args) -> anyhow::Result<()> {
    eprintln!("bench: building a store of {} runs", options.runs);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let stores_dir = dir.join("stores");
    let output = Command::new(cargo)
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "ocfl-durable",
            "--example",
            "store_growth",
            "--",
            "--dir",
        ])
        .arg(&stores_dir)
        .args(["--runs", &options.runs.to_string()])
        .args(["--window", &options.runs.to_string()])
        .current_dir(workspace)
        .output()
        .context("running the store_growth example")?;
    if !output.status.success() {
        bail!(
            "store_growth failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stores: Value = serde_json::from_slice(&output.stdout)?;
    let store_path = |key: &str| -> anyhow::Result<PathBuf> {
        stores[key]
            .as_str()
            .map(PathBuf::from)
            .with_context(|| format!("store_growth gave no {key}"))
    };
    let server = Server::start(ocfl, &store_path("root")?, &store_path("kept")?)?;
    let (runs_api, runs_page) = walk(
        &server,
        "/api/runs?all=true&limit=100",
        "/runs?all=true&limit=100",
        options.pages,
    )?;
    drop(server);
    let figures = [("runs, API page", runs_api), ("runs, HTML page", runs_page)];
    println!(
        "ocfl serve: {} consecutive pages of 100 runs of a {}-run store:",
        options.pages, options.runs
    );
    let met = print_figures(&figures);
    println!(
        "{}",
        json!({
            "bench": "serve",
            "part": "runs",
            "runs": options.runs,
            "pages": options.pages,
            "runs_api_p50_s": percentile(&figures[0].1, 50.0),
            "runs_page_p50_s": percentile(&figures[1].1, 50.0),
            "pages_target_met": met,
        })
    );
    Ok(())
}

/// The objects listing of a root of `--objects` objects: how long the console takes to
/// list it at start, what a page answers meanwhile, and then the first page, a deep page
/// and a search, each asked for `--pages` times.
fn listing_part(ocfl: &Path, dir: &Path, options: &Args) -> anyhow::Result<()> {
    let count = options.objects;
    let root = dir.join("listing");
    let marker = dir.join("listing.count");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(count.to_string().as_str()) {
        eprintln!("bench: using the kept root {}", root.display());
    } else {
        if root.exists() {
            std::fs::remove_dir_all(&root)
                .with_context(|| format!("clearing {}", root.display()))?;
        }
        eprintln!("bench: generating a root of {count} objects");
        let started = Instant::now();
        generate_many_objects(&root, count)?;
        std::fs::write(&marker, count.to_string())?;
        eprintln!(
            "bench: generated in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let server = Server::start(ocfl, &root, &dir.join("listing-state.redb"))?;
    let started = Instant::now();
    let (while_listing, body) = server.get("/api/objects?limit=100")?;
    let early: Value = serde_json::from_slice(&body)?;
    let listed_early = early["complete"] == true;
    loop {
        let (_, body) = server.get("/api/objects?limit=1")?;
        let document: Value = serde_json::from_slice(&body)?;
        if document["complete"] == true {
            break;
        }
        if started.elapsed().as_secs() > 1800 {
            bail!("the console did not list the root within 30 minutes");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let listed_in = started.elapsed().as_secs_f64();
    let deep = encode(&listed_object_id(count * 9 / 10));
    // One match: the search looks at every id.
    let needle = listed_object_id(count / 2);
    let needle = encode(&needle[needle.len() - 8..]);
    let asked = [
        ("first page, API", "/api/objects?limit=100".to_owned()),
        ("first page, HTML", "/objects?limit=100".to_owned()),
        (
            "deep page (90%), API",
            format!("/api/objects?limit=100&after={deep}"),
        ),
        (
            "deep page (90%), HTML",
            format!("/objects?limit=100&after={deep}"),
        ),
        (
            "id search, API",
            format!("/api/objects?limit=100&q={needle}"),
        ),
        ("id search, HTML", format!("/objects?limit=100&q={needle}")),
    ];
    let keys = [
        "first_api",
        "first_html",
        "deep_api",
        "deep_html",
        "search_api",
        "search_html",
    ];
    let mut figures = Vec::new();
    for (name, path) in &asked {
        let mut times = Vec::with_capacity(options.pages);
        let mut size = 0;
        for _ in 0..options.pages {
            let (seconds, body) = server.get(path)?;
            times.push(seconds);
            size = body.len();
        }
        if size == 0 {
            bail!("GET {path} answered nothing");
        }
        figures.push((*name, times));
    }
    let (_, body) = server.get(&asked[4].1)?;
    let found: Value = serde_json::from_slice(&body)?;
    let matches = found["objects"].as_array().map_or(0, Vec::len);
    if matches != 1 {
        bail!("the search found {matches} objects, not 1");
    }
    drop(server);
    println!(
        "ocfl serve: the objects listing of a root of {count} objects, {} times each:",
        options.pages
    );
    println!(
        "  {:<44} {:>10.1} s",
        "listed at start (in the background)", listed_in
    );
    println!(
        "  {:<44} {:>10.1} ms  (complete: {listed_early})",
        "a first page while listing",
        while_listing * 1e3
    );
    let met = print_figures(&figures);
    let mut line = json!({
        "bench": "serve",
        "part": "listing",
        "objects": count,
        "pages": options.pages,
        "listed_s": listed_in,
        "page_while_listing_s": while_listing,
        "pages_target_met": met,
    });
    for ((_, times), key) in figures.iter().zip(keys) {
        line[format!("{key}_p50_s")] = json!(percentile(times, 50.0));
        line[format!("{key}_p95_s")] = json!(percentile(times, 95.0));
    }
    println!("{line}");
    Ok(())
}

/// Prints p50 and p95 of each; whether every p50 meets the target.
fn print_figures(figures: &[(&str, Vec<f64>)]) -> bool {
    for (name, times) in figures {
        println!(
            "  {name:<44} {:>10.1} ms  (p50)  {:>8.1} ms  (p95)",
            percentile(times, 50.0) * 1e3,
            percentile(times, 95.0) * 1e3
        );
    }
    let met = figures
        .iter()
        .all(|(_, times)| percentile(times, 50.0) <= PAGE_LIMIT_S);
    println!(
        "  pages p50 <= {} ms: {}",
        PAGE_LIMIT_S * 1e3,
        if met { "met" } else { "NOT met" }
    );
    met
}
