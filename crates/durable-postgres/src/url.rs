//! PostgreSQL connection URLs: read once with `tokio_postgres::Config`, described for people
//! by host, database and user, and their password kept out of every message, as written in
//! the URL and percent-decoded.

use percent_encoding::percent_decode_str;
use tokio_postgres::Config;
use tokio_postgres::config::Host;

use crate::PostgresError;

/// A PostgreSQL URL (`postgres://user:password@host:port/database?...`, or libpq's
/// `key=value` form), with what messages may show of it.
///
/// ```
/// use durable_postgres::PostgresUrl;
///
/// let url = PostgresUrl::parse("postgres://ocfl:s%40cret@db.example.org:5433/archive")?;
/// assert_eq!(
///     url.describe(),
///     "PostgreSQL at db.example.org:5433 (database archive, user ocfl)"
/// );
/// assert_eq!(url.redact("password s@cret rejected"), "password *** rejected");
/// # Ok::<(), durable_postgres::PostgresError>(())
/// ```
#[derive(Clone)]
pub struct PostgresUrl {
    text: String,
    config: Config,
    secrets: Vec<String>,
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PostgresUrl")
            .field(&hide_password(&self.text))
            .finish()
    }
}

impl PostgresUrl {
    /// Reads `text` as `tokio_postgres` does; an error names it with its password hidden.
    pub fn parse(text: &str) -> Result<PostgresUrl, PostgresError> {
        let secrets = secrets_of(text);
        let config: Config = text.parse().map_err(|error: tokio_postgres::Error| {
            PostgresError::InvalidUrl(redact_secrets(&error.to_string(), &secrets))
        })?;
        Ok(PostgresUrl {
            text: text.to_owned(),
            config,
            secrets,
        })
    }

    /// The URL as given, password included: only for connecting.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The connection settings it holds.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `PostgreSQL at HOST[:PORT] (database D, user U)`, for messages.
    pub fn describe(&self) -> String {
        let ports = self.config.get_ports();
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let name = host_name(host);
                // The driver gives every host of a URL its port (5432 unless written).
                match ports.get(i) {
                    Some(port) => format!("{name}:{port}"),
                    None => name,
                }
            })
            .collect();
        let host = match hosts.is_empty() {
            true => "localhost".to_owned(),
            false => hosts.join(","),
        };
        let mut details = Vec::new();
        if let Some(database) = self.config.get_dbname() {
            details.push(format!("database {database}"));
        }
        if let Some(user) = self.config.get_user() {
            details.push(format!("user {user}"));
        }
        match details.is_empty() {
            true => format!("PostgreSQL at {host}"),
            false => format!("PostgreSQL at {host} ({})", details.join(", ")),
        }
    }

    /// `text` with the password, as written and percent-decoded, replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        redact_secrets(text, &self.secrets)
    }
}

/// `user@host:port/database` of `config`, without the password (for connection errors).
pub(crate) fn target(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map_or_else(|| "localhost".to_owned(), host_name);
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

fn host_name(host: &Host) -> String {
    match host {
        Host::Tcp(name) => name.clone(),
        Host::Unix(path) => path.display().to_string(),
    }
}

/// `message` with the password of `url` (as written and percent-decoded) replaced by `***`.
pub(crate) fn redact(message: &str, url: &str) -> String {
    redact_secrets(message, &secrets_of(url))
}

/// Any `scheme://user:password@` in `text` with the password hidden: for a URL that did not
/// parse, or one of another scheme, which may still hold a password.
pub fn hide_password(text: &str) -> String {
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

/// The password of `url`, as written and percent-decoded (`password=` of the `key=value`
/// form is left to the driver, whose errors do not echo it).
fn secrets_of(url: &str) -> Vec<String> {
    let Some(written) = password_of(url).filter(|p| !p.is_empty()) else {
        return Vec::new();
    };
    let decoded = percent_decode_str(written).decode_utf8_lossy().into_owned();
    let mut secrets = vec![written.to_owned()];
    if decoded != written && !decoded.is_empty() {
        secrets.push(decoded);
    }
    secrets
}

fn redact_secrets(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        text = text.replace(secret.as_str(), "***");
    }
    text
}

/// The password part of `scheme://user:password@host...`, as written in the URL.
fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
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
        assert_eq!(
            url.describe(),
            "PostgreSQL at db.example.org:5433 (database archive, user ocfl)"
        );
        assert_eq!(
            url.redact("failed: password s@cret or s%40cret rejected"),
            "failed: password *** or *** rejected"
        );
        assert!(!format!("{url:?}").contains("cret"));
        let bare = PostgresUrl::parse("postgresql:///local").expect("no host");
        assert_eq!(bare.describe(), "PostgreSQL at localhost (database local)");
        let two = PostgresUrl::parse("postgres://a,b:6000/d").expect("two hosts");
        assert_eq!(two.describe(), "PostgreSQL at a:5432,b:6000 (database d)");
    }

    #[test]
    fn passwords_are_redacted_as_written_and_decoded() {
        let url = "postgres://user:s3cret@localhost:5432/db?options=-csearch_path%3Dx";
        assert_eq!(password_of(url), Some("s3cret"));
        assert_eq!(redact("bad s3cret here", url), "bad *** here");
        assert_eq!(password_of("postgres://user@localhost/db"), None);
        assert_eq!(redact("as is", "postgres://localhost/db"), "as is");
        assert_eq!(
            redact("p%25w or p%w", "postgres://u:p%25w@h/d"),
            "*** or ***"
        );
    }

    #[test]
    fn an_unreadable_url_is_refused_without_its_password() {
        let error = PostgresUrl::parse("postgres://u:hunter2@h:notaport/d")
            .expect_err("a bad port")
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
        assert_eq!(
            hide_password("mysql://root:hunter2@db/x"),
            "mysql://root:***@db/x"
        );
        assert_eq!(hide_password("/var/lib/state.redb"), "/var/lib/state.redb");
    }
}
