//! Test support shared by the workspace's test suites, as a dev-dependency only (never
//! published, never in a library's API).
//!
//! Tests that need a service (PostgreSQL, an S3-compatible server) find it through a
//! variable (`OCFL_TEST_POSTGRES_URL`, ...). Without it they say they are skipped and pass, so
//! `cargo test` works on a laptop; but CI must never go green without them, so with
//! [`REQUIRE_SERVICES`]`=1` (which `.ci/run` exports) a missing service fails the test instead.
//! Peers CI installs (ocfl-py) follow the same rule ([`skip_installed_peer`]); checks against
//! peers that CI does not install (rocfl) are exempt: [`skip_exempt`].
//! [`tls`] makes the certificates of TLS test servers; [`heap`] counts a test binary's heap.
//!
//! ```
//! // In a test: `let Some(url) = test_support::service("OCFL_TEST_POSTGRES_URL", "PostgreSQL")
//! // else { return };`
//! let lookup = |name: &str| (name == "MY_URL").then(|| "postgres://db".to_owned());
//! assert_eq!(
//!     test_support::service_from(lookup, "MY_URL", "PostgreSQL"),
//!     Some("postgres://db".to_owned())
//! );
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod heap;
pub mod tls;

/// The variable that turns a skip for a missing service into a failure (when set to `1`).
pub const REQUIRE_SERVICES: &str = "OCFL_TEST_REQUIRE_SERVICES";

/// The value of `variable`, which points the tests at `service`; without it, `None` after
/// printing that the test is skipped, or a panic (a failed test) when
/// `OCFL_TEST_REQUIRE_SERVICES=1`.
pub fn service(variable: &str, service: &str) -> Option<String> {
    service_from(|name| std::env::var(name).ok(), variable, service)
}

/// [`service`], reading the environment through `var`.
///
/// # Panics
///
/// When `variable` is unset or empty and `OCFL_TEST_REQUIRE_SERVICES` is `1`: that is the
/// point, a test that would have been skipped fails.
pub fn service_from(
    var: impl Fn(&str) -> Option<String>,
    variable: &str,
    service: &str,
) -> Option<String> {
    if let Some(value) = var(variable).filter(|v| !v.is_empty()) {
        return Some(value);
    }
    if var(REQUIRE_SERVICES).as_deref() == Some("1") {
        panic!(
            "{REQUIRE_SERVICES}=1 but {variable} is not set: the {service} tests must run here, \
             not be skipped (set {variable}, or unset {REQUIRE_SERVICES})"
        );
    }
    eprintln!("skipped: the {service} tests need {variable} (set it to run them)");
    None
}

/// Says that a check against `peer`, a tool CI installs (ocfl-py), is skipped because the
/// tool is missing; a panic (a failed test) when `OCFL_TEST_REQUIRE_SERVICES=1`, like a
/// missing service.
pub fn skip_installed_peer(peer: &str, why: &str) {
    skip_installed_peer_from(|name| std::env::var(name).ok(), peer, why);
}

/// [`skip_installed_peer`], reading the environment through `var`.
///
/// # Panics
///
/// When `OCFL_TEST_REQUIRE_SERVICES` is `1`.
pub fn skip_installed_peer_from(var: impl Fn(&str) -> Option<String>, peer: &str, why: &str) {
    if var(REQUIRE_SERVICES).as_deref() == Some("1") {
        panic!(
            "{REQUIRE_SERVICES}=1 but {peer} is not installed ({why}): CI installs it, so its \
             checks must run here, not be skipped"
        );
    }
    eprintln!("note: {peer} is not installed ({why}); skipping it");
}

/// Says that a check against `peer`, which CI does not install, is skipped: such checks are
/// exempt from `OCFL_TEST_REQUIRE_SERVICES` (they run where the peer is installed, and in
/// `cargo xtask` commands).
pub fn skip_exempt(peer: &str, why: &str) {
    eprintln!(
        "note: {peer} is not installed ({why}); skipping it (exempt from {REQUIRE_SERVICES}: CI \
         does not install it)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn a_set_variable_is_used_whether_or_not_services_are_required() {
        for pairs in [
            &[("URL", "x")][..],
            &[("URL", "x"), (REQUIRE_SERVICES, "1")][..],
        ] {
            assert_eq!(service_from(env(pairs), "URL", "S"), Some("x".to_owned()));
        }
    }

    #[test]
    fn a_missing_service_is_skipped_unless_services_are_required() {
        for pairs in [
            &[][..],
            &[("URL", "")][..],
            &[(REQUIRE_SERVICES, "0")][..],
            &[(REQUIRE_SERVICES, "")][..],
        ] {
            assert_eq!(service_from(env(pairs), "URL", "S"), None, "{pairs:?}");
        }
    }

    #[test]
    #[should_panic(expected = "OCFL_TEST_REQUIRE_SERVICES=1 but OCFL_TEST_S3_ENDPOINT is not set")]
    fn a_missing_service_fails_when_services_are_required() {
        service_from(
            env(&[(REQUIRE_SERVICES, "1")]),
            "OCFL_TEST_S3_ENDPOINT",
            "S3",
        );
    }

    #[test]
    fn a_missing_installed_peer_is_skipped_unless_services_are_required() {
        skip_installed_peer_from(env(&[]), "ocfl-py", "python3 cannot import ocfl");
        skip_installed_peer_from(env(&[(REQUIRE_SERVICES, "0")]), "ocfl-py", "why");
    }

    #[test]
    #[should_panic(expected = "OCFL_TEST_REQUIRE_SERVICES=1 but ocfl-py is not installed")]
    fn a_missing_installed_peer_fails_when_services_are_required() {
        skip_installed_peer_from(env(&[(REQUIRE_SERVICES, "1")]), "ocfl-py", "why");
    }

    #[test]
    #[should_panic(expected = "the PostgreSQL tests must run here")]
    fn an_empty_service_variable_fails_when_services_are_required() {
        service_from(
            env(&[(REQUIRE_SERVICES, "1"), ("OCFL_TEST_POSTGRES_URL", "")]),
            "OCFL_TEST_POSTGRES_URL",
            "PostgreSQL",
        );
    }
}
