//! An upgrade that only adds an optional field to an activity's input replays recorded
//! histories cleanly; a changed value of a field both shapes have is still nondeterminism.

use durable_core::{Failure, FailureKind, OrchestrationContext, Registry};
use serde::{Deserialize, Serialize};

use crate::common::{Mode, run_once};

/// The input as the old code sent it.
#[derive(Serialize, Deserialize)]
struct StoreV1 {
    name: String,
    size: u64,
}

/// The new shape, written the recommended way: `None` is not serialized at all.
#[derive(Serialize, Deserialize)]
struct StoreV2Skipped {
    name: String,
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    compress: Option<bool>,
}

/// The new shape in its plain form: `None` is serialized as `null`.
#[derive(Serialize, Deserialize)]
struct StoreV2Plain {
    name: String,
    size: u64,
    compress: Option<bool>,
}

/// An orchestration storing two files with inputs made by `input(name, size)`.
fn registry<I>(input: fn(&str, u64) -> I) -> Registry
where
    I: Serialize + Send + 'static,
{
    Registry::new()
        .activity("store", |_ctx, input: serde_json::Value| async move {
            Ok::<_, Failure>(input["size"].as_u64().unwrap_or_default())
        })
        .orchestration("flow", move |ctx: OrchestrationContext, _: ()| async move {
            let mut total = 0;
            for (name, size) in [("a", 1), ("b", 2)] {
                total += ctx
                    .call_activity::<_, u64>("store", &input(name, size))
                    .await?;
            }
            Ok(total)
        })
}

fn v1(name: &str, size: u64) -> StoreV1 {
    StoreV1 {
        name: name.to_owned(),
        size,
    }
}

/// A history recorded by the old code.
async fn recorded_by_v1() -> Vec<durable_core::Event> {
    let (run, _) = run_once(registry(v1), Mode::Cached, "flow", &()).await;
    assert_eq!(run.metadata.output.as_deref(), Some("3"));
    run.history
}

#[tokio::test(start_paused = true)]
async fn a_new_skipped_optional_field_replays_cleanly() {
    let history = recorded_by_v1().await;
    let v2 = registry(|name, size| StoreV2Skipped {
        name: name.to_owned(),
        size,
        compress: None,
    });
    assert_eq!(v2.verify_history("test", &history), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_new_null_optional_field_replays_cleanly() {
    let history = recorded_by_v1().await;
    let v2 = registry(|name, size| StoreV2Plain {
        name: name.to_owned(),
        size,
        compress: None,
    });
    assert_eq!(v2.verify_history("test", &history), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_history_recorded_with_the_new_field_replays_with_the_old_code() {
    let (run, _) = run_once(
        registry(|name, size| StoreV2Plain {
            name: name.to_owned(),
            size,
            compress: Some(true),
        }),
        Mode::Cached,
        "flow",
        &(),
    )
    .await;
    assert_eq!(registry(v1).verify_history("test", &run.history), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_changed_value_is_still_nondeterminism() {
    let history = recorded_by_v1().await;
    let changed = registry(|name, size| StoreV2Plain {
        name: name.to_owned(),
        size: size * 10,
        compress: None,
    });
    let failure = changed
        .verify_history("test", &history)
        .expect_err("a changed size must not replay");
    assert_eq!(failure.kind, FailureKind::Nondeterminism, "{failure}");
    assert!(
        failure
            .message
            .contains("ActivityScheduled 'store' (task 0")
            && failure.message.contains(r#""size":10"#),
        "{failure}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_changed_nested_value_or_type_is_still_nondeterminism() {
    let history = recorded_by_v1().await;
    let renamed = registry(|name, size| StoreV1 {
        name: format!("{name}.bin"),
        size,
    });
    let failure = renamed
        .verify_history("test", &history)
        .expect_err("a changed name must not replay");
    assert_eq!(failure.kind, FailureKind::Nondeterminism, "{failure}");
    let retyped = registry(|name, size| (name.to_owned(), size));
    let failure = retyped
        .verify_history("test", &history)
        .expect_err("an array is not an object");
    assert_eq!(failure.kind, FailureKind::Nondeterminism, "{failure}");
}
