//! `Registry`: orchestrations and activities by name, with typed (serde) inputs and outputs.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::activity::{ActivityContext, ActivityOptions};
use crate::context::OrchestrationContext;
use crate::failure::Failure;

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A registered function with its JSON input and output.
type Handler<C> = Arc<dyn Fn(C, String) -> BoxFuture<Result<String, Failure>> + Send + Sync>;

pub(crate) type OrchestrationFn = Handler<OrchestrationContext>;
pub(crate) type ActivityFn = Handler<ActivityContext>;

/// The orchestrations and activities a worker can run, by name.
///
/// Orchestrations must be deterministic: given the same history they must make the same
/// calls on their context in the same order. They must not read clocks, random numbers,
/// files or the network directly; that is what activities are for.
#[derive(Clone, Default)]
pub struct Registry {
    orchestrations: HashMap<String, OrchestrationFn>,
    activities: HashMap<String, ActivityFn>,
    activity_options: HashMap<String, ActivityOptions>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut orchestrations: Vec<_> = self.orchestrations.keys().collect();
        let mut activities: Vec<_> = self.activities.keys().collect();
        orchestrations.sort();
        activities.sort();
        f.debug_struct("Registry")
            .field("orchestrations", &orchestrations)
            .field("activities", &activities)
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers an orchestration under `name` (replacing any earlier one).
    pub fn orchestration<I, O, F, Fut>(mut self, name: impl Into<String>, function: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        F: Fn(OrchestrationContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, Failure>> + Send + 'static,
    {
        let name = name.into();
        let handler = typed(format!("orchestration '{name}'"), function);
        self.orchestrations.insert(name, handler);
        self
    }

    /// Registers an activity under `name` (replacing any earlier one).
    pub fn activity<I, O, F, Fut>(mut self, name: impl Into<String>, function: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        F: Fn(ActivityContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, Failure>> + Send + 'static,
    {
        let name = name.into();
        let handler = typed(format!("activity '{name}'"), function);
        self.activity_options.remove(&name);
        self.activities.insert(name, handler);
        self
    }

    /// Registers an activity under `name` (replacing any earlier one) with its own time
    /// limits; a limit left unset in `options` is the worker's default.
    pub fn activity_with_options<I, O, F, Fut>(
        self,
        name: impl Into<String>,
        options: ActivityOptions,
        function: F,
    ) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        F: Fn(ActivityContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, Failure>> + Send + 'static,
    {
        let name = name.into();
        let mut registry = self.activity(name.clone(), function);
        registry.activity_options.insert(name, options);
        registry
    }

    pub(crate) fn orchestration_fn(&self, name: &str) -> Option<&OrchestrationFn> {
        self.orchestrations.get(name)
    }

    pub(crate) fn activity_fn(&self, name: &str) -> Option<&ActivityFn> {
        self.activities.get(name)
    }

    /// The time limits registered for activity `name` (unset ones: none registered).
    pub(crate) fn activity_options(&self, name: &str) -> ActivityOptions {
        self.activity_options.get(name).copied().unwrap_or_default()
    }
}

/// Wraps a typed function into one taking and returning JSON.
fn typed<C, I, O, F, Fut>(what: String, function: F) -> Handler<C>
where
    C: Send + 'static,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    F: Fn(C, I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, Failure>> + Send + 'static,
{
    let what: Arc<str> = what.into();
    Arc::new(move |context: C, input: String| {
        let what = Arc::clone(&what);
        match serde_json::from_str::<I>(&input) {
            Ok(input) => {
                let running = function(context, input);
                Box::pin(async move {
                    let output = running.await?;
                    serde_json::to_string(&output).map_err(|error| {
                        Failure::serialization(&format!("output of {what}"), &error)
                    })
                }) as BoxFuture<_>
            }
            Err(error) => {
                let failure = Failure::serialization(&format!("input of {what}"), &error);
                Box::pin(async move { Err(failure) })
            }
        }
    })
}
