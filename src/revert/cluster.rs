//! Reverts that talk to the Kubernetes API. They hold names only, so `kubedrill recover`
//! can run them from the journal with a fresh client.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::Undo;
use crate::cluster::{nodes, pods};
use crate::engine::RunContext;

/// How often waits poll the API.
const POLL: Duration = Duration::from_millis(250);

/// Make a node schedulable again. Only journaled for nodes that were schedulable before the
/// fault, so a node someone else had cordoned stays cordoned; and a node someone else
/// cordoned again while the fault held stays cordoned too (the revert says so).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Uncordon {
    pub node: String,
}

impl Undo for Uncordon {
    fn describe(&self) -> String {
        format!("uncordon node {}", self.node)
    }

    fn manual(&self, ctx: &RunContext) -> Vec<String> {
        vec![format!("{} uncordon {}", kubectl(ctx), self.node)]
    }

    /// Re-reads the node and uncordons it only while kubedrill's cordon is the one in
    /// place (`nodes::uncordon_if_ours`); the details say which case it was.
    fn run_reported<'a>(
        &'a self,
        ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<serde_json::Value, String>> {
        Box::pin(async move {
            let client = ctx.cluster.client().await?;
            let result = match nodes::uncordon_if_ours(&client, &self.node).await? {
                nodes::Uncordoned::Done => "uncordoned".to_string(),
                nodes::Uncordoned::AlreadySchedulable => {
                    format!("node {} was schedulable already", self.node)
                }
                nodes::Uncordoned::NodeGone => format!("node {} no longer exists", self.node),
                nodes::Uncordoned::LeftToOthers(why) => {
                    tracing::warn!("{why}");
                    why
                }
            };
            Ok(serde_json::json!({ "result": result }))
        })
    }
}

/// Wait until at least `min-ready` pods matching `selector` in `namespace` are Ready again
/// (deleted pods come back through their controllers; nothing to undo but to wait). The
/// engine bounds the wait with the revert timeout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WaitPodsReady {
    pub namespace: String,
    pub selector: String,
    pub min_ready: usize,
}

impl Undo for WaitPodsReady {
    fn describe(&self) -> String {
        format!(
            "wait until {} pod(s) matching {} in {} are Ready",
            self.min_ready, self.selector, self.namespace
        )
    }

    fn manual(&self, ctx: &RunContext) -> Vec<String> {
        vec![format!(
            "{} -n {} get pods -l '{}'   # expect {} Ready",
            kubectl(ctx),
            self.namespace,
            self.selector,
            self.min_ready
        )]
    }

    fn run<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let client = ctx.cluster.client().await?;
            loop {
                // Errors while the API recovers are retried; the caller's timeout ends it.
                if let Ok(found) =
                    pods::matching(&client, &self.namespace, Some(&self.selector)).await
                {
                    if found.iter().filter(|p| pods::is_ready(p)).count() >= self.min_ready {
                        return Ok(());
                    }
                }
                tokio::time::sleep(POLL).await;
            }
        })
    }
}

/// Delete the pods a probe created (`pod-schedule`), by label: whatever is left of them
/// at the end of the run or after it was killed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DeletePods {
    pub namespace: String,
    pub selector: String,
}

impl Undo for DeletePods {
    fn describe(&self) -> String {
        format!("delete the pods {} in {}", self.selector, self.namespace)
    }

    fn manual(&self, ctx: &RunContext) -> Vec<String> {
        vec![format!(
            "{} -n {} delete pods -l '{}'",
            kubectl(ctx),
            self.namespace,
            self.selector
        )]
    }

    fn run<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let client = ctx.cluster.client().await?;
            let found = pods::matching(&client, &self.namespace, Some(&self.selector))
                .await
                .map_err(|e| format!("cannot list the pods {}: {e}", self.selector))?;
            for pod in &found {
                pods::delete(&client, pods::namespace(pod), pods::name(pod), None)
                    .await
                    .map_err(|e| format!("cannot delete pod {}: {e}", pods::full_name(pod)))?;
            }
            Ok(())
        })
    }
}

/// `kubectl` with the run's kubeconfig and context, for manual commands (no credentials).
fn kubectl(ctx: &RunContext) -> String {
    let s = &ctx.cluster.settings;
    let mut cmd = "kubectl".to_string();
    if let Some(k) = &s.kubeconfig {
        cmd.push_str(&format!(" --kubeconfig {}", k.display()));
    }
    // In a pod, kubectl uses the ServiceAccount without a context; `in-cluster` is
    // kubedrill's name for that, not a context kubectl knows.
    if let Some(c) = s
        .context
        .as_ref()
        .filter(|c| *c != crate::cluster::IN_CLUSTER_CONTEXT)
    {
        cmd.push_str(&format!(" --context {c}"));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::NodePool;
    use crate::cluster::{Cluster, ClusterSettings};

    fn ctx(context: &str) -> RunContext {
        RunContext {
            nodes: NodePool::new(Vec::new()),
            cluster: Cluster::new(ClusterSettings {
                context: Some(context.into()),
                ..Default::default()
            }),
            run_dir: "/tmp".into(),
            revert_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn manual_commands_name_a_context_kubectl_knows() {
        let undo = Uncordon { node: "w1".into() };
        assert_eq!(
            undo.manual(&ctx("kind-drill")),
            ["kubectl --context kind-drill uncordon w1"]
        );
        // In a pod: the ServiceAccount, no context.
        assert_eq!(
            undo.manual(&ctx(crate::cluster::IN_CLUSTER_CONTEXT)),
            ["kubectl uncordon w1"]
        );
    }
}
