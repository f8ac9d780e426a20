//! Bringing a killed NATS server back: restart it on its node (hosts, lab) or wait for
//! its pod's replacement (Kubernetes); either way it must rejoin the meta group.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};

use super::{node_manual, Undo};
use crate::engine::RunContext;
use crate::nats::{poll_until, Monitor, MonitorEndpoint};
use crate::scenario::duration::HumanDuration;

const POLL: Duration = Duration::from_millis(200);

/// How long a revert waits for the server to rejoin: most of the revert timeout, so the
/// error says what was last seen instead of a bare timeout.
fn rejoin_budget(ctx: &RunContext) -> Duration {
    ctx.revert_timeout.mul_f64(0.9)
}

/// Run `start` on `node`, then wait until `server` has rejoined the meta group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RestartNatsServer {
    pub node: String,
    pub server: String,
    pub start: Vec<String>,
    /// Every server's monitoring endpoint by `server_name`.
    pub monitors: BTreeMap<String, MonitorEndpoint>,
    /// Timeout of the start command.
    pub timeout: HumanDuration,
}

impl Undo for RestartNatsServer {
    fn describe(&self) -> String {
        format!(
            "start NATS server {} on node {} (`{}`) and wait until it rejoins",
            self.server,
            self.node,
            self.start.join(" ")
        )
    }

    fn node(&self) -> Option<&str> {
        Some(&self.node)
    }

    fn manual(&self, ctx: &RunContext) -> Vec<String> {
        let spec = ctx.nodes.get(&self.node).map(|n| n.spec().clone());
        vec![node_manual(&self.node, spec.as_ref(), &self.start)]
    }

    fn run<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let node = ctx
                .nodes
                .get(&self.node)
                .ok_or_else(|| format!("node {} is not in the inventory", self.node))?;
            let out = node
                .run(&self.start, self.timeout.get())
                .await
                .map_err(|e| e.to_string())?;
            if !out.success() {
                return Err(format!(
                    "`{}` on {}: {}",
                    self.start.join(" "),
                    self.node,
                    out.summary()
                ));
            }
            let monitor = Monitor::new(Duration::from_secs(2), None)?;
            poll_until(rejoin_budget(ctx), POLL, || {
                monitor.rejoined(&self.server, &self.monitors)
            })
            .await
            .map(drop)
        })
    }
}

/// Wait until pod `pod` is back (a new uid) and Ready, and its server has rejoined.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NatsPodBack {
    pub namespace: String,
    pub pod: String,
    /// The killed pod's uid; None when it was unknown.
    #[serde(default)]
    pub old_uid: Option<String>,
    pub monitors: BTreeMap<String, MonitorEndpoint>,
}

impl NatsPodBack {
    async fn ready(&self, api: &kube::Api<Pod>) -> Result<(), String> {
        let pod = api
            .get_opt(&self.pod)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("pod {} does not exist yet", self.pod))?;
        if pod.metadata.uid.is_some() && pod.metadata.uid == self.old_uid {
            return Err(format!("pod {} is still the killed one", self.pod));
        }
        let ready = pod
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            Ok(())
        } else {
            Err(format!("pod {} is not Ready yet", self.pod))
        }
    }
}

impl Undo for NatsPodBack {
    fn describe(&self) -> String {
        format!(
            "wait until pod {}/{} is back, Ready and rejoined",
            self.namespace, self.pod
        )
    }

    fn manual(&self, _ctx: &RunContext) -> Vec<String> {
        vec![format!(
            "kubectl -n {} wait --for=condition=Ready pod/{} --timeout=5m",
            self.namespace, self.pod
        )]
    }

    fn run<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let client = ctx.cluster.client().await?;
            let api: kube::Api<Pod> = kube::Api::namespaced(client.clone(), &self.namespace);
            let monitor = Monitor::new(Duration::from_secs(2), Some(client))?;
            poll_until(rejoin_budget(ctx), POLL, || async {
                self.ready(&api).await?;
                monitor.rejoined(&self.pod, &self.monitors).await
            })
            .await
            .map(drop)
        })
    }
}
