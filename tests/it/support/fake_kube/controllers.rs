//! Simulated kube-controller-manager, kube-scheduler and kubelet, advanced by `tick`.
//!
//! - ReplicaSets keep `spec.replicas` active pods (new name, new uid, least-loaded node);
//!   a Deployment's `spec.replicas` is copied to its ReplicaSet.
//! - StatefulSets keep pods `NAME-0..replicas` (same name, new uid) once the old pod is gone.
//! - DaemonSets keep one pod on each node their seeded pods ran on (cordoned or not).
//! - A controller acts after it has seen the shortfall for `recreate_delay`; a bound pod
//!   turns Ready `ready_delay` after binding; terminating pods vanish when their time is up.

use std::time::Instant;

use serde_json::Value;

use super::meta;
use super::pods;
use super::state::{ClusterState, ObjectKey};
use super::workloads::{self, owned_pods};

/// One step of every simulated controller.
pub fn tick(state: &mut ClusterState, now: Instant) {
    finish_deletions(state, now);
    mark_ready(state, now);
    copy_deployment_scale(state);
    schedule_unbound(state);
    keep_replicas(state, now);
    workloads::refresh_statuses(state);
}

/// Takes the entries of `map` that are due.
fn take_due<V: Clone>(
    map: &mut std::collections::HashMap<String, V>,
    due: impl Fn(&V) -> bool,
) -> Vec<(String, V)> {
    let keys: Vec<String> = map
        .iter()
        .filter(|(_, v)| due(v))
        .map(|(k, _)| k.clone())
        .collect();
    keys.into_iter()
        .map(|k| {
            let v = map.remove(&k).expect("key listed above");
            (k, v)
        })
        .collect()
}

fn finish_deletions(state: &mut ClusterState, now: Instant) {
    for (uid, (key, _)) in take_due(&mut state.remove_at, |(_, at)| *at <= now) {
        if state.get(&key).is_some_and(|pod| meta::uid(pod) == uid) {
            state.remove(&key);
        }
    }
}

fn mark_ready(state: &mut ClusterState, now: Instant) {
    for (uid, _) in take_due(&mut state.ready_at, |at| *at <= now) {
        let pod = state.pods().into_iter().find(|p| meta::uid(p) == uid);
        if let Some(key) = pod
            .filter(|p| !meta::is_terminating(p))
            .map(|p| ObjectKey::of("Pod", p))
        {
            state.modify(&key, |pod| meta::set_pod_ready(pod, true));
            let full_name = format!("{}/{}", key.namespace, key.name);
            state.became_ready.insert(full_name, chrono::Utc::now());
        }
    }
}

fn copy_deployment_scale(state: &mut ClusterState) {
    let mut updates = Vec::new();
    for deployment in state.list("Deployment", None) {
        let replicas = deployment["spec"]["replicas"].clone();
        for rs in state.list("ReplicaSet", Some(meta::namespace(deployment))) {
            if meta::controller_of(rs) == Some(("Deployment", meta::name(deployment))) {
                updates.push((ObjectKey::of("ReplicaSet", rs), replicas.clone()));
            }
        }
    }
    for (key, replicas) in updates {
        state.modify(&key, |rs| rs["spec"]["replicas"] = replicas);
    }
}

/// Nodes a new pod may go to: Ready, not cordoned, no NoSchedule/NoExecute taint.
fn schedulable(node: &Value) -> bool {
    let taints = node["spec"]["taints"].as_array().into_iter().flatten();
    meta::condition_true(node, "Ready")
        && node["spec"]["unschedulable"].as_bool() != Some(true)
        && !taints
            .clone()
            .any(|t| t["effect"] == "NoSchedule" || t["effect"] == "NoExecute")
}

/// The schedulable node with the fewest pods of the same controller, then fewest pods.
fn pick_node(state: &ClusterState, pod: &Value) -> Option<String> {
    let pods = state.pods();
    let load = |node: &str, same_owner: bool| {
        pods.iter()
            .filter(|p| meta::node_name(p) == node && !meta::is_terminating(p))
            .filter(|p| !same_owner || meta::controller_of(p) == meta::controller_of(pod))
            .count()
    };
    state
        .list("Node", None)
        .into_iter()
        .filter(|n| schedulable(n))
        .map(meta::name)
        .min_by_key(|n| (load(n, true), load(n, false), n.to_string()))
        .map(str::to_string)
}

fn schedule_unbound(state: &mut ClusterState) {
    let unbound: Vec<(ObjectKey, Option<String>)> = state
        .pods()
        .into_iter()
        .filter(|p| meta::node_name(p).is_empty() && !meta::is_terminating(p))
        .map(|p| (ObjectKey::of("Pod", p), pick_node(state, p)))
        .collect();
    for (key, node) in unbound {
        if let Some(node) = node {
            pods::bind(state, &key, &node);
        }
    }
}

/// A pod a controller wants: its name, and the node it must run on (DaemonSets).
type WantedPod = (String, Option<String>);

fn wanted_pods(state: &ClusterState, kind: &str, owner: &Value) -> Vec<WantedPod> {
    let (namespace, name) = (meta::namespace(owner), meta::name(owner));
    let owned = owned_pods(state, kind, namespace, name);
    let replicas = owner["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
    match kind {
        "ReplicaSet" => {
            let active = owned.iter().filter(|p| !meta::is_terminating(p)).count() as i64;
            let missing = (replicas - active).max(0);
            (0..missing)
                .map(|_| (format!("{name}-{}", meta::random_suffix()), None))
                .collect()
        }
        "StatefulSet" => (0..replicas)
            .map(|ordinal| format!("{name}-{ordinal}"))
            .filter(|pod| !owned.iter().any(|p| meta::name(p) == pod))
            .map(|pod| (pod, None))
            .collect(),
        _ => {
            let key = (namespace.to_string(), name.to_string());
            let nodes = state.daemonset_nodes.get(&key).into_iter().flatten();
            nodes
                .filter(|node| !owned.iter().any(|p| meta::node_name(p) == node.as_str()))
                .map(|node| {
                    (
                        format!("{name}-{}", meta::random_suffix()),
                        Some(node.clone()),
                    )
                })
                .collect()
        }
    }
}

fn keep_replicas(state: &mut ClusterState, now: Instant) {
    let delay = state.timing.recreate_delay;
    let mut to_create = Vec::new();
    for kind in ["ReplicaSet", "StatefulSet", "DaemonSet"] {
        let owners: Vec<Value> = state.list(kind, None).into_iter().cloned().collect();
        for owner in owners {
            let key = ObjectKey::of(kind, &owner);
            let wanted = wanted_pods(state, kind, &owner);
            if wanted.is_empty() {
                state.shortfall_since.remove(&key);
                continue;
            }
            let since = *state.shortfall_since.entry(key.clone()).or_insert(now);
            if now.duration_since(since) >= delay {
                state.shortfall_since.remove(&key);
                to_create.extend(wanted.into_iter().map(|w| (kind, owner.clone(), w)));
            }
        }
    }
    for (kind, owner, (name, node)) in to_create {
        let Ok(pod) = state.create("Pod", pods::from_template(kind, &owner, &name)) else {
            continue;
        };
        let node = node.or_else(|| pick_node(state, &pod));
        if let Some(node) = node {
            pods::bind(state, &ObjectKey::of("Pod", &pod), &node);
        }
    }
}
