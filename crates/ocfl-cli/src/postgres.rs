//! `--backend postgres://...`: reading the URL (for messages that name the host and never
//! the password) and connecting.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use durable_core::Backend;
use durable_postgres::{PostgresBackend, PostgresError};

use crate::args::UsageError;

/// A PostgreSQL URL from `--backend`, with what messages may show of it.
pub struct PostgresUrl {
    /// The URL as given (with its password: only for connecting).
    url: String,
    /// The password as written in the URL, and percent-decoded: both are kept out of
    /// messages.
    secrets: Vec<String>,
    /// `HOST[:PORT]` (or the hosts of a list), for messages.
    host: String,
    /// The database, if the URL names one.
    database: Option<String>,
    /// The user, if the URL names one.
    user: Option<String>,
}

impl PostgresUrl {
    /// Reads a `--backend` value: a `postgres://` or `postgresql://` URL, or a usage error
    /// that says what is expected (with any password in the value hidden).
    pub fn parse(text: &str) -> Result<PostgresUrl, UsageError> {
        let rest = ["postgres://", "postgresql://"]
            .iter()
            .find_map(|scheme| strip_prefix_ignore_case(text, scheme));
        let Some(rest) = rest else {
            return Err(UsageError(format!(
                "unsupported --backend {:?}: expected postgres://USER:PASSWORD@HOST[:PORT]/DATABASE \
                 (or no --backend for the embedded store)",
                hide_password(text)
            )));
        };
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (userinfo, host) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (Some(user), Some(password)),
                None => (Some(info), None),
            },
            None => (None, None),
        };
        let database = tail
            .strip_prefix('/')
            .map(|t| t.split('?').next().unwrap_or_default())
            .filter(|d| !d.is_empty())
            .map(percent_decode);
        let mut secrets = Vec::new();
        if let Some(password) = password.filter(|p| !p.is_empty()) {
            secrets.push(password.to_owned());
            secrets.push(percent_decode(password));
        }
        Ok(PostgresUrl {
            url: text.to_owned(),
            secrets,
            host: if host.is_empty() {
                "localhost".to_owned()
            } else {
                host.to_owned()
            },
            database,
            user: user.filter(|u| !u.is_empty()).map(percent_decode),
        })
    }

    /// `PostgreSQL at HOST (database D, user U)`.
    pub fn describe(&self) -> String {
        let mut details = Vec::new();
        if let Some(database) = &self.database {
            details.push(format!("database {database}"));
        }
        if let Some(user) = &self.user {
            details.push(format!("user {user}"));
        }
        match details.is_empty() {
            true => format!("PostgreSQL at {}", self.host),
            false => format!("PostgreSQL at {} ({})", self.host, details.join(", ")),
        }
    }

    /// `text` with the password replaced by `***` wherever it appears.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }
}

/// Connects to the database (creating or upgrading the engine's schema in it). Errors name
/// the host and database, never the password; a URL the driver cannot read is a usage error.
pub async fn connect(url: &PostgresUrl) -> Result<Arc<dyn Backend>> {
    match PostgresBackend::connect(&url.url).await {
        Ok(backend) => Ok(Arc::new(backend)),
        Err(PostgresError::InvalidUrl(why)) => Err(UsageError(format!(
            "invalid --backend URL {}: {}",
            url.redact(&hide_password(&url.url)),
            url.redact(&why)
        ))
        .into()),
        Err(error) => Err(anyhow!("{}", url.redact(&error.to_string())))
            .with_context(|| format!("the engine's store, {}", url.describe())),
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Any `scheme://user:password@` in `text` with the password hidden (for URLs we do not
/// support, which may still hold one).
fn hide_password(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_owned();
    };
    let authority_end = text[start..]
        .find(['/', '?'])
        .map_or(text.len(), |i| start + i);
    let authority = &text[start..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => {
            format!("{}***{}", &text[..start + colon + 1], &text[start + at..])
        }
        _ => text.to_owned(),
    }
}

/// `%XX` escapes decoded (invalid ones kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_described_by_host_database_and_user_without_its_password() {
        let url = PostgresUrl::parse(
            "postgres://ocfl:s%40cret@db.example.org:5433/archive?sslmode=disable",
        )
        .expect("a postgres URL");
        let shown = url.describe();
        assert_eq!(
            shown,
            "PostgreSQL at db.example.org:5433 (database archive, user ocfl)"
        );
        assert_eq!(
            url.redact("failed: password s@cret or s%40cret rejected"),
            "failed: password *** or *** rejected"
        );
        let bare = PostgresUrl::parse("postgresql:///local").expect("no host");
        assert_eq!(bare.describe(), "PostgreSQL at localhost (database local)");
    }

    #[test]
    fn other_schemes_are_refused_with_their_password_hidden() {
        let error = PostgresUrl::parse("mysql://root:hunter2@db/x")
            .err()
            .expect("refused")
            .to_string();
        assert!(error.contains("mysql://root:***@db/x"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("postgres://"), "{error}");
        assert!(PostgresUrl::parse("/var/lib/state.redb").is_err());
        assert!(PostgresUrl::parse("POSTGRES://h/d").is_ok());
    }
}
