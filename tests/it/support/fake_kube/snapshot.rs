//! A comparable summary of where things ended up, for comparing two drains.

use std::collections::BTreeMap;

use super::meta;
use super::state::ClusterState;

/// Node cordon flags and, per node, the pods on it named by what owns them.
///
/// Each pod is `OwnerKind/ownerName` (`Node/NAME` for mirror pods) or `Pod/podName` when it
/// has no controller, so replacement pods with fresh random names still compare equal.
/// Terminating pods are left out; unbound pods are under the key `""`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndState {
    pub unschedulable: BTreeMap<String, bool>,
    pub pods_by_node: BTreeMap<String, Vec<String>>,
}

pub fn end_state(state: &ClusterState) -> EndState {
    let nodes = state.list("Node", None);
    let unschedulable = nodes
        .iter()
        .map(|n| {
            (
                meta::name(n).to_string(),
                n["spec"]["unschedulable"].as_bool() == Some(true),
            )
        })
        .collect();
    let mut pods_by_node: BTreeMap<String, Vec<String>> = nodes
        .iter()
        .map(|n| (meta::name(n).to_string(), Vec::new()))
        .collect();
    for pod in state
        .pods()
        .into_iter()
        .filter(|p| !meta::is_terminating(p))
    {
        let owner = match meta::controller_of(pod) {
            Some((kind, name)) => format!("{kind}/{name}"),
            None => format!("Pod/{}", meta::name(pod)),
        };
        pods_by_node
            .entry(meta::node_name(pod).to_string())
            .or_default()
            .push(owner);
    }
    pods_by_node.values_mut().for_each(|pods| pods.sort());
    EndState {
        unschedulable,
        pods_by_node,
    }
}
