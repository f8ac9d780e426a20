//! `node-command`: a command run on a node through its access; exit 0 is healthy.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::command_result::succeeded;
use super::{validate_argv, ProbeKind, SampleResult, Sampler};
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// `node-command: { node: n1, argv: [curl, -sf, http://127.0.0.1:10248/healthz] }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NodeCommandProbe {
    pub node: String,
    #[serde(deserialize_with = "crate::scenario::argv::lenient")]
    pub argv: Vec<String>,
}

impl ProbeKind for NodeCommandProbe {
    const KIND: &'static str = "node-command";
    const SUMMARY: &'static str =
        "command on a node through its access (ssh, docker, netns); healthy on exit 0";
    const EXAMPLE: &'static str =
        "name: kubelet-healthz\ninterval: 1s\ntimeout: 3s\nnode-command: { node: n1, argv: [curl, -sf, \"http://127.0.0.1:10248/healthz\"] }";

    fn node_refs(&self) -> Vec<String> {
        vec![self.node.clone()]
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        if self.node.trim().is_empty() {
            errs.add(at.key("node"), "name the node the command runs on");
        }
        validate_argv(&self.argv, &at.key("argv"), errs);
    }

    fn target(&self) -> String {
        format!(
            "{} on {}",
            self.argv.first().cloned().unwrap_or_default(),
            self.node
        )
    }

    fn build(&self, ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        if ctx.nodes.get(&self.node).is_none() {
            return Err(format!("node `{}` is not in the inventory", self.node));
        }
        Ok(Box::new(NodeCommandSampler {
            ctx: ctx.clone(),
            node: self.node.clone(),
            argv: self.argv.clone(),
            timeout,
        }))
    }
}

struct NodeCommandSampler {
    ctx: Arc<RunContext>,
    node: String,
    argv: Vec<String>,
    timeout: Duration,
}

impl Sampler for NodeCommandSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let node = self.ctx.nodes.get(&self.node).ok_or("node vanished")?;
            succeeded(node.run(&self.argv, self.timeout).await)?;
            Ok(None)
        })
    }
}
