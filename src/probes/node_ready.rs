//! `node-ready`: the selected nodes' `Ready` condition.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::kube_client::{bounded, ProbeClient};
use super::{ProbeKind, SampleResult, Sampler};
use crate::cluster::nodes::is_ready;
use crate::cluster::select::node_name;
use crate::cluster::{NodeSelection, SelfIdentity};
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// `node-ready: { nodes: { role: worker }, min-ready: 2 }`: healthy when at least
/// `min-ready` (default: all) of the matching nodes are Ready.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NodeReadyProbe {
    #[serde(default)]
    pub nodes: NodeSelection,
    #[serde(default)]
    pub min_ready: Option<usize>,
}

impl ProbeKind for NodeReadyProbe {
    const KIND: &'static str = "node-ready";
    const SUMMARY: &'static str =
        "the Ready condition of the selected nodes (all, or at least min-ready)";
    const EXAMPLE: &'static str =
        "name: workers-ready\ninterval: 1s\ntimeout: 2s\nnode-ready: { nodes: { role: worker } }";

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        self.nodes.validate(&at.key("nodes"), errs, true);
        if self.min_ready == Some(0) {
            errs.add(at.key("min-ready"), "min-ready must be at least 1");
        }
    }

    fn target(&self) -> String {
        format!("Ready condition of {}", self.nodes.describe())
    }

    fn build(&self, ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        Ok(Box::new(NodeReadySampler {
            spec: self.clone(),
            client: ProbeClient::new(ctx, timeout),
        }))
    }
}

struct NodeReadySampler {
    spec: NodeReadyProbe,
    client: ProbeClient,
}

impl Sampler for NodeReadySampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let client = self.client.get().await?;
            // A probe only watches: the harness's own node counts like any other.
            let nodes = bounded(
                self.client.timeout(),
                self.spec.nodes.matching(&client, &SelfIdentity::default()),
            )
            .await?;
            let not_ready: Vec<&str> = nodes
                .iter()
                .filter(|n| !is_ready(n))
                .map(node_name)
                .collect();
            let ready = nodes.len() - not_ready.len();
            let wanted = self.spec.min_ready.unwrap_or(nodes.len());
            if ready >= wanted {
                Ok(Some(
                    serde_json::json!({ "ready": ready, "total": nodes.len() }),
                ))
            } else {
                Err(format!(
                    "{ready}/{} nodes Ready (want {wanted}); not Ready: {}",
                    nodes.len(),
                    not_ready.join(", ")
                ))
            }
        })
    }
}
