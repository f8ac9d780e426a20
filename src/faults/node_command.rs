//! `node-command`: any command on one or more nodes, with its revert (the drill escape
//! hatch). argv through the node's access; no shell unless you write one.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::access::{inventory_node, run_checked};
use super::stop_service::describe_targets;
use super::targets::k8s_nodes;
use super::{prepared, BlastRadius, FaultError, FaultKind, Prepared};
use crate::engine::RunContext;
use crate::probes::validate_argv;
use crate::revert::{NodeCommand, RevertAction};
use crate::scenario::duration::HumanDuration;
use crate::scenario::{Errors, KeyPath};

/// `node-command: { nodes: [n1], inject: [...], revert: [...] }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NodeCommandFault {
    /// Node names from the inventory.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Or: nodes with this role (the first `count` by name).
    #[serde(default)]
    pub role: Option<String>,
    /// How many nodes to pick by role (default 1).
    #[serde(default)]
    pub count: Option<usize>,
    /// Or: the node whose component holds this leader-election Lease (`NAMESPACE/NAME`,
    /// holder identity `<node>_<uuid>`), read when the fault is prepared.
    #[serde(default)]
    pub lease_holder: Option<String>,
    #[serde(deserialize_with = "crate::scenario::argv::lenient")]
    pub inject: Vec<String>,
    #[serde(deserialize_with = "crate::scenario::argv::lenient")]
    pub revert: Vec<String>,
    /// Nodes that may be affected at once (blast-radius guard).
    #[serde(default = "super::targets::one_node_at_a_time")]
    pub max_unavailable: usize,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

k8s_nodes!(NodeCommandFault);

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

impl FaultKind for NodeCommandFault {
    const KIND: &'static str = "node-command";
    const SUMMARY: &'static str =
        "a command on nodes (ssh, docker or netns) with its revert command";
    const EXAMPLE: &'static str =
        "fault:\n  node-command: { nodes: [n1], inject: [ip, link, set, eth0, down], revert: [ip, link, set, eth0, up] }\nfor: 10s";

    fn node_refs(&self) -> Vec<String> {
        self.nodes.clone()
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        self.targets().validate(at, self.max_unavailable, errs);
        validate_argv(&self.inject, &at.key("inject"), errs);
        validate_argv(&self.revert, &at.key("revert"), errs);
    }

    fn describe(&self) -> String {
        format!(
            "run `{}` on {}",
            self.inject.join(" "),
            describe_targets(&self.targets())
        )
    }

    fn undo(&self) -> String {
        format!("run `{}` on the same nodes", self.revert.join(" "))
    }

    fn prepare(
        &self,
        ctx: Arc<RunContext>,
    ) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
        let spec = self.clone();
        prepared::boxed(async move {
            let nodes = spec.targets().resolve(&ctx).await.map_err(FaultError)?;
            let names = nodes.into_iter().map(|n| n.name).collect();
            Ok(PreparedNodeCommand {
                spec,
                ctx,
                nodes: names,
            })
        })
    }
}

struct PreparedNodeCommand {
    spec: NodeCommandFault,
    ctx: Arc<RunContext>,
    nodes: Vec<String>,
}

impl Prepared for PreparedNodeCommand {
    fn blast_radius(&self) -> Option<BlastRadius> {
        Some(BlastRadius {
            nodes: self.nodes.clone(),
            max_unavailable: self.spec.max_unavailable,
        })
    }

    fn describe(&self) -> String {
        format!(
            "run `{}` on {}",
            self.spec.inject.join(" "),
            self.nodes.join(", ")
        )
    }

    fn reverts(&self) -> Vec<RevertAction> {
        self.nodes
            .iter()
            .map(|n| {
                RevertAction::NodeCommand(NodeCommand {
                    node: n.clone(),
                    argv: self.spec.revert.clone(),
                    verify: None,
                    timeout: self.spec.timeout,
                })
            })
            .collect()
    }

    fn inject(self: Box<Self>) -> BoxFuture<'static, Result<serde_json::Value, FaultError>> {
        Box::pin(async move {
            let mut details = Vec::new();
            for name in &self.nodes {
                let node = inventory_node(&self.ctx, name)?;
                let out = run_checked(node, &self.spec.inject, self.spec.timeout.get()).await?;
                details.push(serde_json::json!({ "node": name, "output": out }));
            }
            Ok(serde_json::json!({ "nodes": details }))
        })
    }
}
