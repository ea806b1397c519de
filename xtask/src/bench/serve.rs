//! `cargo xtask bench serve [--files N] [--runs N] [--pages P] [--keep DIR]`: the console's
//! answer times and memory. A generated root with one object of N files (default 100,000)
//! and the store of N runs of `bench store` (default 10,000, built by the `store_growth`
//! example) are served by the release `ocfl serve`; P consecutive pages (default 60) of the
//! object's version (the API's and the HTML page's) and of all runs are asked for in turn,
//! each timed from the request to the last byte. Targets: p50 <= 100 ms for each, and the
//! server's peak RSS (VmHWM) while serving the object's pages <= 200 MiB. Prints a table and
//! one JSON line; see docs/benchmarks.md.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::generate::{MANY_ID, Profile, SEED, generate_root};
use super::{build_ours, median, workspace_root};

const USAGE: &str =
    "usage: cargo xtask bench serve [--files N] [--runs N] [--pages P] [--keep DIR]";

/// The bound on a page's answer (p50).
const PAGE_LIMIT_S: f64 = 0.100;
/// The bound on the server's peak RSS while serving a big object's pages.
const RSS_LIMIT_BYTES: u64 = 200 * 1024 * 1024;

struct Options {
    files: usize,
    runs: usize,
    pages: usize,
    keep: Option<PathBuf>,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        files: 100_000,
        runs: 10_000,
        pages: 60,
        keep: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{arg} needs a value\n{USAGE}"))
        };
        let mut number = |name: &str| -> anyhow::Result<usize> {
            let text = value()?;
            text.parse()
                .ok()
                .filter(|&n| n > 0)
                .with_context(|| format!("{name} needs a positive number, not {text:?}"))
        };
        match arg.as_str() {
            "--files" => options.files = number("--files")?,
            "--runs" => options.runs = number("--runs")?,
            "--pages" => options.pages = number("--pages")?,
            "--keep" => options.keep = Some(PathBuf::from(value()?)),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(options)
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

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let options = parse(args)?;
    let workspace = workspace_root();
    let temp = tempfile::tempdir()?;
    let dir = options
        .keep
        .clone()
        .unwrap_or_else(|| temp.path().join("serve"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let ocfl = build_ours(&workspace);

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
        .current_dir(&workspace)
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

    // The object's pages.
    let server = Server::start(&ocfl, &many_root, &dir.join("many-state.redb"))?;
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

    // The runs pages.
    let server = Server::start(&ocfl, &store_path("root")?, &store_path("kept")?)?;
    let (runs_api, runs_page) = walk(
        &server,
        "/api/runs?all=true&limit=100",
        "/runs?all=true&limit=100",
        options.pages,
    )?;
    drop(server);

    let p50 = |t: &[f64]| median(t).unwrap_or(f64::NAN);
    let figures = [
        ("object version, API page", p50(&object_api)),
        ("object version, HTML page", p50(&object_page)),
        ("runs, API page", p50(&runs_api)),
        ("runs, HTML page", p50(&runs_page)),
    ];
    let pages_ok = figures.iter().all(|(_, s)| *s <= PAGE_LIMIT_S);
    let rss_ok = rss <= RSS_LIMIT_BYTES;
    println!(
        "ocfl serve: pages of 100 of a {}-file object and of a {}-run store, {} pages each:",
        options.files, options.runs, options.pages
    );
    println!(
        "  {:<44} {:>10.1} ms",
        "first page (inventory parsed)",
        first * 1e3
    );
    for (name, seconds) in &figures {
        println!("  {name:<44} {:>10.1} ms  (p50)", seconds * 1e3);
    }
    println!(
        "  pages p50 <= {} ms: {}",
        PAGE_LIMIT_S * 1e3,
        if pages_ok { "met" } else { "NOT met" }
    );
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
            "files": options.files,
            "runs": options.runs,
            "pages": options.pages,
            "first_page_s": first,
            "object_api_p50_s": figures[0].1,
            "object_page_p50_s": figures[1].1,
            "runs_api_p50_s": figures[2].1,
            "runs_page_p50_s": figures[3].1,
            "pages_target_met": pages_ok,
            "peak_rss_bytes": rss,
            "rss_target_met": rss_ok,
        })
    );
    Ok(())
}
