//! `POST .../pods/NAME/eviction`: the PodDisruptionBudget check, then a graceful delete.

use serde_json::{Map, Value};

use super::disruption;
use super::meta;
use super::pods;
use super::records::{DeleteRecord, EvictionRecord};
use super::resources;
use super::state::{ClusterState, ObjectKey};
use super::status::{self, ApiError};

/// Evicts the pod `key` as kube-apiserver does, recording what the request carried.
pub fn evict(
    state: &mut ClusterState,
    key: &ObjectKey,
    body: &[u8],
) -> Result<(u16, Value), ApiError> {
    let eviction: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid Eviction body: {e}")))?;
    let delete_options = eviction.get("deleteOptions").and_then(Value::as_object);
    let grace = delete_options
        .and_then(|o| o.get("gracePeriodSeconds"))
        .and_then(Value::as_i64);
    let mut record = EvictionRecord {
        namespace: key.namespace.clone(),
        pod: key.name.clone(),
        delete_options_present: delete_options.is_some(),
        grace_period_seconds: grace,
        misplaced_grace_keys: Vec::new(),
        code: 0,
    };
    if let Some(map) = eviction.as_object() {
        collect_grace_keys(map, "", &mut record.misplaced_grace_keys);
    }
    let outcome = check_and_delete(state, key, grace);
    record.code = outcome.as_ref().map_or_else(|e| e.code, |_| 201);
    state.evictions.push(record);
    outcome.map(|()| (201, status::success(201)))
}

/// Paths of keys mentioning a grace period anywhere but `deleteOptions.gracePeriodSeconds`.
fn collect_grace_keys(map: &Map<String, Value>, prefix: &str, found: &mut Vec<String>) {
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if key.to_ascii_lowercase().contains("grace") && path != "deleteOptions.gracePeriodSeconds"
        {
            found.push(path.clone());
        }
        if let Some(inner) = value.as_object() {
            collect_grace_keys(inner, &path, found);
        }
    }
}

fn check_and_delete(
    state: &mut ClusterState,
    key: &ObjectKey,
    grace: Option<i64>,
) -> Result<(), ApiError> {
    let pod = state
        .get(key)
        .ok_or_else(|| ApiError::not_found(resources::by_kind("Pod"), &key.name))?;
    // Pods that are not running or already terminating are evicted without a budget check.
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    let exempt = meta::is_terminating(pod) || matches!(phase, "Pending" | "Succeeded" | "Failed");
    if !exempt {
        check_budget(state, pod)?;
    }
    pods::delete_pod(state, key, grace)?;
    state.deletions.push(DeleteRecord {
        namespace: key.namespace.clone(),
        pod: key.name.clone(),
        query_grace_period_seconds: None,
        body_grace_period_seconds: grace,
        via_eviction: true,
    });
    Ok(())
}

/// Refuses with 429 when evicting would take the matching budget below its desired health.
fn check_budget(state: &ClusterState, pod: &Value) -> Result<(), ApiError> {
    let budgets = disruption::budgets_for(state, pod);
    let pdb = match budgets[..] {
        [] => return Ok(()),
        [pdb] => pdb,
        _ => {
            let message = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";
            return Err(ApiError::internal(message));
        }
    };
    let budget = disruption::compute(state, pdb);
    // Default unhealthyPodEvictionPolicy IfHealthyBudget: an unready pod may go while the
    // budget is met; a ready one only while a disruption is allowed.
    let allowed = if meta::pod_ready(pod) {
        budget.disruptions_allowed() > 0
    } else {
        budget.current_healthy >= budget.desired_healthy
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::disruption_budget(
            meta::name(pdb),
            budget.desired_healthy,
            budget.current_healthy,
        ))
    }
}
