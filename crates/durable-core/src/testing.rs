//! Test support (feature `testing`), not for production use: a backend that forwards every
//! call to another backend except where a test changes it.
//!
//! Tests of workers and of what runs on them need a store that misbehaves in one precise
//! way (a lease renewal refused, a fetch handed out late, every seventh call failing) and is
//! otherwise a real store. [`Delegating`] is that store: it forwards every [`Backend`] method
//! to an inner backend through a [`Hooks`] value whose methods all default to forwarding, so
//! a test writes only the one or two it changes, and it can fail any call through
//! [`Hooks::fate`].
//!
//! [`new_instance`] and [`start_event`] build the plain instance most backend tests create.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use async_trait::async_trait;
//! use durable_core::backend::{ActivityItem, Backend};
//! use durable_core::testing::{Delegating, Hooks};
//! use durable_core::{BackendError, MemoryBackend};
//!
//! /// Hands out no activity work: a worker with it runs orchestrations only.
//! struct NoActivities;
//!
//! #[async_trait]
//! impl Hooks for NoActivities {
//!     async fn fetch_activity(
//!         &self,
//!         _inner: &dyn Backend,
//!         _lease_for: Duration,
//!         wait: Duration,
//!     ) -> Result<Option<ActivityItem>, BackendError> {
//!         tokio::time::sleep(wait).await;
//!         Ok(None)
//!     }
//! }
//!
//! let backend = Delegating::new(Arc::new(MemoryBackend::new()), NoActivities);
//! # let _ = backend;
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::backend::{
    ActivityItem, Backend, IdReusePolicy, NewInstance, NewMessage, OrchestrationCommit,
    OrchestrationItem, WorkerInfo,
};
use crate::error::BackendError;
use crate::history::{Event, HISTORY_FORMAT_VERSION};
use crate::metadata::{InstanceFilter, InstanceMetadata};

/// The event that starts the first execution of orchestration `name`, with input `null`.
pub fn start_event(name: &str) -> Event {
    Event::ExecutionStarted {
        format_version: HISTORY_FORMAT_VERSION,
        name: name.to_owned(),
        input: "null".to_owned(),
        execution_id: 1,
    }
}

/// A new instance `instance_id` of orchestration `flow` with input `null`, to start now,
/// with no parent; an id already taken is refused.
pub fn new_instance(instance_id: &str) -> NewInstance {
    NewInstance {
        instance_id: instance_id.to_owned(),
        name: "flow".to_owned(),
        input: "null".to_owned(),
        execution_id: 1,
        start: start_event("flow"),
        start_at_ms: None,
        parent: None,
        reuse: IdReusePolicy::Refuse,
    }
}

/// A [`Backend`] that forwards every call to an inner backend through its [`Hooks`].
pub struct Delegating<H> {
    inner: Arc<dyn Backend>,
    hooks: H,
}

impl<H: Hooks> Delegating<H> {
    /// Forwards to `inner`, except where `hooks` decide otherwise.
    pub fn new(inner: Arc<dyn Backend>, hooks: H) -> Self {
        Self { inner, hooks }
    }

    /// The hooks, for a test to change how they behave while the backend is in use.
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    /// The backend calls are forwarded to.
    pub fn inner(&self) -> &Arc<dyn Backend> {
        &self.inner
    }

    /// Runs `call` as the hooks' [`Hooks::fate`] for `method` decides.
    async fn run<T>(
        &self,
        method: Method,
        call: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T, BackendError> {
        match self.hooks.fate(method) {
            Fate::Proceed => call.await,
            Fate::Refuse(error) => Err(error),
            Fate::LoseReply(error) => {
                let _ = call.await;
                Err(error)
            }
        }
    }
}

/// A [`Backend`] method, as [`Hooks::fate`] is told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Method {
    CreateInstance,
    SendMessage,
    ReadMetadata,
    ReadHistory,
    ListInstances,
    PurgeInstance,
    PurgeFinishedBefore,
    WaitForChange,
    FetchOrchestration,
    AckOrchestration,
    AbandonOrchestration,
    RenewOrchestrationLease,
    FetchActivity,
    AckActivity,
    AbandonActivity,
    RenewActivityLease,
    Workers,
}

/// What becomes of one call, decided by [`Hooks::fate`] before it is made.
#[derive(Debug)]
pub enum Fate {
    /// The call is made and its result returned.
    Proceed,
    /// The call fails with this error without reaching the inner backend.
    Refuse(BackendError),
    /// The call is made (it takes effect) but the caller gets this error instead of its
    /// result, as when a reply is lost on the way back.
    LoseReply(BackendError),
}

/// How a [`Delegating`] backend makes each call. Every method defaults to forwarding to
/// `inner` unchanged; [`Hooks::fate`], asked first for every call, defaults to
/// [`Fate::Proceed`].
#[async_trait]
#[allow(missing_docs)]
pub trait Hooks: Send + Sync + 'static {
    /// Decides, before each call, whether it is made and whether its result is returned.
    fn fate(&self, method: Method) -> Fate {
        let _ = method;
        Fate::Proceed
    }

    async fn create_instance(
        &self,
        inner: &dyn Backend,
        new: NewInstance,
    ) -> Result<(), BackendError> {
        inner.create_instance(new).await
    }
    async fn send_message(
        &self,
        inner: &dyn Backend,
        message: NewMessage,
    ) -> Result<(), BackendError> {
        inner.send_message(message).await
    }
    async fn read_metadata(
        &self,
        inner: &dyn Backend,
        instance_id: &str,
    ) -> Result<Option<InstanceMetadata>, BackendError> {
        inner.read_metadata(instance_id).await
    }
    async fn read_history(
        &self,
        inner: &dyn Backend,
        instance_id: &str,
    ) -> Result<Vec<Event>, BackendError> {
        inner.read_history(instance_id).await
    }
    async fn list_instances(
        &self,
        inner: &dyn Backend,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceMetadata>, BackendError> {
        inner.list_instances(filter).await
    }
    async fn purge_instance(
        &self,
        inner: &dyn Backend,
        instance_id: &str,
    ) -> Result<(), BackendError> {
        inner.purge_instance(instance_id).await
    }
    async fn purge_finished_before(
        &self,
        inner: &dyn Backend,
        cutoff_ms: u64,
        limit: usize,
    ) -> Result<Vec<String>, BackendError> {
        inner.purge_finished_before(cutoff_ms, limit).await
    }
    async fn wait_for_change(
        &self,
        inner: &dyn Backend,
        instance_id: &str,
        seen_history_len: u64,
        timeout: Duration,
    ) -> Result<(), BackendError> {
        inner
            .wait_for_change(instance_id, seen_history_len, timeout)
            .await
    }
    async fn fetch_orchestration(
        &self,
        inner: &dyn Backend,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<OrchestrationItem>, BackendError> {
        inner.fetch_orchestration(lease_for, wait).await
    }
    async fn ack_orchestration(
        &self,
        inner: &dyn Backend,
        instance_id: &str,
        token: u64,
        commit: &OrchestrationCommit,
    ) -> Result<(), BackendError> {
        inner.ack_orchestration(instance_id, token, commit).await
    }
    async fn abandon_orchestration(
        &self,
        inner: &dyn Backend,
        instance_id: &str,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError> {
        inner.abandon_orchestration(instance_id, token, delay).await
    }
    async fn renew_orchestration_lease(
        &self,
        inner: &dyn Backend,
        instance_id: &str,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError> {
        inner
            .renew_orchestration_lease(instance_id, token, lease_for)
            .await
    }
    async fn fetch_activity(
        &self,
        inner: &dyn Backend,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<ActivityItem>, BackendError> {
        inner.fetch_activity(lease_for, wait).await
    }
    async fn ack_activity(
        &self,
        inner: &dyn Backend,
        id: u64,
        token: u64,
        completion: &NewMessage,
    ) -> Result<(), BackendError> {
        inner.ack_activity(id, token, completion).await
    }
    async fn abandon_activity(
        &self,
        inner: &dyn Backend,
        id: u64,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError> {
        inner.abandon_activity(id, token, delay).await
    }
    async fn renew_activity_lease(
        &self,
        inner: &dyn Backend,
        id: u64,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError> {
        inner.renew_activity_lease(id, token, lease_for).await
    }
    async fn workers(
        &self,
        inner: &dyn Backend,
        seen_since_ms: u64,
    ) -> Result<Option<Vec<WorkerInfo>>, BackendError> {
        inner.workers(seen_since_ms).await
    }
}

/// Hooks that change nothing: a [`Delegating`] backend with them behaves as its inner one.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough;

impl Hooks for PassThrough {}

#[async_trait]
impl<H: Hooks> Backend for Delegating<H> {
    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }
    async fn create_instance(&self, new: NewInstance) -> Result<(), BackendError> {
        let call = self.hooks.create_instance(&*self.inner, new);
        self.run(Method::CreateInstance, call).await
    }
    async fn send_message(&self, message: NewMessage) -> Result<(), BackendError> {
        let call = self.hooks.send_message(&*self.inner, message);
        self.run(Method::SendMessage, call).await
    }
    async fn read_metadata(
        &self,
        instance_id: &str,
    ) -> Result<Option<InstanceMetadata>, BackendError> {
        let call = self.hooks.read_metadata(&*self.inner, instance_id);
        self.run(Method::ReadMetadata, call).await
    }
    async fn read_history(&self, instance_id: &str) -> Result<Vec<Event>, BackendError> {
        let call = self.hooks.read_history(&*self.inner, instance_id);
        self.run(Method::ReadHistory, call).await
    }
    async fn list_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceMetadata>, BackendError> {
        let call = self.hooks.list_instances(&*self.inner, filter);
        self.run(Method::ListInstances, call).await
    }
    async fn purge_instance(&self, instance_id: &str) -> Result<(), BackendError> {
        let call = self.hooks.purge_instance(&*self.inner, instance_id);
        self.run(Method::PurgeInstance, call).await
    }
    async fn purge_finished_before(
        &self,
        cutoff_ms: u64,
        limit: usize,
    ) -> Result<Vec<String>, BackendError> {
        let call = self
            .hooks
            .purge_finished_before(&*self.inner, cutoff_ms, limit);
        self.run(Method::PurgeFinishedBefore, call).await
    }
    async fn wait_for_change(
        &self,
        instance_id: &str,
        seen_history_len: u64,
        timeout: Duration,
    ) -> Result<(), BackendError> {
        let call = self
            .hooks
            .wait_for_change(&*self.inner, instance_id, seen_history_len, timeout);
        self.run(Method::WaitForChange, call).await
    }
    async fn fetch_orchestration(
        &self,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<OrchestrationItem>, BackendError> {
        let call = self
            .hooks
            .fetch_orchestration(&*self.inner, lease_for, wait);
        self.run(Method::FetchOrchestration, call).await
    }
    async fn ack_orchestration(
        &self,
        instance_id: &str,
        token: u64,
        commit: &OrchestrationCommit,
    ) -> Result<(), BackendError> {
        let call = self
            .hooks
            .ack_orchestration(&*self.inner, instance_id, token, commit);
        self.run(Method::AckOrchestration, call).await
    }
    async fn abandon_orchestration(
        &self,
        instance_id: &str,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError> {
        let call = self
            .hooks
            .abandon_orchestration(&*self.inner, instance_id, token, delay);
        self.run(Method::AbandonOrchestration, call).await
    }
    async fn renew_orchestration_lease(
        &self,
        instance_id: &str,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError> {
        let call =
            self.hooks
                .renew_orchestration_lease(&*self.inner, instance_id, token, lease_for);
        self.run(Method::RenewOrchestrationLease, call).await
    }
    async fn fetch_activity(
        &self,
        lease_for: Duration,
        wait: Duration,
    ) -> Result<Option<ActivityItem>, BackendError> {
        let call = self.hooks.fetch_activity(&*self.inner, lease_for, wait);
        self.run(Method::FetchActivity, call).await
    }
    async fn ack_activity(
        &self,
        id: u64,
        token: u64,
        completion: &NewMessage,
    ) -> Result<(), BackendError> {
        let call = self.hooks.ack_activity(&*self.inner, id, token, completion);
        self.run(Method::AckActivity, call).await
    }
    async fn abandon_activity(
        &self,
        id: u64,
        token: u64,
        delay: Duration,
    ) -> Result<(), BackendError> {
        let call = self.hooks.abandon_activity(&*self.inner, id, token, delay);
        self.run(Method::AbandonActivity, call).await
    }
    async fn renew_activity_lease(
        &self,
        id: u64,
        token: u64,
        lease_for: Duration,
    ) -> Result<u64, BackendError> {
        let call = self
            .hooks
            .renew_activity_lease(&*self.inner, id, token, lease_for);
        self.run(Method::RenewActivityLease, call).await
    }
    async fn workers(&self, seen_since_ms: u64) -> Result<Option<Vec<WorkerInfo>>, BackendError> {
        let call = self.hooks.workers(&*self.inner, seen_since_ms);
        self.run(Method::Workers, call).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::MemoryBackend;

    /// Counts the purges that reach it; refuses or loses the reply of purges as told.
    struct Counting {
        reached: AtomicUsize,
        fate: fn() -> Fate,
    }

    #[async_trait]
    impl Hooks for Counting {
        fn fate(&self, method: Method) -> Fate {
            match method {
                Method::PurgeInstance => (self.fate)(),
                _ => Fate::Proceed,
            }
        }
        async fn purge_instance(
            &self,
            inner: &dyn Backend,
            instance_id: &str,
        ) -> Result<(), BackendError> {
            self.reached.fetch_add(1, Ordering::SeqCst);
            inner.purge_instance(instance_id).await
        }
    }

    fn injected() -> BackendError {
        BackendError::Transient("injected".into())
    }

    async fn purge_with(fate: fn() -> Fate) -> (Result<(), BackendError>, usize) {
        let hooks = Counting {
            reached: AtomicUsize::new(0),
            fate,
        };
        let backend = Delegating::new(Arc::new(MemoryBackend::new()), hooks);
        let result = backend.purge_instance("absent").await;
        (result, backend.hooks().reached.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn a_call_proceeds_is_refused_or_loses_its_reply_as_its_fate_says() {
        let (result, reached) = purge_with(|| Fate::Proceed).await;
        assert!(
            matches!(result, Err(BackendError::InstanceNotFound(_))),
            "{result:?}"
        );
        assert_eq!(reached, 1);

        let (result, reached) = purge_with(|| Fate::Refuse(injected())).await;
        assert!(
            matches!(result, Err(BackendError::Transient(_))),
            "{result:?}"
        );
        assert_eq!(reached, 0, "a refused call never reaches the store");

        let (result, reached) = purge_with(|| Fate::LoseReply(injected())).await;
        assert!(
            matches!(result, Err(BackendError::Transient(_))),
            "{result:?}"
        );
        assert_eq!(reached, 1, "a call whose reply is lost was made");
    }

    /// Pass-through hooks forward every method faithfully: the conformance suite passes
    /// through them.
    mod conformance {
        use super::super::{Delegating, PassThrough};
        use crate::MemoryBackend;
        use std::sync::Arc;

        async fn make() -> Delegating<PassThrough> {
            Delegating::new(Arc::new(MemoryBackend::new()), PassThrough)
        }

        crate::backend_conformance_tests!(make);
    }
}
