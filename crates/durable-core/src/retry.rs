//! Retry policies for activities. Retrying is ordinary orchestration code: each attempt is a
//! new scheduled activity and each wait a durable timer, so retries survive restarts and
//! replay like everything else.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::activity::ActivityOptions;
use crate::clock::millis;
use crate::context::OrchestrationContext;
use crate::failure::{Failure, FailureKind};

/// Decides whether a failure is worth another attempt.
type Retriable = Arc<dyn Fn(&Failure) -> bool + Send + Sync>;

/// How often and how patiently to retry a failing activity.
#[derive(Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    first_interval: Duration,
    backoff_coefficient: f64,
    max_interval: Duration,
    timeout: Option<Duration>,
    retriable: Retriable,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("first_interval", &self.first_interval)
            .field("backoff_coefficient", &self.backoff_coefficient)
            .field("max_interval", &self.max_interval)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RetryPolicy {
    /// At most `max_attempts` attempts (the first included), waiting 1 s before the second,
    /// doubling up to 5 minutes, no overall timeout; retries application failures, panics and
    /// timeouts (not unregistered names, serialization errors or poisoned work).
    pub fn new(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            first_interval: Duration::from_secs(1),
            backoff_coefficient: 2.0,
            max_interval: Duration::from_secs(300),
            timeout: None,
            retriable: Arc::new(|failure: &Failure| {
                matches!(
                    failure.kind,
                    FailureKind::Application | FailureKind::Panicked | FailureKind::Timeout
                )
            }),
        }
    }

    /// The wait before the second attempt.
    pub fn first_interval(mut self, interval: Duration) -> Self {
        self.first_interval = interval;
        self
    }

    /// Each wait is this many times the previous one (at least 1).
    pub fn backoff_coefficient(mut self, coefficient: f64) -> Self {
        self.backoff_coefficient = if coefficient.is_finite() {
            coefficient.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// No wait is longer than this.
    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// No attempt starts later than this after the first one started (orchestration time).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Retries only failures for which `retriable` returns true.
    pub fn retry_if(
        mut self,
        retriable: impl Fn(&Failure) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.retriable = Arc::new(retriable);
        self
    }

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let seconds = self.first_interval.as_secs_f64() * self.backoff_coefficient.powi(exponent);
        Duration::try_from_secs_f64(seconds)
            .unwrap_or(self.max_interval)
            .min(self.max_interval)
    }
}

impl OrchestrationContext {
    /// `call_activity`, retried on failure according to `policy`, with durable timers between
    /// attempts. Resolves to the first success or the last failure.
    pub fn call_activity_with_retry<I, O>(
        &self,
        name: &str,
        input: &I,
        policy: RetryPolicy,
    ) -> impl Future<Output = Result<O, Failure>> + Send + use<I, O>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned + Send + 'static,
    {
        self.call_activity_with_retry_and_options(name, input, policy, ActivityOptions::default())
    }

    /// `call_activity_with_retry` with time limits for every attempt of this call (see
    /// `call_activity_with_options`): an attempt that overruns them fails with
    /// `FailureKind::Timeout`, which the default policy retries.
    pub fn call_activity_with_retry_and_options<I, O>(
        &self,
        name: &str,
        input: &I,
        policy: RetryPolicy,
        options: ActivityOptions,
    ) -> impl Future<Output = Result<O, Failure>> + Send + use<I, O>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned + Send + 'static,
    {
        let context = self.clone();
        let name = name.to_owned();
        let input = serde_json::to_string(input).map_err(|error| {
            Failure::serialization(&format!("input of activity '{name}'"), &error)
        });
        async move {
            let input = input?;
            let started_ms = context.current_time_ms();
            let mut attempt = 1;
            loop {
                let failure = match context
                    .call_activity_json::<O>(&name, input.clone(), options)
                    .await
                {
                    Ok(output) => return Ok(output),
                    Err(failure) => failure,
                };
                if attempt >= policy.max_attempts || !(policy.retriable)(&failure) {
                    return Err(failure);
                }
                let delay = policy.delay_after(attempt);
                if let Some(timeout) = policy.timeout {
                    let next_start = context.current_time_ms().saturating_add(millis(delay));
                    if next_start.saturating_sub(started_ms) > millis(timeout) {
                        return Err(failure);
                    }
                }
                context.create_timer(delay).await?;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_geometrically_up_to_the_cap() {
        let policy = RetryPolicy::new(10)
            .first_interval(Duration::from_secs(1))
            .backoff_coefficient(3.0)
            .max_interval(Duration::from_secs(20));
        let delays: Vec<u64> = (1..=5).map(|n| policy.delay_after(n).as_secs()).collect();
        assert_eq!(delays, vec![1, 3, 9, 20, 20]);
    }

    #[test]
    fn default_retries_application_failures_only() {
        let policy = RetryPolicy::new(3);
        assert!((policy.retriable)(&Failure::application("x")));
        assert!(!(policy.retriable)(&Failure::new(
            FailureKind::Unregistered,
            "x"
        )));
    }
}
