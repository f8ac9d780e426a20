//! `cordon`: mark nodes unschedulable. Reverted by uncordoning only the nodes that were
//! schedulable before.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::access::cluster_client;
use super::k8s_nodes::{self, TargetNode};
use super::{prepared, FaultError, FaultKind, Prepared};
use crate::cluster::NodeSelection;
use crate::engine::RunContext;
use crate::revert::RevertAction;
use crate::scenario::{Errors, KeyPath};

/// `cordon: { nodes: { role: worker, count: 1, pick: random } }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CordonFault {
    pub nodes: NodeSelection,
}

impl FaultKind for CordonFault {
    const KIND: &'static str = "cordon";
    const SUMMARY: &'static str =
        "mark nodes unschedulable; reverted by uncordoning the ones that were schedulable";
    const EXAMPLE: &'static str =
        "fault:\n  cordon: { nodes: { role: worker, count: 1, pick: random } }\nfor: 30s";

    fn needs_cluster(&self) -> bool {
        true
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        self.nodes.validate(&at.key("nodes"), errs, false);
    }

    fn describe(&self) -> String {
        format!("cordon {}", self.nodes.describe())
    }

    fn undo(&self) -> String {
        "uncordon the nodes that were schedulable before".to_string()
    }

    fn prepare(
        &self,
        ctx: Arc<RunContext>,
    ) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
        let selection = self.nodes.clone();
        prepared::boxed(async move {
            let client = cluster_client(&ctx).await?;
            let targets = k8s_nodes::resolve(&client, &selection).await?;
            Ok(PreparedCordon { client, targets })
        })
    }
}

struct PreparedCordon {
    client: kube::Client,
    targets: Vec<TargetNode>,
}

impl Prepared for PreparedCordon {
    fn describe(&self) -> String {
        format!("cordon {}", k8s_nodes::describe(&self.targets))
    }

    fn reverts(&self) -> Vec<RevertAction> {
        k8s_nodes::uncordon_reverts(&self.targets)
    }

    fn inject(self: Box<Self>) -> BoxFuture<'static, Result<serde_json::Value, FaultError>> {
        Box::pin(async move {
            for t in &self.targets {
                k8s_nodes::cordon(&self.client, &t.node).await?;
            }
            Ok(serde_json::json!({ "nodes": self.targets }))
        })
    }
}
