//! Nodes a node fault resolved, with whether each was cordoned before — the fact the
//! `Uncordon` revert depends on, decided at prepare time.

use serde::Serialize;

use super::FaultError;
use crate::cluster::nodes;
use crate::cluster::select::{node_name, NodeSelection};
use crate::revert::{RevertAction, Uncordon};

/// One resolved node.
#[derive(Debug, Clone, Serialize)]
pub struct TargetNode {
    pub node: String,
    /// Someone had cordoned it already: it is left cordoned afterwards.
    pub was_cordoned: bool,
}

/// Resolves `selection` read-only.
pub async fn resolve(
    client: &kube::Client,
    selection: &NodeSelection,
) -> Result<Vec<TargetNode>, FaultError> {
    let found = selection.resolve(client).await.map_err(FaultError)?;
    Ok(found
        .iter()
        .map(|n| TargetNode {
            node: node_name(n).to_string(),
            was_cordoned: nodes::is_unschedulable(n),
        })
        .collect())
}

/// `Uncordon` for each node that was schedulable before.
pub fn uncordon_reverts(targets: &[TargetNode]) -> Vec<RevertAction> {
    targets
        .iter()
        .filter(|t| !t.was_cordoned)
        .map(|t| {
            RevertAction::Uncordon(Uncordon {
                node: t.node.clone(),
            })
        })
        .collect()
}

/// `w-1, w-2 (already cordoned: stays cordoned)`.
pub fn describe(targets: &[TargetNode]) -> String {
    let list: Vec<String> = targets
        .iter()
        .map(|t| {
            if t.was_cordoned {
                format!("{} (already cordoned: stays cordoned)", t.node)
            } else {
                t.node.clone()
            }
        })
        .collect();
    list.join(", ")
}

/// Cordons one node (a no-op patch when it already is).
pub async fn cordon(client: &kube::Client, node: &str) -> Result<(), FaultError> {
    nodes::set_unschedulable(client, node, true)
        .await
        .map_err(|e| FaultError(format!("cannot cordon {node}: {e}")))
}
