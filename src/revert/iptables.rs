//! Removing an iptables chain a fault added (and every jump to it), then checking with
//! `iptables-save` that nothing of it is left.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{node_manual, Undo};
use crate::access::NodeAccess;
use crate::engine::RunContext;
use crate::etcd::iptables;
use crate::scenario::duration::HumanDuration;

/// Delete `chain` and its jumps from `hooks` on `node`; verified afterwards.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RemoveIptablesChain {
    pub node: String,
    pub chain: String,
    pub hooks: Vec<String>,
    /// Timeout of each command.
    pub timeout: HumanDuration,
}

/// Jumps are deleted one at a time; more than this many means something keeps adding them.
const MAX_JUMPS: usize = 16;

impl RemoveIptablesChain {
    fn commands(&self) -> Vec<Vec<String>> {
        let mut cmds: Vec<Vec<String>> = self
            .hooks
            .iter()
            .map(|h| iptables::delete_jump(h, &self.chain))
            .collect();
        cmds.extend(iptables::delete_chain(&self.chain));
        cmds
    }

    async fn run_on(&self, node: &NodeAccess) -> Result<(), String> {
        let t = self.timeout.get();
        let run =
            |argv: Vec<String>| async move { node.run(&argv, t).await.map_err(|e| e.to_string()) };
        for hook in &self.hooks {
            for _ in 0..MAX_JUMPS {
                if !run(iptables::delete_jump(hook, &self.chain))
                    .await?
                    .success()
                {
                    break;
                }
            }
        }
        // Either may fail because the chain never got created; the check below decides.
        for argv in iptables::delete_chain(&self.chain) {
            run(argv).await?;
        }
        let dump = run(iptables::save()).await?;
        if !dump.success() {
            return Err(format!("iptables-save failed: {}", dump.summary()));
        }
        let left = iptables::lines_mentioning(&dump.stdout, &self.chain);
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "chain {} is still there on {}: {}",
                self.chain,
                self.node,
                left.join(" | ")
            ))
        }
    }
}

impl Undo for RemoveIptablesChain {
    fn describe(&self) -> String {
        format!(
            "remove iptables chain {} and its jumps on node {}",
            self.chain, self.node
        )
    }

    fn node(&self) -> Option<&str> {
        Some(&self.node)
    }

    fn manual(&self, ctx: &RunContext) -> Vec<String> {
        let spec = ctx.nodes.get(&self.node).map(|n| n.spec().clone());
        self.commands()
            .iter()
            .map(|argv| node_manual(&self.node, spec.as_ref(), argv))
            .collect()
    }

    fn run<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let node = ctx
                .nodes
                .get(&self.node)
                .ok_or_else(|| format!("node {} is not in the inventory", self.node))?;
            self.run_on(node).await
        })
    }
}
