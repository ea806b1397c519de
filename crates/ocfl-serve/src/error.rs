//! Why a request was refused, as the API (a JSON body) and the pages (an HTML page) say it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ocfl_core::object::ObjectError;
use ocfl_durable::CommitError;

/// A refused or failed request: an HTTP status and a message for people.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The status.
    pub status: StatusCode,
    /// What went wrong; user content in it is escaped wherever it is shown.
    pub message: String,
}

impl Failure {
    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: nothing of that name.
    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::NOT_FOUND, message)
    }

    /// 403: not allowed, whoever asks.
    pub fn forbidden(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::FORBIDDEN, message)
    }

    /// 500: the server could not answer.
    pub fn internal(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// Any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }
}

impl From<ObjectError> for Failure {
    fn from(error: ObjectError) -> Failure {
        let status = match &error {
            // An id whose place in the root holds no object, or another object, is not in
            // the root.
            e if e.is_not_found() => StatusCode::NOT_FOUND,
            ObjectError::IdMismatch { .. }
            | ObjectError::NotADirectory { .. }
            | ObjectError::NotAnObject { .. } => StatusCode::NOT_FOUND,
            ObjectError::Layout { .. } | ObjectError::NoLayout => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure::new(status, error.to_string())
    }
}

impl From<CommitError> for Failure {
    fn from(error: CommitError) -> Failure {
        let status = match &error {
            CommitError::UnknownRun(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure::new(status, error.to_string())
    }
}

impl From<tokio::task::JoinError> for Failure {
    fn from(error: tokio::task::JoinError) -> Failure {
        Failure::internal(format!("a request's task failed: {error}"))
    }
}

/// The API's form of a failure: `{"error": MESSAGE}` with its status.
impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}
