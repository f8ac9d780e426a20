//! Status of ReplicaSets, Deployments, StatefulSets, DaemonSets and PDBs, derived from pods.

use serde_json::{json, Value};

use super::disruption;
use super::meta;
use super::state::{ClusterState, ObjectKey};

/// Pods whose controller is `kind`/`name` in `namespace`, terminating ones included.
pub fn owned_pods<'a>(
    state: &'a ClusterState,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Vec<&'a Value> {
    state
        .list("Pod", Some(namespace))
        .into_iter()
        .filter(|p| meta::controller_of(p) == Some((kind, name)))
        .collect()
}

/// `(active, ready)` counts of a controller's pods; terminating pods are not active.
fn counts(state: &ClusterState, kind: &str, object: &Value) -> (i64, i64) {
    let pods = owned_pods(state, kind, meta::namespace(object), meta::name(object));
    let active: Vec<_> = pods
        .into_iter()
        .filter(|p| !meta::is_terminating(p))
        .collect();
    let ready = active.iter().filter(|p| meta::pod_ready(p)).count();
    (active.len() as i64, ready as i64)
}

fn generation(object: &Value) -> i64 {
    object["metadata"]["generation"].as_i64().unwrap_or(1)
}

fn replica_set_status(state: &ClusterState, rs: &Value) -> Value {
    let (active, ready) = counts(state, "ReplicaSet", rs);
    json!({
        "replicas": active, "fullyLabeledReplicas": active, "readyReplicas": ready,
        "availableReplicas": ready, "observedGeneration": generation(rs),
    })
}

fn deployment_status(state: &ClusterState, deployment: &Value) -> Value {
    let (namespace, name) = (meta::namespace(deployment), meta::name(deployment));
    let sets = state.list("ReplicaSet", Some(namespace));
    let owned = sets
        .iter()
        .filter(|rs| meta::controller_of(rs) == Some(("Deployment", name)));
    let sum = |field: &str| {
        owned
            .clone()
            .map(|rs| rs["status"][field].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    let (replicas, ready, available) = (
        sum("replicas"),
        sum("readyReplicas"),
        sum("availableReplicas"),
    );
    let wanted = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    // Default rolling update: maxUnavailable 25%, rounded down.
    let available_enough = available >= wanted - wanted / 4;
    let condition_status = if available_enough { "True" } else { "False" };
    let reason = if available_enough {
        "MinimumReplicasAvailable"
    } else {
        "MinimumReplicasUnavailable"
    };
    json!({
        "observedGeneration": generation(deployment),
        "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": ready,
        "availableReplicas": available, "unavailableReplicas": (wanted - available).max(0),
        "conditions": [{"type": "Available", "status": condition_status, "reason": reason,
                        "message": "", "lastUpdateTime": "2026-01-01T00:00:00Z",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}],
    })
}

fn stateful_set_status(state: &ClusterState, sts: &Value) -> Value {
    let (active, ready) = counts(state, "StatefulSet", sts);
    let revision = format!("{}-6b7f9c5d4", meta::name(sts));
    json!({
        "observedGeneration": generation(sts), "replicas": active, "readyReplicas": ready,
        "currentReplicas": active, "updatedReplicas": active, "availableReplicas": ready,
        "currentRevision": revision, "updateRevision": revision, "collisionCount": 0,
    })
}

fn daemon_set_status(state: &ClusterState, ds: &Value) -> Value {
    let (active, ready) = counts(state, "DaemonSet", ds);
    let key = (meta::namespace(ds).to_string(), meta::name(ds).to_string());
    let desired = state
        .daemonset_nodes
        .get(&key)
        .map_or(0, |nodes| nodes.len()) as i64;
    json!({
        "observedGeneration": generation(ds), "desiredNumberScheduled": desired,
        "currentNumberScheduled": active, "numberMisscheduled": 0, "numberReady": ready,
        "numberAvailable": ready, "numberUnavailable": (desired - ready).max(0),
        "updatedNumberScheduled": active,
    })
}

/// Recomputes every derived status; objects whose status did not change keep their version.
pub fn refresh_statuses(state: &mut ClusterState) {
    type Derive = fn(&ClusterState, &Value) -> Value;
    // ReplicaSets first: Deployments sum their statuses.
    let derivations: [(&'static str, Derive); 5] = [
        ("ReplicaSet", replica_set_status),
        ("Deployment", deployment_status),
        ("StatefulSet", stateful_set_status),
        ("DaemonSet", daemon_set_status),
        ("PodDisruptionBudget", |state, pdb| {
            disruption::compute(state, pdb).to_status(generation(pdb))
        }),
    ];
    for (kind, derive) in derivations {
        let updates: Vec<(ObjectKey, Value)> = state
            .list(kind, None)
            .into_iter()
            .map(|object| (ObjectKey::of(kind, object), derive(state, object)))
            .collect();
        for (key, status) in updates {
            state.modify(&key, |object| object["status"] = status);
        }
    }
}
