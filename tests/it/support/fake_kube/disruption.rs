//! PodDisruptionBudget accounting, as the disruption controller and the eviction check do it.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::meta;
use super::selectors::LabelSelector;
use super::state::{ClusterState, ObjectKey};

/// The numbers a PodDisruptionBudget's status carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub expected_pods: i64,
    pub desired_healthy: i64,
    pub current_healthy: i64,
}

impl Budget {
    pub fn disruptions_allowed(&self) -> i64 {
        (self.current_healthy - self.desired_healthy).max(0)
    }

    pub fn to_status(self, generation: i64) -> Value {
        let allowed = self.disruptions_allowed();
        let (status, reason) = if allowed > 0 {
            ("True", "SufficientPods")
        } else {
            ("False", "InsufficientPods")
        };
        json!({
            "observedGeneration": generation,
            "disruptionsAllowed": allowed,
            "currentHealthy": self.current_healthy,
            "desiredHealthy": self.desired_healthy,
            "expectedPods": self.expected_pods,
            "conditions": [{"type": "DisruptionAllowed", "status": status, "reason": reason,
                            "message": "", "observedGeneration": generation,
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        })
    }
}

fn selects(pdb: &Value, pod: &Value) -> bool {
    meta::namespace(pdb) == meta::namespace(pod)
        && LabelSelector::from_object(&pdb["spec"]["selector"])
            .is_ok_and(|s| s.matches(&meta::labels(pod)))
}

/// The budgets in the pod's namespace whose selector matches it.
pub fn budgets_for<'a>(state: &'a ClusterState, pod: &Value) -> Vec<&'a Value> {
    let budgets = state.list("PodDisruptionBudget", Some(meta::namespace(pod)));
    budgets
        .into_iter()
        .filter(|pdb| selects(pdb, pod))
        .collect()
}

/// Resolves an int-or-percent against `total`, rounding percentages up like upstream.
fn scaled(value: &Value, total: i64) -> i64 {
    match value {
        Value::String(s) => {
            let percent: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            (percent * total + 99) / 100
        }
        other => other.as_i64().unwrap_or(0),
    }
}

/// Pods expected by the controllers of `pods`: their `spec.replicas` (pods without a scalable
/// controller count themselves), as the disruption controller reads the scale subresource.
fn expected_pods(state: &ClusterState, pods: &[&Value]) -> i64 {
    let mut by_controller: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut uncontrolled = 0;
    for pod in pods {
        let scalable = meta::controller_of(pod).and_then(|(kind, name)| {
            let kind = ["ReplicaSet", "StatefulSet"]
                .into_iter()
                .find(|k| *k == kind)?;
            let controller = state.get(&ObjectKey::new(kind, meta::namespace(pod), name))?;
            Some(((kind, name), controller["spec"]["replicas"].as_i64()?))
        });
        match scalable {
            Some((key, replicas)) => {
                by_controller.insert(key, replicas);
            }
            None => uncontrolled += 1,
        }
    }
    by_controller.values().sum::<i64>() + uncontrolled
}

pub fn compute(state: &ClusterState, pdb: &Value) -> Budget {
    let pods: Vec<&Value> = state
        .pods()
        .into_iter()
        .filter(|p| selects(pdb, p))
        .collect();
    let current_healthy = pods.iter().filter(|p| meta::pod_healthy(p)).count() as i64;
    let spec = &pdb["spec"];
    let (expected_pods, desired_healthy) = if let Some(max) = spec.get("maxUnavailable") {
        let expected = expected_pods(state, &pods);
        (expected, (expected - scaled(max, expected)).max(0))
    } else if let Some(min @ Value::String(_)) = spec.get("minAvailable") {
        let expected = expected_pods(state, &pods);
        (expected, scaled(min, expected))
    } else {
        let min = spec.get("minAvailable").map_or(1, |m| scaled(m, 0));
        (pods.len() as i64, min)
    };
    Budget {
        expected_pods,
        desired_healthy,
        current_healthy,
    }
}
