//! Who may ask: the Host check, the token (a bearer header for the API, a cookie set by the
//! login form for browsers), the CSRF token of actions, and the headers every answer
//! carries.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::App;
use crate::error::Failure;
use crate::urls::query_value;

/// The cookie the login form sets: a session secret drawn when the server starts (never the
/// token itself), HttpOnly and SameSite=Strict.
pub const COOKIE: &str = "ocfl_console";

/// The header (or form field `csrf`) an action carries unless it came with a bearer token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How a request proved it may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// No token is required (loopback without `--token`).
    Open,
    /// `Authorization: Bearer TOKEN`: sent only by clients that chose to, so no CSRF check.
    Bearer,
    /// The login cookie, which a browser attaches by itself: actions need the CSRF token.
    Cookie,
}

/// A random secret of 32 bytes, hex-encoded.
pub fn random_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares secrets in time independent of where they differ.
pub fn same_secret(given: &str, expected: &str) -> bool {
    let (given, expected) = (given.as_bytes(), expected.as_bytes());
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The token of the `Authorization: Bearer` header, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The value of the login cookie, if any.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// Checks every request: the Host header (against DNS rebinding, while the console answers
/// without a token on loopback), then the token, then adds the security headers.
pub async fn guard(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    if !app.options.allowed_hosts.is_empty() {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !app.options.allowed_hosts.iter().any(|a| a == host) {
            return secure(
                (StatusCode::MISDIRECTED_REQUEST, "unexpected Host header").into_response(),
            );
        }
    }
    let path = request.uri().path();
    let free = path == "/login" || path.starts_with("/assets/");
    let proof = match &app.options.token {
        None => Proof::Open,
        Some(token) => {
            if bearer(request.headers()).is_some_and(|t| same_secret(t, token)) {
                Proof::Bearer
            } else if cookie(request.headers()).is_some_and(|s| same_secret(s, &app.session)) {
                Proof::Cookie
            } else if free {
                Proof::Open
            } else if path.starts_with("/api/") {
                let mut response =
                    Failure::new(StatusCode::UNAUTHORIZED, "a bearer token is required")
                        .into_response();
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return secure(response);
            } else {
                let back = request
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                return secure(
                    Redirect::to(&format!("/login?next={}", query_value(&back))).into_response(),
                );
            }
        }
    };
    request.extensions_mut().insert(proof);
    secure(next.run(request).await)
}

/// Adds the headers every answer carries: no inline script or style runs (so a name that
/// slipped through escaping could still run nothing), no framing, no sniffing.
fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Refuses an action unless the console allows actions and, for a request a browser could
/// have been made to send (cookie or no token), it carries the CSRF token (header
/// [`CSRF_HEADER`] or form field `csrf`).
pub fn check_action(
    app: &App,
    proof: Proof,
    headers: &HeaderMap,
    form_csrf: Option<&str>,
) -> Result<(), Failure> {
    if !app.options.allow_actions {
        return Err(Failure::forbidden(
            "actions are disabled: start ocfl serve with --allow-actions",
        ));
    }
    if proof == Proof::Bearer {
        return Ok(());
    }
    let given = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .or(form_csrf);
    match given {
        Some(given) if same_secret(given, &app.csrf) => Ok(()),
        _ => Err(Failure::forbidden(
            "the CSRF token is missing or wrong: reload the page (API clients: GET /api/session)",
        )),
    }
}

/// Where a login may send the browser back to: a path of this server only.
pub fn local_target(next: Option<&str>) -> String {
    match next {
        Some(next) if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') => {
            next.to_owned()
        }
        _ => "/runs".to_owned(),
    }
}

/// The `Set-Cookie` value of a login.
pub fn login_cookie(session: &str) -> String {
    format!("{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", "abc"));
    }

    #[test]
    fn logins_only_send_back_to_this_server() {
        assert_eq!(local_target(Some("/objects?q=x")), "/objects?q=x");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "runs",
        ] {
            assert_eq!(local_target(Some(bad)), "/runs", "{bad}");
        }
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ocfl_console=tok; b=2"),
        );
        assert_eq!(cookie(&headers), Some("tok"));
    }
}
