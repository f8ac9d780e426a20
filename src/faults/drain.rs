//! `drain`: `kubectl drain --ignore-daemonsets` semantics. Cordon every target first (so
//! no replacement lands on a node about to be drained), then, node after node, evict
//! every pod through the policy/v1 Eviction API (429s from disruption budgets retried
//! until the drain timeout) and wait until each is gone; replacements are awaited from a
//! watch while the next node drains. Reverted by uncordoning (if the node was schedulable
//! before and nobody else cordoned it since: see `Uncordon`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::access::cluster_client;
use super::drain_pods::{self, Drainer, EvictionPlan, PodPlan};
use super::k8s_nodes::{self, TargetNode};
use super::{prepared, FaultError, FaultKind, Prepared};
use crate::cluster::pods::{self, Disposition, DrainRules};
use crate::cluster::NodeSelection;
use crate::engine::RunContext;
use crate::revert::RevertAction;
use crate::scenario::duration::HumanDuration;
use crate::scenario::{Errors, KeyPath};

/// `drain: { nodes: {...}, force, delete-emptydir-data, disable-eviction, grace-period,
/// timeout, retry-interval, replacement-timeout }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DrainFault {
    pub nodes: NodeSelection,
    /// Also delete pods no controller manages (they do not come back).
    #[serde(default)]
    pub force: bool,
    /// Also evict pods using emptyDir volumes (their data is lost).
    #[serde(default)]
    pub delete_emptydir_data: bool,
    /// Delete pods directly instead of evicting (bypasses disruption budgets).
    #[serde(default)]
    pub disable_eviction: bool,
    /// Grace period given to each pod (whole seconds); default: the pod's own.
    #[serde(default)]
    pub grace_period: Option<HumanDuration>,
    /// The whole drain must finish within this, or the fault fails (and is rolled back).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Wait between eviction attempts refused by a disruption budget (kubectl: 5s).
    #[serde(default = "default_retry_interval")]
    pub retry_interval: HumanDuration,
    /// How long to watch for each evicted pod's replacement to be Ready (0s: don't).
    #[serde(default = "default_replacement_timeout")]
    pub replacement_timeout: HumanDuration,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(300))
}

fn default_retry_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}

fn default_replacement_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(120))
}

impl DrainFault {
    fn rules(&self) -> DrainRules {
        DrainRules {
            force: self.force,
            delete_emptydir_data: self.delete_emptydir_data,
        }
    }

    fn eviction_plan(&self) -> EvictionPlan {
        EvictionPlan {
            grace_period_seconds: self.grace_period.map(|g| g.get().as_secs() as i64),
            disable_eviction: self.disable_eviction,
            timeout: self.timeout.get(),
            retry_interval: self.retry_interval.get(),
            replacement_timeout: self.replacement_timeout.get(),
        }
    }
}

impl FaultKind for DrainFault {
    const KIND: &'static str = "drain";
    const SUMMARY: &'static str =
        "cordon nodes and evict their pods like `kubectl drain --ignore-daemonsets`; reverted by uncordoning";
    const EXAMPLE: &'static str = "fault:\n  drain:\n    nodes: { role: worker, count: 1 }\n    delete-emptydir-data: true\n    grace-period: 10s\n    timeout: 2m\nfor: 1m";

    fn needs_cluster(&self) -> bool {
        true
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        self.nodes.validate(&at.key("nodes"), errs, false);
        if let Some(g) = self.grace_period {
            if g.get().subsec_nanos() != 0 {
                errs.add(
                    at.key("grace-period"),
                    "the grace period is whole seconds, e.g. 10s or 0s",
                );
            }
        }
        for (key, d) in [
            ("timeout", self.timeout),
            ("retry-interval", self.retry_interval),
        ] {
            if d.get().is_zero() {
                errs.add(at.key(key), "must be longer than zero");
            }
        }
    }

    fn describe(&self) -> String {
        format!("drain {}", self.nodes.describe())
    }

    fn undo(&self) -> String {
        "uncordon the drained nodes that were schedulable before (evicted pods are rescheduled by their controllers)".to_string()
    }

    fn prepare(
        &self,
        ctx: Arc<RunContext>,
    ) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
        let spec = self.clone();
        prepared::boxed(async move {
            let client = cluster_client(&ctx).await?;
            let request_timeout = ctx.cluster.settings.effective_timeout();
            let targets = k8s_nodes::resolve(&client, &spec.nodes).await?;
            let mut plans = Vec::new();
            for t in &targets {
                plans.push(plan_node(&client, &t.node, spec.rules()).await?);
            }
            Ok(PreparedDrain {
                client,
                request_timeout,
                targets,
                plans,
                spec,
            })
        })
    }
}

/// The pods of one node and what happens to each; refused pods fail the drain here.
async fn plan_node(
    client: &kube::Client,
    node: &str,
    rules: DrainRules,
) -> Result<Vec<PodPlan>, FaultError> {
    let on_node = pods::on_node(client, node).await.map_err(FaultError)?;
    let orphaned = orphaned_daemonsets(client, &on_node).await?;
    let mut refused = Vec::new();
    let mut plans = Vec::new();
    for pod in &on_node {
        let owner = pods::live_daemonset_owner(pod);
        let is_orphan = owner.is_some_and(|o| orphaned.contains(&o));
        match pods::disposition(pod, rules, is_orphan) {
            Disposition::Refuse { reason, option } => refused.push(format!(
                "{} ({reason}; set `{option}: true`)",
                pods::full_name(pod)
            )),
            d => plans.push(PodPlan::of(pod, d)),
        }
    }
    if !refused.is_empty() {
        return Err(FaultError(format!(
            "cannot drain {node}: {}",
            refused.join(", ")
        )));
    }
    Ok(plans)
}

/// The DaemonSets (namespace, name) that running pods of the node name but that no longer
/// exist, read once each as kubectl does.
async fn orphaned_daemonsets(
    client: &kube::Client,
    on_node: &[k8s_openapi::api::core::v1::Pod],
) -> Result<BTreeSet<(String, String)>, FaultError> {
    let owners: BTreeSet<(String, String)> = on_node
        .iter()
        .filter_map(pods::live_daemonset_owner)
        .collect();
    let mut orphaned = BTreeSet::new();
    for (ns, name) in owners {
        let exists = pods::daemonset_exists(client, &ns, &name)
            .await
            .map_err(|e| FaultError(format!("cannot read DaemonSet {ns}/{name}: {e}")))?;
        if !exists {
            orphaned.insert((ns, name));
        }
    }
    Ok(orphaned)
}

struct PreparedDrain {
    client: kube::Client,
    request_timeout: std::time::Duration,
    targets: Vec<TargetNode>,
    /// Per target node, as seen at prepare time (re-read before evicting).
    plans: Vec<Vec<PodPlan>>,
    spec: DrainFault,
}

impl Prepared for PreparedDrain {
    fn describe(&self) -> String {
        let per_node: Vec<String> = self
            .targets
            .iter()
            .zip(&self.plans)
            .map(|(t, plan)| {
                format!(
                    "{}: {}",
                    k8s_nodes::describe(std::slice::from_ref(t)),
                    drain_pods::summary(plan)
                )
            })
            .collect();
        let how = if self.spec.disable_eviction {
            "delete"
        } else {
            "evict"
        };
        format!("cordon and drain ({how}) {}", per_node.join("; "))
    }

    fn reverts(&self) -> Vec<RevertAction> {
        k8s_nodes::uncordon_reverts(&self.targets)
    }

    fn inject(self: Box<Self>) -> BoxFuture<'static, Result<serde_json::Value, FaultError>> {
        Box::pin(async move {
            let plan = self.spec.eviction_plan();
            let deadline = tokio::time::Instant::now() + plan.timeout;
            // Every target first, as `kubectl drain A B` does, so the pods evicted from
            // one node are not rescheduled onto the next.
            let mut cordoned = Vec::new();
            for t in &self.targets {
                k8s_nodes::cordon(&self.client, &t.node).await?;
                cordoned.push(chrono::Utc::now());
            }
            let drainer = Drainer::new(self.client.clone(), self.request_timeout, plan);
            let mut nodes = Vec::new();
            for (t, cordoned_at) in self.targets.iter().zip(cordoned) {
                // Pods may have changed since prepare: decide again, as kubectl does after cordoning.
                let pods = plan_node(&self.client, &t.node, self.spec.rules()).await?;
                nodes.push(drainer.drain(&t.node, cordoned_at, pods, deadline).await?);
            }
            let mut reports = Vec::new();
            for (mut node, pending) in nodes {
                Drainer::replacements(&mut node, pending).await;
                reports.push(node);
            }
            Ok(serde_json::json!({ "nodes": reports }))
        })
    }
}
