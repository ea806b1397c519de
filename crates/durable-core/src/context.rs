//! `OrchestrationContext`: what orchestration code may do, deterministically.
//!
//! Every call that schedules durable work (`call_activity`, `create_timer`,
//! `call_sub_orchestration`) takes the next task id *when it is called* and records an output
//! event; the returned `DurableFuture`
//! resolves when the matching completion is fed in by the replay engine. Because task ids
//! follow call order and completions are fed in history order, the same code fed the same
//! history makes the same calls and sees the same results, whether it runs live or replays.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use futures::future::{Either, select};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha1::{Digest, Sha1};

use crate::activity::ActivityOptions;
use crate::clock::{millis, system_time};
use crate::failure::{Failure, FailureKind};
use crate::history::Event;

/// The result a completion carries: JSON output or a failure.
pub(crate) type TaskResult = Result<String, Failure>;

/// Handle through which orchestration code schedules durable work. Cheap to clone.
#[derive(Clone)]
pub struct OrchestrationContext {
    state: Arc<Mutex<ContextState>>,
}

/// What a pending future waits on: a scheduled task (by task id) or an event waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SlotKey {
    Task(u64),
    Waiter(u64),
}

#[derive(Debug, Default)]
struct Slot {
    result: Option<TaskResult>,
    waker: Option<Waker>,
    /// For a waiter handed an event: the event's name and arrival number, so that the event
    /// goes back to the queue if the waiter is dropped before it takes it.
    event: Option<(String, u64)>,
}

/// The mutable state shared by an orchestration's context handles and the replay engine.
#[derive(Debug)]
pub(crate) struct ContextState {
    instance_id: String,
    execution_id: u64,
    now_ms: u64,
    pub(crate) replaying: bool,
    next_task_id: u64,
    next_waiter_id: u64,
    uuid_counter: u64,
    /// Output events produced by the code since the engine last took them.
    pub(crate) outputs: Vec<Event>,
    /// Live futures; a future's slot is removed when it resolves or is dropped.
    slots: HashMap<SlotKey, Slot>,
    /// Raised events nobody waited for yet, per name, oldest first, with their arrival number.
    buffered_events: HashMap<String, VecDeque<(u64, String)>>,
    /// Counts raised events, to restore their arrival order across names.
    events_received: u64,
    /// Waiter ids per event name, oldest first (may contain ids of dropped waiters).
    waiters: HashMap<String, VecDeque<u64>>,
    pub(crate) custom_status: Option<String>,
    /// Sub-orchestrations started and not yet reported back, by task id (terminating this
    /// instance terminates them).
    children: BTreeMap<u64, String>,
    /// What `patched` answered for each patch id, so that it answers the same all execution
    /// long.
    patches: HashMap<String, bool>,
    /// While replaying an episode: the outputs history recorded for it, which `patched`
    /// consults to tell whether the marker was recorded at the point of the call.
    pub(crate) recorded_outputs: Vec<Event>,
}

pub(crate) fn lock(state: &Mutex<ContextState>) -> MutexGuard<'_, ContextState> {
    // User code runs while the lock is *not* held, so a poisoned lock still holds
    // consistent state; recover it instead of propagating the panic.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ContextState {
    pub(crate) fn new(instance_id: String, execution_id: u64) -> Self {
        ContextState {
            instance_id,
            execution_id,
            now_ms: 0,
            replaying: false,
            next_task_id: 0,
            next_waiter_id: 0,
            uuid_counter: 0,
            outputs: Vec::new(),
            slots: HashMap::new(),
            buffered_events: HashMap::new(),
            events_received: 0,
            waiters: HashMap::new(),
            custom_status: None,
            children: BTreeMap::new(),
            patches: HashMap::new(),
            recorded_outputs: Vec::new(),
        }
    }

    pub(crate) fn set_now(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    /// True if feeding `event` would reach a live future (or, for raised events, a waiter or
    /// the buffer). Completions for unknown, dropped or already-completed tasks are not
    /// accepted and therefore never recorded.
    pub(crate) fn accepts(&self, event: &Event) -> bool {
        match event {
            Event::ActivityCompleted { task_id, .. }
            | Event::ActivityFailed { task_id, .. }
            | Event::TimerFired { task_id, .. }
            | Event::SubOrchestrationCompleted { task_id, .. }
            | Event::SubOrchestrationFailed { task_id, .. } => self
                .slots
                .get(&SlotKey::Task(*task_id))
                .is_some_and(|slot| slot.result.is_none()),
            Event::EventRaised { .. } => true,
            _ => false,
        }
    }

    /// Feeds a completion or raised event; returns the waker to call (after unlocking).
    pub(crate) fn deliver(&mut self, event: &Event) -> Option<Waker> {
        let (key, result) = match event {
            Event::ActivityCompleted { task_id, output } => {
                (SlotKey::Task(*task_id), Ok(output.clone()))
            }
            Event::ActivityFailed { task_id, failure } => {
                (SlotKey::Task(*task_id), Err(failure.clone()))
            }
            Event::TimerFired { task_id, .. } => (SlotKey::Task(*task_id), Ok("null".to_owned())),
            Event::SubOrchestrationCompleted { task_id, output } => {
                self.children.remove(task_id);
                (SlotKey::Task(*task_id), Ok(output.clone()))
            }
            Event::SubOrchestrationFailed { task_id, failure } => {
                self.children.remove(task_id);
                (SlotKey::Task(*task_id), Err(failure.clone()))
            }
            Event::EventRaised { name, data } => {
                let arrival = self.events_received;
                self.events_received += 1;
                return self.hand_out_event(name, arrival, data.clone());
            }
            _ => return None,
        };
        let slot = self.slots.get_mut(&key)?;
        if slot.result.is_some() {
            return None;
        }
        slot.result = Some(result);
        slot.waker.take()
    }

    /// Gives a raised event to the oldest live waiter for its name, or buffers it (in arrival
    /// order) until someone waits. Returns the waker to call.
    fn hand_out_event(&mut self, name: &str, arrival: u64, data: String) -> Option<Waker> {
        match self.pop_live_waiter(name) {
            Some(waiter) => {
                let slot = self.slots.get_mut(&SlotKey::Waiter(waiter))?;
                slot.result = Some(Ok(data));
                slot.event = Some((name.to_owned(), arrival));
                slot.waker.take()
            }
            None => {
                let queue = self.buffered_events.entry(name.to_owned()).or_default();
                let at = queue.partition_point(|(earlier, _)| *earlier < arrival);
                queue.insert(at, (arrival, data));
                None
            }
        }
    }

    /// Removes the child a `SubOrchestrationCompleted` or `SubOrchestrationFailed` reports on.
    pub(crate) fn forget_reported_child(&mut self, event: &Event) {
        if let Event::SubOrchestrationCompleted { task_id, .. }
        | Event::SubOrchestrationFailed { task_id, .. } = event
        {
            self.children.remove(task_id);
        }
    }

    /// The sub-orchestrations started and not yet reported back (instance ids).
    pub(crate) fn open_children(&self) -> Vec<String> {
        self.children.values().cloned().collect()
    }

    /// Removes and returns the buffered (received, never waited for) events in arrival order.
    pub(crate) fn take_buffered_events(&mut self) -> Vec<(String, String)> {
        let mut events: Vec<(u64, String, String)> = self
            .buffered_events
            .drain()
            .flat_map(|(name, queue)| {
                queue
                    .into_iter()
                    .map(move |(arrival, data)| (arrival, name.clone(), data))
            })
            .collect();
        events.sort_by_key(|(arrival, _, _)| *arrival);
        events
            .into_iter()
            .map(|(_, name, data)| (name, data))
            .collect()
    }

    fn pop_live_waiter(&mut self, name: &str) -> Option<u64> {
        let queue = self.waiters.get_mut(name)?;
        while let Some(waiter) = queue.pop_front() {
            let live = self
                .slots
                .get(&SlotKey::Waiter(waiter))
                .is_some_and(|slot| slot.result.is_none());
            if live {
                return Some(waiter);
            }
        }
        None
    }

    /// Answers `patched` (or `deprecate_patch`) for `patch_id`, recording its marker when the
    /// answer is new and true.
    fn patch(&mut self, patch_id: &str, deprecated: bool) -> bool {
        if let Some(known) = self.patches.get(patch_id) {
            return *known;
        }
        let present = !self.replaying
            || crate::replay::marker_recorded_next(&self.outputs, &self.recorded_outputs, patch_id);
        self.patches.insert(patch_id.to_owned(), present);
        if present {
            self.outputs.push(Event::PatchMarkerRecorded {
                patch_id: patch_id.to_owned(),
                deprecated,
            });
        }
        present
    }

    /// Takes the next task id, records the output event it makes, and opens its slot.
    fn schedule(&mut self, make: impl FnOnce(u64) -> Event) -> SlotKey {
        let task_id = self.next_task_id;
        self.next_task_id += 1;
        self.outputs.push(make(task_id));
        let key = SlotKey::Task(task_id);
        self.slots.insert(key, Slot::default());
        key
    }

    fn release(&mut self, key: SlotKey) {
        self.slots.remove(&key);
    }

    /// Removes the slot of a future dropped before it resolved. An event already handed to
    /// a dropped waiter is not lost: it goes to the next waiter or back to the buffer, in its
    /// arrival place. Returns the waker to call.
    fn abandon(&mut self, key: SlotKey) -> Option<Waker> {
        let slot = self.slots.remove(&key)?;
        match (slot.result, slot.event) {
            (Some(Ok(data)), Some((name, arrival))) => self.hand_out_event(&name, arrival, data),
            _ => None,
        }
    }
}

impl OrchestrationContext {
    pub(crate) fn new(state: Arc<Mutex<ContextState>>) -> Self {
        OrchestrationContext { state }
    }

    fn lock(&self) -> MutexGuard<'_, ContextState> {
        lock(&self.state)
    }

    /// The instance id.
    pub fn instance_id(&self) -> String {
        self.lock().instance_id.clone()
    }

    /// Which execution of the instance this is (1 for the first).
    pub fn execution_id(&self) -> u64 {
        self.lock().execution_id
    }

    /// The time the current episode started, as recorded in history: the same on every
    /// replay. Never the wall clock.
    pub fn current_time_utc(&self) -> SystemTime {
        system_time(self.current_time_ms())
    }

    /// `current_time_utc` in milliseconds since the Unix epoch.
    pub fn current_time_ms(&self) -> u64 {
        self.lock().now_ms
    }

    /// True while the engine re-executes recorded episodes (to rebuild state after a restart
    /// or cache eviction). Use it to silence logging, never to change behaviour.
    pub fn is_replaying(&self) -> bool {
        self.lock().replaying
    }

    /// Guards a code change so that runs started before it keep replaying: true if this
    /// execution runs the new code. Write `if ctx.patched("id") { new } else { old }`.
    ///
    /// Running live, the first call for `patch_id` records a `PatchMarkerRecorded` event
    /// and answers true. Replaying, it answers true only if history recorded the marker at
    /// this point of the code (an execution recorded by the old code has none there, takes
    /// the old branch and keeps replaying deterministically). The answer is kept: later calls
    /// with the same id in the same execution answer the same and record nothing.
    ///
    /// Once no execution that started before the patch remains, replace the call with
    /// [`deprecate_patch`](Self::deprecate_patch) and drop the old branch.
    pub fn patched(&self, patch_id: &str) -> bool {
        self.lock().patch(patch_id, false)
    }

    /// Marks a patch whose old branch is gone: records the marker like
    /// [`patched`](Self::patched) (so the execution still replays with code that has the
    /// `patched` call) but never branches. Histories holding the marker of a `patched` call
    /// replay with it, and its own marker is recorded as deprecated, which code that drops the
    /// call altogether replays past. Remove it once no execution recorded by code with the
    /// `patched` call remains.
    pub fn deprecate_patch(&self, patch_id: &str) {
        self.lock().patch(patch_id, true);
    }

    /// Sets the custom status clients see in the instance metadata (committed with the
    /// episode). It belongs to the execution: `continue_as_new` clears it, and the new
    /// execution starts without one until it sets its own.
    pub fn set_custom_status(&self, status: impl Into<String>) {
        self.lock().custom_status = Some(status.into());
    }

    /// A deterministic UUID (version 5 layout): derived from the instance id, the execution
    /// and how many UUIDs this execution made before, so replay makes the same ones.
    pub fn new_uuid(&self) -> String {
        let mut state = self.lock();
        let mut hasher = Sha1::new();
        hasher.update(state.instance_id.as_bytes());
        hasher.update([0]);
        hasher.update(state.execution_id.to_be_bytes());
        hasher.update(state.uuid_counter.to_be_bytes());
        state.uuid_counter += 1;
        drop(state);
        let digest = hasher.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_sha1_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }

    /// Schedules the activity registered as `name` with `input`; the future resolves to its
    /// decoded output or its failure. Scheduling happens now, at the call, not when the future
    /// is first polled.
    pub fn call_activity<I, O>(&self, name: &str, input: &I) -> DurableFuture<O>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        match serde_json::to_string(input) {
            Ok(input) => self.call_activity_json(name, input, ActivityOptions::default()),
            Err(error) => DurableFuture::failed(
                &self.state,
                Failure::serialization(&format!("input of activity '{name}'"), &error),
            ),
        }
    }

    /// `call_activity` with time limits for this call: each limit set in `options` overrides
    /// the one the activity was registered with (`Registry::activity_with_options`) and the
    /// worker's default (`WorkerOptions::activity_defaults`); unset ones fall back to them.
    /// The limits are recorded with the call in history and travel with the work item, so
    /// whichever worker runs the activity applies them. For retries as well, use
    /// `call_activity_with_retry_and_options`.
    pub fn call_activity_with_options<I, O>(
        &self,
        name: &str,
        input: &I,
        options: ActivityOptions,
    ) -> DurableFuture<O>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        match serde_json::to_string(input) {
            Ok(input) => self.call_activity_json(name, input, options),
            Err(error) => DurableFuture::failed(
                &self.state,
                Failure::serialization(&format!("input of activity '{name}'"), &error),
            ),
        }
    }

    /// `call_activity` with the input already serialized.
    pub(crate) fn call_activity_json<O>(
        &self,
        name: &str,
        input: String,
        options: ActivityOptions,
    ) -> DurableFuture<O> {
        let key = self.lock().schedule(|task_id| Event::ActivityScheduled {
            task_id,
            name: name.to_owned(),
            input,
            options,
        });
        DurableFuture::pending(&self.state, key, format!("activity '{name}'"))
    }

    /// A durable timer: resolves `delay` after the current episode's time, surviving restarts.
    pub fn create_timer(&self, delay: Duration) -> DurableFuture<()> {
        let mut state = self.lock();
        let fire_at_ms = state.now_ms.saturating_add(millis(delay));
        let key = state.schedule(|task_id| Event::TimerCreated {
            task_id,
            fire_at_ms,
        });
        drop(state);
        DurableFuture::pending(&self.state, key, "timer".to_owned())
    }

    /// Resolves with the data of the next event raised under `name` that no earlier waiter
    /// took. Events raised before anyone waits are buffered. An event handed to a waiter that
    /// is dropped before it took the event (the loser of a `select`, say) is not lost: it goes
    /// to the next waiter for that name, or back to the buffer in its arrival place.
    pub fn wait_for_event<T: DeserializeOwned>(&self, name: &str) -> DurableFuture<T> {
        let mut state = self.lock();
        let waiter = state.next_waiter_id;
        state.next_waiter_id += 1;
        let key = SlotKey::Waiter(waiter);
        let buffered = state
            .buffered_events
            .get_mut(name)
            .and_then(VecDeque::pop_front);
        let slot = Slot {
            event: buffered
                .as_ref()
                .map(|(arrival, _)| (name.to_owned(), *arrival)),
            result: buffered.map(|(_, data)| Ok(data)),
            waker: None,
        };
        if slot.result.is_none() {
            state
                .waiters
                .entry(name.to_owned())
                .or_default()
                .push_back(waiter);
        }
        state.slots.insert(key, slot);
        drop(state);
        DurableFuture::pending(&self.state, key, format!("event '{name}'"))
    }

    /// Ends this execution and starts a new one of the same orchestration with `input`, under
    /// the same instance id and with a fresh history (so an endless loop keeps a bounded
    /// history). The returned future never resolves: `return ctx.continue_as_new(&next).await;`.
    ///
    /// What carries over and what does not:
    /// - Raised events no `wait_for_event` consumed carry over, in the order they arrived.
    ///   They are re-sent to the instance by the commit that ends this execution, so they come
    ///   after any event that reached the inbox while that last episode ran, and before any
    ///   that arrives later.
    /// - The custom status is cleared.
    /// - Work this execution started and did not wait for (activities, timers,
    ///   sub-orchestrations) is not cancelled, but its results go to this execution and are
    ///   discarded. Sub-orchestrations keep running and are not terminated.
    /// - The instance keeps its id, its parent (a sub-orchestration reports to its parent when
    ///   its last execution ends), and its creation time.
    pub fn continue_as_new<I, T>(
        &self,
        input: &I,
    ) -> impl Future<Output = Result<T, Failure>> + Send + use<I, T>
    where
        I: Serialize + ?Sized,
        T: Send,
    {
        let recorded = serde_json::to_string(input)
            .map_err(|error| Failure::serialization("input of continue-as-new", &error));
        let recorded = recorded.map(|input| {
            self.lock().outputs.push(Event::ContinuedAsNew { input });
        });
        async move {
            recorded?;
            futures::future::pending::<()>().await;
            Err(Failure::application("continue-as-new resumed"))
        }
    }

    /// Starts the orchestration registered as `name` as a sub-orchestration with `input`, under
    /// a deterministic instance id derived from this instance, its execution and the call
    /// (`"{instance}:{execution}:{task}"`). The future resolves to the child's output, or to
    /// its failure (a termination fails with `FailureKind::Terminated`).
    ///
    /// The child is created atomically with this episode's commit. It runs on any worker,
    /// independently; terminating this instance terminates it (and its own children).
    pub fn call_sub_orchestration<I, O>(&self, name: &str, input: &I) -> DurableFuture<O>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        self.sub_orchestration(name, None, input)
    }

    /// `call_sub_orchestration` under a chosen instance id. If the id is taken the future
    /// fails with `FailureKind::InstanceExists` (the existing instance is left alone).
    pub fn call_sub_orchestration_with_id<I, O>(
        &self,
        name: &str,
        instance_id: &str,
        input: &I,
    ) -> DurableFuture<O>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        self.sub_orchestration(name, Some(instance_id), input)
    }

    fn sub_orchestration<I, O>(
        &self,
        name: &str,
        instance_id: Option<&str>,
        input: &I,
    ) -> DurableFuture<O>
    where
        I: Serialize + ?Sized,
        O: DeserializeOwned,
    {
        let input = match serde_json::to_string(input) {
            Ok(input) => input,
            Err(error) => {
                return DurableFuture::failed(
                    &self.state,
                    Failure::serialization(&format!("input of sub-orchestration '{name}'"), &error),
                );
            }
        };
        let mut state = self.lock();
        let child = match instance_id {
            Some(id) => id.to_owned(),
            None => format!(
                "{}:{}:{}",
                state.instance_id, state.execution_id, state.next_task_id
            ),
        };
        let key = state.schedule(|task_id| Event::SubOrchestrationScheduled {
            task_id,
            name: name.to_owned(),
            instance_id: child.clone(),
            input,
        });
        if let SlotKey::Task(task_id) = key {
            state.children.insert(task_id, child.clone());
        }
        drop(state);
        DurableFuture::pending(
            &self.state,
            key,
            format!("sub-orchestration '{name}' (instance '{child}')"),
        )
    }

    /// Sends the event `name` with `data` to another instance (or this one), where
    /// `wait_for_event` receives it. Fire and forget: recorded in history and delivered when
    /// this episode commits; an event to an instance that does not exist is dropped.
    pub fn raise_event<T: Serialize + ?Sized>(
        &self,
        instance_id: &str,
        name: &str,
        data: &T,
    ) -> Result<(), Failure> {
        let data = serde_json::to_string(data)
            .map_err(|error| Failure::serialization(&format!("data of event '{name}'"), &error))?;
        self.lock().outputs.push(Event::EventSent {
            instance_id: instance_id.to_owned(),
            name: name.to_owned(),
            data,
        });
        Ok(())
    }

    /// `wait_for_event` bounded by a durable timer: fails with `FailureKind::Timeout` if no
    /// event arrives within `timeout`.
    pub fn wait_for_event_timeout<T>(
        &self,
        name: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<T, Failure>> + Send + 'static + use<T>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let event = self.wait_for_event::<T>(name);
        let timer = self.create_timer(timeout);
        let message = format!("no event '{name}' within {timeout:?}");
        async move {
            match select(event, timer).await {
                Either::Left((result, _)) => result,
                Either::Right((fired, _)) => {
                    fired?;
                    Err(Failure::new(FailureKind::Timeout, message))
                }
            }
        }
    }
}

/// The future of a durable operation: resolves to the decoded result or a `Failure`.
///
/// It is `Unpin` and `Send`, so it works with `join_all`, `select` and friends. Dropping it
/// before it resolves abandons the operation's result (the work itself still happens).
#[must_use = "durable futures do nothing unless awaited; the work is scheduled either way"]
pub struct DurableFuture<T> {
    state: Arc<Mutex<ContextState>>,
    key: Option<SlotKey>,
    early: Option<Failure>,
    what: String,
    _output: PhantomData<fn() -> T>,
}

impl<T> DurableFuture<T> {
    fn pending(state: &Arc<Mutex<ContextState>>, key: SlotKey, what: String) -> Self {
        DurableFuture {
            state: Arc::clone(state),
            key: Some(key),
            early: None,
            what,
            _output: PhantomData,
        }
    }

    fn failed(state: &Arc<Mutex<ContextState>>, failure: Failure) -> Self {
        DurableFuture {
            state: Arc::clone(state),
            key: None,
            early: Some(failure),
            what: String::new(),
            _output: PhantomData,
        }
    }
}

impl<T: DeserializeOwned> Future for DurableFuture<T> {
    type Output = Result<T, Failure>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(failure) = this.early.take() {
            return Poll::Ready(Err(failure));
        }
        let Some(key) = this.key else {
            return Poll::Ready(Err(Failure::application(format!(
                "{} polled after it resolved",
                this.what
            ))));
        };
        let mut state = lock(&this.state);
        let Some(slot) = state.slots.get_mut(&key) else {
            return Poll::Ready(Err(Failure::application(format!(
                "{} lost its slot",
                this.what
            ))));
        };
        match slot.result.take() {
            Some(result) => {
                state.release(key);
                drop(state);
                this.key = None;
                Poll::Ready(result.and_then(|json| {
                    serde_json::from_str(&json).map_err(|error| {
                        Failure::serialization(&format!("result of {}", this.what), &error)
                    })
                }))
            }
            None => {
                if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    slot.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for DurableFuture<T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let waker = lock(&self.state).abandon(key);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> OrchestrationContext {
        OrchestrationContext::new(Arc::new(Mutex::new(ContextState::new("i".into(), 1))))
    }

    #[test]
    fn uuids_are_deterministic_and_distinct() {
        let first = context();
        let second = context();
        let a = first.new_uuid();
        let b = first.new_uuid();
        assert_ne!(a, b);
        assert_eq!(second.new_uuid(), a);
        assert_eq!(second.new_uuid(), b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "5");
    }

    #[test]
    fn uuids_keep_the_form_recorded_histories_replay_with() {
        // SHA-1 of "i", 0, execution 1 and counters 0 and 1, truncated, version 5, RFC 4122
        // variant: the values the hand-formatted version made, so replays still match.
        let first = context();
        assert_eq!(first.new_uuid(), "1746fa91-cf1c-59d0-af64-9face48861bc");
        assert_eq!(first.new_uuid(), "a1f979cd-4be8-5785-8285-267f43c6bcd3");
    }

    #[test]
    fn scheduling_records_outputs_in_call_order() {
        let ctx = context();
        let _a = ctx.call_activity::<_, String>("a", "x");
        let _t = ctx.create_timer(Duration::from_millis(5));
        let outputs = lock(&ctx.state).outputs.clone();
        assert_eq!(
            outputs,
            vec![
                Event::ActivityScheduled {
                    task_id: 0,
                    name: "a".into(),
                    input: "\"x\"".into(),
                    options: ActivityOptions::default(),
                },
                Event::TimerCreated {
                    task_id: 1,
                    fire_at_ms: 5
                },
            ]
        );
    }

    #[test]
    fn dropped_futures_no_longer_accept_completions() {
        let ctx = context();
        let future = ctx.call_activity::<_, String>("a", "x");
        let completion = Event::ActivityCompleted {
            task_id: 0,
            output: "\"y\"".into(),
        };
        assert!(lock(&ctx.state).accepts(&completion));
        drop(future);
        assert!(!lock(&ctx.state).accepts(&completion));
    }

    #[test]
    fn raised_events_are_buffered_until_waited_for() {
        let ctx = context();
        let raised = Event::EventRaised {
            name: "go".into(),
            data: "7".into(),
        };
        assert!(lock(&ctx.state).deliver(&raised).is_none());
        let mut waiter = ctx.wait_for_event::<u32>("go");
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(Pin::new(&mut waiter).poll(&mut cx), Poll::Ready(Ok(7)));
    }
}
