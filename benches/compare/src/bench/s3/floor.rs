//! The floors of `bench s3`, each its own process timed like the others: a plain parallel
//! upload of a source tree with `object_store`, 16 requests in flight, nothing else (no
//! digests, no inventory, no engine: `ocfl-bench-compare bench s3-floor-once`); and a plain parallel read
//! of every key below a prefix, one listing and then one GET per key, 16 in flight (`ocfl-bench-compare
//! bench s3-read-floor-once`), which is what validating a root with fixity costs the server
//! at the least.
//!
//! A file is one PUT of its bytes (read whole; the floor holds up to 16 files in memory): S3
//! takes up to 5 GiB in one PUT, and one request per file is the least any uploader sends.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as Key;
use object_store::{
    Certificate, ClientConfigKey, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig,
};

use crate::bench::commit::tree::list_files;

/// Requests in flight, as the issue states the floor.
pub const IN_FLIGHT: usize = 16;

/// `bench s3-floor-once`'s command line.
#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// The bucket.
    #[arg(long)]
    bucket: String,
    /// The key prefix the tree goes below.
    #[arg(long)]
    prefix: String,
    /// The source tree.
    source: PathBuf,
}

/// `bench s3-read-floor-once`'s command line.
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// The bucket.
    #[arg(long)]
    bucket: String,
    /// The key prefix read below.
    #[arg(long)]
    prefix: String,
}

/// `s3-floor-once ARGS`: uploads SOURCE below `s3://B/P/`.
pub fn run_once(args: UploadArgs) -> anyhow::Result<std::process::ExitCode> {
    let UploadArgs {
        bucket,
        prefix,
        source,
    } = args;
    let uploaded = upload_tree(&bucket, &prefix, &source)?;
    println!("{uploaded}");
    Ok(std::process::ExitCode::SUCCESS)
}

/// `s3-read-floor-once ARGS`: reads every key below `s3://B/P/`.
pub fn read_once(args: ReadArgs) -> anyhow::Result<std::process::ExitCode> {
    let ReadArgs { bucket, prefix } = args;
    let store = store(&bucket)?;
    let runtime = runtime()?;
    let (keys, bytes) = runtime.block_on(async {
        let prefix = Key::from(prefix);
        let keys: Vec<Key> = store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        let bytes = futures::stream::iter(keys.iter().cloned())
            .map(|key| {
                let store = Arc::clone(&store);
                async move {
                    let bytes = store
                        .get(&key)
                        .await
                        .with_context(|| format!("GET {key}"))?
                        .bytes()
                        .await
                        .with_context(|| format!("GET {key}"))?;
                    anyhow::Ok(bytes.len())
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .try_fold(0usize, |sum, n| async move { Ok(sum + n) })
            .await?;
        anyhow::Ok((keys.len(), bytes))
    })?;
    println!("{keys} keys, {bytes} bytes");
    Ok(std::process::ExitCode::SUCCESS)
}

/// Two workers, as `ocfl`'s client runtime has.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn store(bucket: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let builder = AmazonS3Builder::from_env();
    let mut options = allow_http_as_set(&builder);
    if let Some(bundle) = std::env::var_os("AWS_CA_BUNDLE").filter(|v| !v.is_empty()) {
        let pem = std::fs::read(&bundle)
            .with_context(|| format!("reading {}", Path::new(&bundle).display()))?;
        for certificate in Certificate::from_pem_bundle(&pem)? {
            options = options.with_root_certificate(certificate);
        }
    }
    let store = builder
        .with_bucket_name(bucket)
        .with_client_options(options)
        .with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(60),
            ..RetryConfig::default()
        })
        .build()?;
    Ok(Arc::new(store))
}

/// Client options carrying over `AWS_ALLOW_HTTP` as `from_env` read it into `builder`
/// (`with_client_options` replaces the options it filled in), so the floor runs against a
/// plain-http server as `ocfl` does.
fn allow_http_as_set(builder: &AmazonS3Builder) -> ClientOptions {
    let key = AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp);
    match builder.get_config_value(&key) {
        Some(allow) => ClientOptions::new().with_config(ClientConfigKey::AllowHttp, allow),
        None => ClientOptions::new(),
    }
}

/// Uploads every file of `source` to `prefix/<relative path>`; returns how many.
fn upload_tree(bucket: &str, prefix: &str, source: &Path) -> anyhow::Result<usize> {
    let files = list_files(source)?;
    let count = files.len();
    let store = store(bucket)?;
    runtime()?.block_on(async {
        futures::stream::iter(files)
            .map(|file| {
                let store = Arc::clone(&store);
                let path = source.join(&file.path);
                let key = Key::from(format!("{prefix}/{}", file.path));
                async move {
                    // A local read from the page cache: not worth a blocking-pool hop.
                    let bytes = std::fs::read(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    store
                        .put(&key, bytes.into())
                        .await
                        .with_context(|| format!("PUT {key}"))?;
                    anyhow::Ok(())
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<()>()
            .await
    })?;
    Ok(count)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_allowed_as_the_environment_says() {
        let key = AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp);
        let allowed = AmazonS3Builder::new().with_config(key, "true");
        let built = AmazonS3Builder::new().with_client_options(allow_http_as_set(&allowed));
        assert_eq!(built.get_config_value(&key).as_deref(), Some("true"));
        let unset = allow_http_as_set(&AmazonS3Builder::new());
        let built = AmazonS3Builder::new().with_client_options(unset);
        assert_ne!(built.get_config_value(&key).as_deref(), Some("true"));
    }
}
