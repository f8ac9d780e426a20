//! Whether a registered revert still has something to undo. It has not when its fault was
//! not injected and no command started on the revert's node since the revert was
//! registered: the injection never reached the node (say its host key was refused), so
//! running the revert over the same refused connection could only fail, and calling that
//! a failed revert would report a degraded system where nothing changed.

use super::context::RunContext;
use crate::revert::RevertAction;

/// How many commands had started on a revert's node when the revert was registered.
#[derive(Debug, Clone, PartialEq)]
pub struct ReachMark {
    node: String,
    started: u64,
}

impl ReachMark {
    /// The mark for `action` (before its fault is injected); `None` for reverts that do not
    /// run on a node (those always run).
    pub fn take(ctx: &RunContext, action: &RevertAction) -> Option<Self> {
        let node = action.node()?;
        let access = ctx.nodes.get(node)?;
        Some(Self {
            node: node.to_string(),
            started: access.commands_started(),
        })
    }

    /// Why the revert is not needed, when it is not: the fault's injection did not succeed
    /// (`injection` is its record's state, `None` before it had one) and nothing started
    /// on the node since the mark. Anything else reached the node in between (a probe,
    /// another fault), the revert runs, as it would have without this check.
    pub fn not_needed(&self, ctx: &RunContext, injection: Option<&str>) -> Option<String> {
        if injection == Some("injected") {
            return None;
        }
        let now = ctx.nodes.get(&self.node)?.commands_started();
        (now == self.started).then(|| {
            format!(
                "not needed: the fault never reached node {} (no command started there)",
                self.node
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::access::{NodePool, NodeSpec};
    use crate::cluster::{Cluster, ClusterSettings};
    use crate::revert::NodeCommand;
    use crate::scenario::duration::HumanDuration;

    fn ctx(nodes: &str) -> RunContext {
        let specs: Vec<NodeSpec> = serde_yaml::from_str(nodes).unwrap();
        RunContext {
            nodes: NodePool::new(specs),
            cluster: Cluster::new(ClusterSettings::for_recovery(None, None)),
            run_dir: std::env::temp_dir(),
            revert_timeout: Duration::from_secs(5),
        }
    }

    fn revert_on(node: &str) -> RevertAction {
        RevertAction::NodeCommand(NodeCommand {
            node: node.into(),
            argv: vec!["true".into()],
            verify: None,
            timeout: HumanDuration(Duration::from_secs(5)),
        })
    }

    #[tokio::test]
    async fn a_revert_whose_fault_never_reached_its_node_is_not_needed() {
        // `refused` listens nowhere: connecting fails, nothing starts there.
        let ctx = ctx("- { name: local, access: { local: {} } }\n\
             - { name: refused, access: { ssh: { host: 127.0.0.1, port: 1, connect-timeout: 2s } } }");
        let refused = ReachMark::take(&ctx, &revert_on("refused")).expect("node revert");
        let local = ReachMark::take(&ctx, &revert_on("local")).expect("node revert");
        let argv = vec!["true".to_string()];
        let t = Duration::from_secs(5);
        // The injection: fails on `refused`, runs on `local`.
        assert!(ctx
            .nodes
            .get("refused")
            .unwrap()
            .run(&argv, t)
            .await
            .is_err());
        assert!(ctx.nodes.get("local").unwrap().run(&argv, t).await.is_ok());
        let why = refused.not_needed(&ctx, Some("failed"));
        assert!(why.is_some_and(|w| w.contains("never reached node refused")));
        assert!(refused.not_needed(&ctx, None).is_some(), "cut short");
        // Reached: the revert runs.
        assert_eq!(local.not_needed(&ctx, Some("failed")), None);
        // Injected: the revert always runs.
        assert_eq!(refused.not_needed(&ctx, Some("injected")), None);
        // Reverts that run no command on a node have no mark.
        let local_cmd = RevertAction::LocalCommand(crate::revert::LocalCommand {
            argv: argv.clone(),
            timeout: HumanDuration(t),
        });
        assert_eq!(ReachMark::take(&ctx, &local_cmd), None);
    }
}
