//! A private S3-compatible server behind TLS, for `cargo xtask bench s3` and `cargo xtask
//! interop --s3`: rocfl 1.7 speaks S3 over https only, and trusts only the system's
//! certificate store.
//!
//! What it sets up, in `target/xtask-s3/` (kept between runs, so the system store gains one
//! authority, not one per run):
//!
//! - a local certificate authority (`ca.pem`) and a server certificate it signed for
//!   `localhost` and `127.0.0.1` (`server.pem`), made with the `openssl` command;
//! - the authority installed into the system store (`/usr/local/share/ca-certificates/`,
//!   then `update-ca-certificates`), which rocfl reads; `ocfl` is pointed at `ca.pem` with
//!   `AWS_CA_BUNDLE` instead, the documented way;
//! - `moto_server --ssl-cert --ssl-key` on a free port of 127.0.0.1 (never the shared server
//!   on :9000), stopped when this value is dropped. Its request log is the benchmark's
//!   request counter: every tool is counted by the same server, the same way.
//!
//! The endpoint is `https://localhost:PORT`: rocfl's TLS stack refuses an IP address as a
//! server name.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use object_store::aws::AmazonS3Builder;
use object_store::{Certificate, ClientOptions, ObjectStoreExt};

/// The test credentials every tool is given (moto accepts any).
pub const ACCESS_KEY_ID: &str = "ocfl-test";
pub const SECRET_ACCESS_KEY: &str = "ocfl-test-secret";
pub const REGION: &str = "us-east-1";

/// Where the authority goes in the system store (Debian's `update-ca-certificates` layout).
const SYSTEM_CA_DIR: &str = "/usr/local/share/ca-certificates";
const SYSTEM_CA_NAME: &str = "ocfl-xtask-s3.crt";

/// A running private server.
pub struct TlsS3Server {
    dir: PathBuf,
    port: u16,
    child: Child,
    log: PathBuf,
}

impl TlsS3Server {
    /// Makes (or reuses) the certificates in `dir`, trusts the authority system-wide and
    /// starts moto on a free port; waits until it answers over https.
    pub fn start(dir: &Path) -> anyhow::Result<TlsS3Server> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        make_certificates(dir)?;
        trust_system_wide(&dir.join("ca.pem"))?;
        let port = free_port()?;
        let log = dir.join(format!("moto-{port}.log"));
        let moto =
            std::env::var_os("OCFL_XTASK_MOTO_SERVER").unwrap_or_else(|| "moto_server".into());
        let child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string(), "-c"])
            .arg(dir.join("server.pem"))
            .arg("-k")
            .arg(dir.join("server.key"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log)?)
            .spawn()
            .context("starting moto_server (pip install 'moto[server]')")?;
        let server = TlsS3Server {
            dir: dir.to_path_buf(),
            port,
            child,
            log,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    fn wait_until_ready(&self) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if self.curl("GET", "/").is_ok() {
                return Ok(());
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(60),
                "moto_server did not answer at {} within a minute; its log: {}",
                self.endpoint(),
                self.log.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `https://localhost:PORT`.
    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// The authority's certificate, for `AWS_CA_BUNDLE`.
    pub fn ca_bundle(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The environment `ocfl` (and the floor) need: credentials, region, endpoint, authority.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_CA_BUNDLE", self.ca_bundle().display().to_string()),
        ]
    }

    /// Applies [`TlsS3Server::env`] to `command`, clearing what could point it elsewhere.
    pub fn configure(&self, command: &mut Command) {
        for name in [
            "AWS_ALLOW_HTTP",
            "AWS_ENDPOINT",
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
        ] {
            command.env_remove(name);
        }
        command.envs(self.env());
    }

    /// The arguments that point rocfl at `bucket` on this server.
    pub fn rocfl_args(&self, bucket: &str) -> Vec<String> {
        vec![
            "-R".into(),
            REGION.into(),
            "-b".into(),
            bucket.into(),
            "-e".into(),
            self.endpoint(),
        ]
    }

    /// An unsigned request to moto with `curl` (moto does not check signatures of bucket
    /// operations, nor of its own API); fails unless the answer is a success.
    fn curl(&self, method: &str, path: &str) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.endpoint());
        let output = Command::new("curl")
            .args([
                "--silent",
                "--show-error",
                "--fail",
                "--max-time",
                "600",
                "-o",
                "/dev/null",
            ])
            .arg("--cacert")
            .arg(self.ca_bundle())
            .args(["-X", method, &url])
            .output()
            .context("running curl")?;
        anyhow::ensure!(
            output.status.success(),
            "{method} {url}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(())
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        self.curl("PUT", &format!("/{bucket}"))
            .with_context(|| format!("creating bucket {bucket}"))
    }

    /// Forgets every bucket and object (moto holds them in memory): between timed runs.
    pub fn reset(&self) -> anyhow::Result<()> {
        self.curl("POST", "/moto-api/reset")
            .context("resetting moto")
    }

    /// The bytes of `key` in `bucket`, read with `object_store` (signed: moto refuses
    /// anonymous reads of objects).
    pub fn get(&self, bucket: &str, key: &str) -> anyhow::Result<Vec<u8>> {
        let pem = fs::read(self.ca_bundle())?;
        let mut options = ClientOptions::new();
        for certificate in Certificate::from_pem_bundle(&pem)? {
            options = options.with_root_certificate(certificate);
        }
        let store = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_endpoint(self.endpoint())
            .with_region(REGION)
            .with_access_key_id(ACCESS_KEY_ID)
            .with_secret_access_key(SECRET_ACCESS_KEY)
            .with_client_options(options)
            .build()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let location = object_store::path::Path::from(key);
        let bytes = runtime
            .block_on(async { store.get(&location).await?.bytes().await })
            .with_context(|| format!("GET s3://{bucket}/{key}"))?;
        Ok(bytes.to_vec())
    }

    /// A mark in the request log; [`TlsS3Server::requests_since`] counts what came after it.
    pub fn log_mark(&self) -> anyhow::Result<usize> {
        Ok(self.log_text()?.len())
    }

    /// The requests the server logged after `mark`, by method.
    pub fn requests_since(&self, mark: usize) -> anyhow::Result<Requests> {
        let text = self.log_text()?;
        Ok(Requests::count(text.get(mark..).unwrap_or_default()))
    }

    fn log_text(&self) -> anyhow::Result<String> {
        let bytes =
            fs::read(&self.log).with_context(|| format!("reading {}", self.log.display()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

impl Drop for TlsS3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.log);
    }
}

/// Requests counted from the server's log, by method (moto's own API excluded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    pub get: u64,
    pub head: u64,
    pub put: u64,
    pub post: u64,
    pub delete: u64,
    /// GETs of a bucket with a query: listings.
    pub list: u64,
}

impl Requests {
    /// Counts the access-log lines of werkzeug (`... "PUT /bucket/key HTTP/1.1" 200 -`).
    pub fn count(log: &str) -> Requests {
        let mut requests = Requests::default();
        for line in log.lines() {
            let Some((_, rest)) = line.split_once('"') else {
                continue;
            };
            let mut words = rest.split(' ');
            let (Some(method), Some(target)) = (words.next(), words.next()) else {
                continue;
            };
            if target.starts_with("/moto-api") {
                continue;
            }
            match method {
                "GET" => {
                    let path = target.split('?').next().unwrap_or_default();
                    if target.contains('?') && path.trim_matches('/').split('/').count() == 1 {
                        requests.list += 1;
                    } else {
                        requests.get += 1;
                    }
                }
                "HEAD" => requests.head += 1,
                "PUT" => requests.put += 1,
                "POST" => requests.post += 1,
                "DELETE" => requests.delete += 1,
                _ => {}
            }
        }
        requests
    }

    pub fn total(&self) -> u64 {
        self.get + self.head + self.put + self.post + self.delete + self.list
    }
}

/// Makes the authority and the server certificate unless both are there.
fn make_certificates(dir: &Path) -> anyhow::Result<()> {
    let names = ["ca.pem", "ca.key", "server.pem", "server.key"];
    if names.iter().all(|name| dir.join(name).is_file()) {
        return Ok(());
    }
    test_support::tls::make_certificates(dir, "ocfl xtask local test CA", 3650)
        .with_context(|| format!("making test certificates in {}", dir.display()))
}

/// Installs the authority into the system store unless the same certificate is there.
fn trust_system_wide(ca: &Path) -> anyhow::Result<()> {
    let pem = fs::read(ca)?;
    let installed = Path::new(SYSTEM_CA_DIR).join(SYSTEM_CA_NAME);
    if fs::read(&installed).ok().as_deref() == Some(pem.as_slice()) {
        return Ok(());
    }
    fs::create_dir_all(SYSTEM_CA_DIR)
        .and_then(|()| fs::write(&installed, &pem))
        .with_context(|| {
            format!(
                "installing the test authority as {} (needs root; rocfl trusts only the system store)",
                installed.display()
            )
        })?;
    let output = Command::new("update-ca-certificates")
        .output()
        .context("running update-ca-certificates")?;
    anyhow::ensure!(
        output.status.success(),
        "update-ca-certificates failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "s3: trusted the local test authority {} system-wide ({})",
        ca.display(),
        installed.display()
    );
    Ok(())
}

/// A port nobody listens on now.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// `target/xtask-s3` of this workspace.
pub fn default_dir() -> PathBuf {
    let workspace = crate::bench::workspace_root();
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("xtask-s3")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_log_counts_requests_by_method_and_listings_apart() {
        let log = r#"WARNING: This is a development server.
 * Running on https://127.0.0.1:9443
127.0.0.1 - - [07/Dec/2026 10:26:54] "PUT /b/root/0=ocfl_1.1 HTTP/1.1" 200 -
127.0.0.1 - - [07/Dec/2026 10:26:54] "PUT /b/root/v1/content/a%20b HTTP/1.1" 200 -
127.0.0.1 - - [07/Dec/2026 10:26:54] "GET /b?delimiter=/&list-type=2&prefix=root/ HTTP/1.1" 200 -
127.0.0.1 - - [07/Dec/2026 10:26:54] "GET /b/root/inventory.json HTTP/1.1" 200 -
127.0.0.1 - - [07/Dec/2026 10:26:54] "GET /b/root/x?partNumber=1 HTTP/1.1" 200 -
127.0.0.1 - - [07/Dec/2026 10:26:54] "HEAD /b/root/inventory.json HTTP/1.1" 404 -
127.0.0.1 - - [07/Dec/2026 10:26:54] "POST /b/root/big?uploads HTTP/1.1" 200 -
127.0.0.1 - - [07/Dec/2026 10:26:54] "DELETE /b/root/tmp HTTP/1.1" 204 -
127.0.0.1 - - [07/Dec/2026 10:26:54] "POST /moto-api/reset HTTP/1.1" 200 -
"#;
        let counted = Requests::count(log);
        assert_eq!(
            counted,
            Requests {
                get: 2,
                head: 1,
                put: 2,
                post: 1,
                delete: 1,
                list: 1,
            }
        );
        assert_eq!(counted.total(), 8);
    }
}
