//! Pod lifecycle: graceful deletion, creation from a controller's template, binding to a node.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::meta;
use super::resources;
use super::seeds;
use super::state::{ClusterState, ObjectKey};
use super::status::ApiError;

/// Deletes a pod with `grace_seconds` (its `terminationGracePeriodSeconds` when `None`).
///
/// The pod is removed at once unless both the grace period and the fake's
/// `deletion_grace_cap` are positive; then it stays terminating (deletionTimestamp set) for
/// the smaller of the two. Returns the pod as last stored, like kube-apiserver.
pub fn delete_pod(
    state: &mut ClusterState,
    key: &ObjectKey,
    grace_seconds: Option<i64>,
) -> Result<Value, ApiError> {
    let pod = state
        .get(key)
        .ok_or_else(|| ApiError::not_found(resources::by_kind("Pod"), &key.name))?;
    let default_grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .unwrap_or(30);
    let grace = grace_seconds.unwrap_or(default_grace).max(0);
    let linger = Duration::from_secs(grace as u64).min(state.timing.deletion_grace_cap);
    if linger.is_zero() {
        return Ok(state.remove(key).expect("checked above"));
    }
    if meta::is_terminating(pod) {
        return Ok(pod.clone());
    }
    let uid = meta::uid(pod).to_string();
    let deadline = chrono::Utc::now() + chrono::Duration::seconds(grace);
    let deleted = state
        .modify(key, |pod| {
            pod["metadata"]["deletionTimestamp"] =
                json!(deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            pod["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
        })
        .expect("checked above");
    state
        .remove_at
        .insert(uid, (key.clone(), Instant::now() + linger));
    Ok(deleted)
}

/// A new, unbound pod of controller `owner` (of `owner_kind`) named `name`.
pub fn from_template(owner_kind: &str, owner: &Value, name: &str) -> Value {
    let template = &owner["spec"]["template"];
    let owner_ref = seeds::owner_reference(owner_kind, meta::name(owner), meta::uid(owner));
    let mut metadata = json!({
        "name": name,
        "namespace": meta::namespace(owner),
        "labels": template["metadata"]["labels"],
        "ownerReferences": [owner_ref],
    });
    if owner_kind != "StatefulSet" {
        metadata["generateName"] = json!(format!("{}-", meta::name(owner)));
    }
    json!({"metadata": metadata, "spec": template["spec"], "status": unbound_status()})
}

/// The status of a pod no node has taken yet.
pub fn unbound_status() -> Value {
    let mut pod = json!({"status": seeds::pod_status("Pending")});
    pod["status"]["conditions"] = json!([]);
    meta::set_condition(&mut pod, "PodScheduled", false);
    meta::set_pod_ready(&mut pod, false);
    pod["status"].take()
}

/// Binds a stored pod to `node`: it starts Running, and turns Ready after `ready_delay`.
pub fn bind(state: &mut ClusterState, key: &ObjectKey, node: &str) {
    let ready_at = Instant::now() + state.timing.ready_delay;
    let bound = state.modify(key, |pod| {
        pod["spec"]["nodeName"] = json!(node);
        pod["status"]["phase"] = json!("Running");
        meta::set_condition(pod, "PodScheduled", true);
        meta::set_condition(pod, "Initialized", true);
    });
    if let Some(pod) = bound {
        state.ready_at.insert(meta::uid(&pod).to_string(), ready_at);
    }
}
