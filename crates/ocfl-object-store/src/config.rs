//! Building an S3 store the way AWS tools are configured: from the environment.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::limit::LimitStore;
use object_store::{
    BackoffConfig, Certificate, ClientConfigKey, ClientOptions, ObjectStore, RetryConfig,
};
use ocfl_core::location::S3Location;
use tokio::runtime::Handle;

use crate::Error;
use crate::budget::Budget;
use crate::counting::CountingStore;
use crate::error::Redactor;
use crate::location::Keys;
use crate::profile::Profile;
use crate::runtime::Runtime;
use crate::store::{Inner, ObjectStorage};

/// The smallest part S3 accepts in a multipart upload (except the last one).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// The default of [`S3Builder::upload_memory`]: room for one 64 MiB file held whole (sent in
/// one PUT, see [`S3Builder::upload_memory`]) besides 1 MiB per request in flight and two
/// parts (`cargo xtask bench s3 --profile large --scale full`, docs/benchmarks.md).
const DEFAULT_UPLOAD_MEMORY: usize = 96 * 1024 * 1024;

/// The variable that sets [`S3Builder::upload_memory`] in MiB when the builder does not.
pub const UPLOAD_MEMORY_VAR: &str = "OCFL_S3_UPLOAD_MEMORY_MIB";

/// Options for an S3 (or S3-compatible) store, read from the environment as AWS tools read it.
///
/// | variable | meaning |
/// | --- | --- |
/// | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` | static credentials |
/// | `AWS_REGION` (or `AWS_DEFAULT_REGION`) | the region (default `us-east-1`) |
/// | `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT`) | an S3-compatible server, e.g. `http://127.0.0.1:9000` |
/// | `AWS_ALLOW_HTTP=true` | permit a plain-http endpoint |
/// | `AWS_CA_BUNDLE` | a PEM file of certificate authorities to trust in addition to the system's ([`S3Builder::ca_bundle`]) |
/// | `OCFL_S3_UPLOAD_MEMORY_MIB` | [`S3Builder::upload_memory`] in MiB (default 96) |
///
/// What the environment (or the builder's methods) leaves unset is taken from the profile
/// `AWS_PROFILE` names (`default` without it) in the AWS CLI's shared files,
/// `~/.aws/credentials` and `~/.aws/config` (or `AWS_SHARED_CREDENTIALS_FILE` and
/// `AWS_CONFIG_FILE`): `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`,
/// `region` and `endpoint_url` (an `s3 =` nested `endpoint_url` first). As for the AWS CLI,
/// the variables win over the profile, and a profile `AWS_PROFILE` names must exist. Roles,
/// SSO and `credential_process` in a profile are not followed.
///
/// Without static credentials from either, `object_store` falls back to web identity tokens
/// (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`), container credentials and the instance
/// metadata service.
#[derive(Debug, Clone)]
pub struct S3Builder {
    location: S3Location,
    endpoint: Option<String>,
    credentials: Option<(String, String, Option<String>)>,
    ca_bundle: Option<PathBuf>,
    part_size: usize,
    max_requests: usize,
    upload_memory: Option<usize>,
    max_retries: usize,
    retry_timeout: Duration,
    runtime: Option<Handle>,
    #[cfg(feature = "testing")]
    faults: Option<Arc<crate::faults::Faults>>,
}

impl S3Builder {
    /// Options for `location` with the defaults: 8 MiB parts, at most 16 requests in flight,
    /// 96 MiB of upload buffers, 10 retries with exponential backoff within 3 minutes.
    pub fn new(location: S3Location) -> S3Builder {
        S3Builder {
            location,
            endpoint: None,
            credentials: None,
            ca_bundle: None,
            part_size: 8 * 1024 * 1024,
            max_requests: 16,
            upload_memory: None,
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            runtime: None,
            #[cfg(feature = "testing")]
            faults: None,
        }
    }

    /// The server to talk to, overriding `AWS_ENDPOINT_URL`.
    pub fn endpoint(mut self, url: impl Into<String>) -> S3Builder {
        self.endpoint = Some(url.into());
        self
    }

    /// Static credentials, overriding `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_SESSION_TOKEN`.
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> S3Builder {
        self.credentials = Some((
            access_key_id.into(),
            secret_access_key.into(),
            session_token,
        ));
        self
    }

    /// A PEM file of certificate authorities to trust besides the system's, overriding
    /// `AWS_CA_BUNDLE` (for a server whose certificate a private authority signed).
    pub fn ca_bundle(mut self, pem_file: impl Into<PathBuf>) -> S3Builder {
        self.ca_bundle = Some(pem_file.into());
        self
    }

    /// The part size of multipart uploads (at least [`MIN_PART_SIZE`]); a file smaller than
    /// one part is sent in a single PUT. An upload holds at most a few parts in memory.
    pub fn part_size(mut self, bytes: usize) -> S3Builder {
        self.part_size = bytes.max(MIN_PART_SIZE);
        self
    }

    /// The most requests the store has in flight at once.
    pub fn max_requests(mut self, requests: usize) -> S3Builder {
        self.max_requests = requests.max(1);
        self
    }

    /// The most bytes that the uploads of the store (and its clones) hold in memory together:
    /// buffers being filled and parts on their way. An upload that would go past it waits for
    /// parts in flight to be answered. Raised if needed to two parts and 1 MiB per request
    /// allowed in flight. A file larger than a part whose size is known goes in one PUT if it
    /// fits in what is left after 1 MiB per request allowed in flight (a multipart upload
    /// costs some servers a second pass over the bytes); a larger one goes in parts.
    pub fn upload_memory(mut self, bytes: usize) -> S3Builder {
        self.upload_memory = Some(bytes);
        self
    }

    /// How often a request that failed with a server error, throttling or a timeout is retried
    /// (0: never), and within how long.
    pub fn retries(mut self, max_retries: usize, within: Duration) -> S3Builder {
        self.max_retries = max_retries;
        self.retry_timeout = within;
        self
    }

    /// Runs requests on the embedder's runtime instead of a runtime the store owns. The store's
    /// methods must then be called from threads that are not that runtime's async workers.
    pub fn runtime(mut self, handle: Handle) -> S3Builder {
        self.runtime = Some(handle);
        self
    }

    /// Fails requests as `faults` says (tests only): the faults sit above the client's
    /// retries, so an injected failure is what the caller sees once the client gave up.
    #[cfg(feature = "testing")]
    pub fn faults(mut self, faults: Arc<crate::faults::Faults>) -> S3Builder {
        self.faults = Some(faults);
        self
    }

    /// Builds the store. Nothing is sent to the server yet.
    pub fn build(self) -> Result<ObjectStorage, Error> {
        let keys = Keys::new(self.location.clone())?;
        let root = self.location.to_string();
        let config_error = |message: String| Error::Config {
            root: root.clone(),
            message,
        };
        let upload_memory = match self.upload_memory {
            Some(bytes) => bytes,
            None => {
                upload_memory_from(std::env::var(UPLOAD_MEMORY_VAR).ok()).map_err(&config_error)?
            }
        };
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(self.location.bucket());
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some((access_key_id, secret_access_key, session_token)) = &self.credentials {
            builder = builder
                .with_access_key_id(access_key_id)
                .with_secret_access_key(secret_access_key);
            if let Some(token) = session_token {
                builder = builder.with_token(token);
            }
        }
        builder = with_profile(builder, &|name| std::env::var(name).ok()).map_err(&config_error)?;
        let secrets: Vec<String> = [AmazonS3ConfigKey::SecretAccessKey, AmazonS3ConfigKey::Token]
            .iter()
            .filter_map(|key| builder.get_config_value(key))
            .collect();
        let redactor = Redactor::new(secrets);
        // The server the client will talk to, as its build picks it.
        let endpoint = builder
            .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
            .or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Endpoint))
            .filter(|endpoint| !endpoint.is_empty());

        // `with_client_options` replaces the client options `from_env` filled in, so the one
        // client setting read from the environment is carried over by hand.
        let mut options = ClientOptions::new();
        if let Some(allow_http) =
            builder.get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp))
        {
            options = options.with_config(ClientConfigKey::AllowHttp, allow_http);
        }
        let bundle = self.ca_bundle.clone().or_else(|| {
            std::env::var_os("AWS_CA_BUNDLE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        if let Some(bundle) = bundle {
            let pem = std::fs::read(&bundle).map_err(|e| {
                config_error(format!("reading the CA bundle {}: {e}", bundle.display()))
            })?;
            let certificates = Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|certificates| !certificates.is_empty())
                .ok_or_else(|| {
                    config_error(format!(
                        "the CA bundle {} holds no PEM certificate",
                        bundle.display()
                    ))
                })?;
            for certificate in certificates {
                options = options.with_root_certificate(certificate);
            }
        }
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        };
        let s3 = builder
            .with_client_options(options)
            .with_retry(retry)
            .build()
            .map_err(|e| config_error(redactor.redact(&e.to_string())))?;
        let runtime = match self.runtime {
            Some(handle) => Runtime::borrowed(handle),
            None => Runtime::owned(2)
                .map_err(|e| config_error(format!("starting the client's runtime: {e}")))?,
        };
        let requests = Arc::new(AtomicU64::new(0));
        let client: Arc<dyn ObjectStore> = Arc::new(s3);
        #[cfg(feature = "testing")]
        let client: Arc<dyn ObjectStore> = match &self.faults {
            Some(faults) => Arc::new(crate::faults::FaultyStore::new(client, Arc::clone(faults))),
            None => client,
        };
        Ok(ObjectStorage::from_inner(Inner {
            store: Arc::new(LimitStore::new(
                CountingStore::new(client, Arc::clone(&requests)),
                self.max_requests,
            )),
            requests,
            keys,
            endpoint,
            runtime,
            redactor,
            part_size: self.part_size,
            // Parts in flight per upload: with the part being filled, an upload holds at most
            // this many parts plus one in memory.
            parts_in_flight: (self.max_requests / 4).clamp(1, 4),
            budget: Budget::new(upload_memory, self.part_size, self.max_requests),
        }))
    }
}

/// The upload memory `OCFL_S3_UPLOAD_MEMORY_MIB` sets (`value`), or the default.
fn upload_memory_from(value: Option<String>) -> Result<usize, String> {
    match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_UPLOAD_MEMORY),
        Some(mib) => mib
            .parse::<usize>()
            .ok()
            .and_then(|mib| mib.checked_mul(1 << 20))
            .ok_or_else(|| format!("{UPLOAD_MEMORY_VAR}={mib:?} is not a number of MiB")),
    }
}

/// `builder` with what it leaves unset taken from the AWS profile the environment (`var`)
/// selects: credentials only when it has neither key (a key of one source is never paired
/// with a secret of the other), the region when neither `AWS_REGION` nor `AWS_DEFAULT_REGION`
/// gives one, the endpoint when none is set. The files are not read when nothing is unset.
fn with_profile(
    mut builder: AmazonS3Builder,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<AmazonS3Builder, String> {
    let unset = |builder: &AmazonS3Builder, key: AmazonS3ConfigKey| {
        builder
            .get_config_value(&key)
            .is_none_or(|value| value.is_empty())
    };
    let credentials = unset(&builder, AmazonS3ConfigKey::AccessKeyId)
        && unset(&builder, AmazonS3ConfigKey::SecretAccessKey);
    // `get_config_value` does not see `AWS_DEFAULT_REGION`, which the builder also reads.
    let region = unset(&builder, AmazonS3ConfigKey::Region)
        && var("AWS_DEFAULT_REGION").is_none_or(|value| value.is_empty());
    let endpoint = unset(&builder, AmazonS3ConfigKey::Endpoint)
        && unset(&builder, AmazonS3ConfigKey::S3Endpoint);
    if !(credentials || region || endpoint) {
        return Ok(builder);
    }
    let Some(profile) = Profile::load(var)? else {
        return Ok(builder);
    };
    if credentials
        && let (Some(id), Some(secret)) = (&profile.access_key_id, &profile.secret_access_key)
    {
        builder = builder
            .with_access_key_id(id)
            .with_secret_access_key(secret);
        if let Some(token) = &profile.session_token {
            builder = builder.with_token(token);
        }
    }
    if region && let Some(value) = &profile.region {
        builder = builder.with_region(value);
    }
    if endpoint && let Some(value) = &profile.endpoint_url {
        builder = builder.with_endpoint(value);
    }
    Ok(builder)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_upload_memory_variable_is_read_in_mib() {
        assert_eq!(upload_memory_from(None), Ok(DEFAULT_UPLOAD_MEMORY));
        assert_eq!(
            upload_memory_from(Some(" ".into())),
            Ok(DEFAULT_UPLOAD_MEMORY)
        );
        assert_eq!(upload_memory_from(Some("128".into())), Ok(128 << 20));
        let refused = upload_memory_from(Some("lots".into())).unwrap_err();
        assert!(refused.contains(UPLOAD_MEMORY_VAR), "{refused}");
    }

    /// A HOME whose default profile sets keys, region and endpoint; the variables `vars`.
    fn env(vars: &[(&str, &str)]) -> (tempfile::TempDir, HashMap<String, String>) {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(
            home.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = PROFILEKEY\naws_secret_access_key = profile-secret\n",
        )
        .unwrap();
        std::fs::write(
            home.path().join(".aws/config"),
            "[default]\nregion = eu-north-1\nendpoint_url = http://profile.example:9000\n",
        )
        .unwrap();
        let mut env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.insert("HOME".into(), home.path().display().to_string());
        (home, env)
    }

    fn value(builder: &AmazonS3Builder, key: AmazonS3ConfigKey) -> Option<String> {
        builder.get_config_value(&key)
    }

    #[test]
    fn the_profile_fills_what_the_environment_leaves_unset() {
        let (_home, env) = env(&[]);
        let builder = with_profile(AmazonS3Builder::new(), &|n| env.get(n).cloned()).unwrap();
        assert_eq!(
            value(&builder, AmazonS3ConfigKey::AccessKeyId).as_deref(),
            Some("PROFILEKEY")
        );
        assert_eq!(
            value(&builder, AmazonS3ConfigKey::SecretAccessKey).as_deref(),
            Some("profile-secret")
        );
        assert_eq!(
            value(&builder, AmazonS3ConfigKey::Region).as_deref(),
            Some("eu-north-1")
        );
        assert_eq!(
            value(&builder, AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://profile.example:9000")
        );
    }

    #[test]
    fn the_environment_wins_over_the_profile() {
        let (_home, env) = env(&[("AWS_DEFAULT_REGION", "sa-east-1")]);
        let builder = AmazonS3Builder::new()
            .with_access_key_id("ENVKEY")
            .with_secret_access_key("env-secret")
            .with_endpoint("http://env.example:9000");
        let builder = with_profile(builder, &|n| env.get(n).cloned()).unwrap();
        assert_eq!(
            value(&builder, AmazonS3ConfigKey::AccessKeyId).as_deref(),
            Some("ENVKEY")
        );
        assert_eq!(
            value(&builder, AmazonS3ConfigKey::SecretAccessKey).as_deref(),
            Some("env-secret")
        );
        // AWS_DEFAULT_REGION is the builder's to read: the profile's region is not set.
        assert_eq!(value(&builder, AmazonS3ConfigKey::Region), None);
        assert_eq!(
            value(&builder, AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://env.example:9000")
        );
    }

    #[test]
    fn an_s3_endpoint_variable_keeps_the_profiles_endpoint_out() {
        let (_home, env) = env(&[]);
        let builder = AmazonS3Builder::new()
            .with_config(AmazonS3ConfigKey::S3Endpoint, "http://s3-only.example:9000");
        let builder = with_profile(builder, &|n| env.get(n).cloned()).unwrap();
        assert_eq!(value(&builder, AmazonS3ConfigKey::Endpoint), None);
    }

    /// The store says the endpoint it talks to, which keys the default engine store.
    #[test]
    fn the_store_names_its_endpoint() {
        let location = S3Location::new("bucket", "root").unwrap();
        let storage = S3Builder::new(location.clone())
            .endpoint("http://127.0.0.1:9")
            .credentials("key", "secret", None)
            .build()
            .unwrap();
        assert_eq!(storage.endpoint(), Some("http://127.0.0.1:9"));
        assert_eq!(
            storage.with_prefix("other").unwrap().endpoint(),
            Some("http://127.0.0.1:9")
        );
    }

    #[test]
    fn a_key_without_its_secret_is_not_paired_with_the_profiles() {
        let (_home, env) = env(&[]);
        let builder = AmazonS3Builder::new().with_access_key_id("ENVKEY");
        let builder = with_profile(builder, &|n| env.get(n).cloned()).unwrap();
        assert_eq!(
            value(&builder, AmazonS3ConfigKey::AccessKeyId).as_deref(),
            Some("ENVKEY")
        );
        assert_eq!(value(&builder, AmazonS3ConfigKey::SecretAccessKey), None);
    }
}
