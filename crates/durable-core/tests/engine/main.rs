//! End-to-end tests of the engine on the in-memory backend, under paused tokio time.

// Shared harness: run a scenario with the execution cached and with it evicted every episode.
mod common;
// Orchestration scenarios: activities, fan-out, timers, events, failures, panics.
mod scenarios;
// Replay that diverges from history is detected and named.
mod nondeterminism;
// Client operations: schedule, wait, events, terminate, metadata, history.
mod client;
// Worker behaviour: leases, poison, shutdown, transient backend errors.
mod worker;
// Retry policies: durable backoff timers, retriable failures, attempt and time limits.
mod retry;
// Continue-as-new: fresh executions under the same instance id.
mod continue_as_new;
// Sub-orchestrations, events between instances, recursive terminate and purge.
mod sub_orchestrations;
// Activity inputs that gain an optional field replay recorded histories cleanly.
mod payload_evolution;
// Code changes through `patched` and `deprecate_patch` markers.
mod versioning;
// A cached execution is never resumed for another incarnation of its instance id.
mod incarnation;
// Retention: the worker purges finished instances past their period; clients purge by age.
mod retention;
// Activity start-to-close and heartbeat timeouts.
mod timeouts;
