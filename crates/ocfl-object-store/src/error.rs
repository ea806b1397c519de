//! What can go wrong talking to an object store. Every variant that concerns a key names it as
//! a URL (`s3://bucket/key`), and messages never carry a credential: text that comes from the
//! client or the server passes through [`Redactor`] first.

use std::io;

/// Why an object-store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path would name a key outside the store's prefix, or is not a relative path.
    #[error("refusing path {path:?} under {root}: not a relative path inside the storage root")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// The root it was given for (`s3://bucket/prefix`).
        root: String,
    },
    /// The bucket or prefix of a location is malformed.
    #[error("invalid location {location:?}: {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The client could not be configured (credentials, endpoint, certificates).
    #[error("configuring the client for {root}: {message}")]
    Config {
        /// The root being configured (`s3://bucket/prefix`).
        root: String,
        /// What failed.
        message: String,
    },
    /// No key (and, for a directory, no key below it) exists at this location.
    #[error("{url}: not found")]
    NotFound {
        /// The location (`s3://bucket/key`).
        url: String,
    },
    /// A write with `If-None-Match: *` found the key already present.
    #[error("{url}: already exists (PreconditionFailed)")]
    AlreadyExists {
        /// The location (`s3://bucket/key`).
        url: String,
    },
    /// A write with `If-Match` found another version of the key.
    #[error("{url}: changed since it was read (PreconditionFailed)")]
    PreconditionFailed {
        /// The location (`s3://bucket/key`).
        url: String,
    },
    /// The server refused the request or could not be reached (after retries).
    #[error("{op} {url}: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
    Request {
        /// The operation (`get`, `put`, `list`, ...).
        op: &'static str,
        /// The location (`s3://bucket/key`).
        url: String,
        /// The server's error code (`NoSuchBucket`, `AccessDenied`, `SlowDown`, ...), when
        /// it sent one.
        code: Option<String>,
        /// The client's description of the failure, with credentials removed.
        message: String,
    },
    /// Reading the bytes to upload failed, or an upload was used after it failed.
    #[error("{op} {url}: {source}")]
    Io {
        /// The operation (`upload`, ...).
        op: &'static str,
        /// The location (`s3://bucket/key`).
        url: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The store's runtime stopped before a request finished.
    #[error("{op} {url}: the object store's runtime stopped: {message}")]
    Runtime {
        /// The operation.
        op: &'static str,
        /// The location (`s3://bucket/key`).
        url: String,
        /// What the runtime said.
        message: String,
    },
}

impl Error {
    /// Whether the error means the key (or directory) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Whether a conditional write lost: the key existed (`If-None-Match: *`) or had changed
    /// (`If-Match`).
    pub fn is_precondition_failed(&self) -> bool {
        matches!(
            self,
            Error::AlreadyExists { .. } | Error::PreconditionFailed { .. }
        )
    }

    /// The server's error code, when the server sent one.
    pub fn server_code(&self) -> Option<&str> {
        match self {
            Error::Request { code, .. } => code.as_deref(),
            Error::AlreadyExists { .. } | Error::PreconditionFailed { .. } => {
                Some("PreconditionFailed")
            }
            _ => None,
        }
    }
}

/// Removes the configured secrets from text that is about to become an error message.
///
/// `object_store` does not put credentials into its errors today, but a message that echoes a
/// request or a server's body must not be trusted to stay that way.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub(crate) fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        Redactor {
            // Very short values would blank out ordinary words; real secrets are long.
            secrets: secrets.into_iter().filter(|s| s.len() >= 4).collect(),
        }
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "<redacted>");
            }
        }
        text
    }

    /// Maps an `object_store` error for `op` on `url`.
    pub(crate) fn map(&self, op: &'static str, url: String, error: object_store::Error) -> Error {
        let full = self.redact(&chain(&error));
        let code = element(&full, "Code");
        let message = one_line(&full);
        match error {
            // A missing bucket is a wrong location, not a missing key: the caller must not
            // take it for an absent file.
            object_store::Error::NotFound { .. } if code.as_deref() != Some("NoSuchBucket") => {
                Error::NotFound { url }
            }
            object_store::Error::AlreadyExists { .. } => Error::AlreadyExists { url },
            object_store::Error::Precondition { .. } => Error::PreconditionFailed { url },
            _ => Error::Request {
                op,
                code,
                url,
                message,
            },
        }
    }
}

/// The error and its sources, one after another.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// The text of element `name` (`Code`, `Message`) of an S3 error body quoted in a message.
fn element(message: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = message.find(&open)? + open.len();
    let length = message[start..].find(&format!("</{name}>"))?;
    let text = message[start..start + length].trim();
    let plain = !text.is_empty() && !text.contains(['<', '>', '\n']);
    plain.then(|| text.to_owned())
}

/// The client's message without the XML body it quotes (whose code is reported apart), with
/// the server's own message kept, on one line.
fn one_line(message: &str) -> String {
    let mut text = match message.find("<?xml").or_else(|| message.find("<Error>")) {
        Some(body) => message[..body].trim_end().trim_end_matches(':').to_owned(),
        None => message.to_owned(),
    };
    if let Some(server_message) = element(message, "Message") {
        text.push_str(": ");
        text.push_str(&server_message);
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_from_error_bodies() {
        let body = "Error performing PUT http://h/b/k: status 403 Forbidden: \
                    <?xml version=\"1.0\"?>\n<Error><Code>SignatureDoesNotMatch</Code>\
                    <Message>The signature does not match.</Message></Error>";
        assert_eq!(
            element(body, "Code").as_deref(),
            Some("SignatureDoesNotMatch")
        );
        assert_eq!(
            one_line(body),
            "Error performing PUT http://h/b/k: status 403 Forbidden: The signature does not match."
        );
        assert_eq!(element("no body", "Code"), None);
        assert_eq!(element("<Code></Code>", "Code"), None);
        assert_eq!(one_line("a\n  b"), "a b");
    }

    #[test]
    fn secrets_are_redacted() {
        let redactor = Redactor::new(["hunter2-secret".to_owned(), "x".to_owned()]);
        assert_eq!(
            redactor.redact("signed with hunter2-secret by x"),
            "signed with <redacted> by x"
        );
    }
}
