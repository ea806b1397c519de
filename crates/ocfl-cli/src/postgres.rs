//! `--backend postgres://...`: which URLs the option takes, and connecting. Reading the URL
//! and keeping its password out of messages is `durable_postgres::PostgresUrl`'s.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use durable_core::Backend;
use durable_postgres::{PostgresBackend, PostgresError, PostgresUrl, hide_password};

use crate::args::UsageError;

/// Reads a `--backend` value: a `postgres://` or `postgresql://` URL, or a usage error that
/// says what is expected (with any password in the value hidden).
pub fn parse(text: &str) -> Result<PostgresUrl, UsageError> {
    let postgres = ["postgres://", "postgresql://"]
        .iter()
        .any(|scheme| strip_prefix_ignore_case(text, scheme).is_some());
    if !postgres {
        return Err(UsageError(format!(
            "unsupported --backend {:?}: expected postgres://USER:PASSWORD@HOST[:PORT]/DATABASE \
             (or no --backend for the embedded store)",
            hide_password(text)
        )));
    }
    PostgresUrl::parse(text).map_err(|error| invalid(text, &error))
}

/// The usage error of a URL the driver cannot read.
fn invalid(text: &str, error: &PostgresError) -> UsageError {
    let why = match error {
        PostgresError::InvalidUrl(why) => why.clone(),
        other => other.to_string(),
    };
    UsageError(format!(
        "invalid --backend URL {}: {why}",
        hide_password(text)
    ))
}

/// Connects to the database (creating or upgrading the engine's schema in it). Errors name
/// the host and database, never the password; a URL the driver cannot read is a usage error.
pub async fn connect(url: &PostgresUrl) -> Result<Arc<dyn Backend>> {
    match PostgresBackend::connect(url.as_str()).await {
        Ok(backend) => Ok(Arc::new(backend)),
        Err(error @ PostgresError::InvalidUrl(_)) => Err(invalid(url.as_str(), &error).into()),
        Err(error) => Err(anyhow!("{}", url.redact(&error.to_string())))
            .with_context(|| format!("the engine's store, {}", url.describe())),
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_described_without_its_password_as_written_or_decoded() {
        let url = parse("postgres://ocfl:s%40cret@db.example.org:5433/archive?sslmode=disable")
            .expect("a postgres URL");
        assert_eq!(
            url.describe(),
            "PostgreSQL at db.example.org:5433 (database archive, user ocfl)"
        );
        assert_eq!(
            url.redact("failed: password s@cret or s%40cret rejected"),
            "failed: password *** or *** rejected"
        );
        let bare = parse("postgresql:///local").expect("no host");
        assert_eq!(bare.describe(), "PostgreSQL at localhost (database local)");
    }

    #[test]
    fn other_schemes_and_unreadable_urls_are_refused_with_their_password_hidden() {
        let error = parse("mysql://root:hunter2@db/x")
            .expect_err("refused")
            .to_string();
        assert!(error.contains("mysql://root:***@db/x"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("postgres://"), "{error}");
        assert!(parse("/var/lib/state.redb").is_err());
        let error = parse("postgres://u:hunter2@h:x/d")
            .expect_err("a bad port")
            .to_string();
        assert!(
            error.starts_with("invalid --backend URL postgres://u:***@h:x/d"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }
}
