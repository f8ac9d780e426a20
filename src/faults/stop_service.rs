//! `stop-service` / `stop-kubelet`: stop a service on nodes, verify it is down, hold, then
//! start it and verify it is up. The start is the revert, journaled before the stop.
//! Commands default to the inventory's service commands, then to systemd.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::access::{inventory_node, run_checked};
use super::targets::{k8s_nodes, NodeTargets};
use super::{prepared, BlastRadius, EffectMark, FaultError, FaultKind, Prepared};
use crate::access::NodeSpec;
use crate::engine::RunContext;
use crate::revert::{poll_until_ok, NodeCommand, RevertAction};
use crate::scenario::duration::HumanDuration;
use crate::scenario::{Errors, KeyPath};

/// The spec shared by `stop-service` and `stop-kubelet`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StopService {
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
    /// Service name (`kubelet` for `stop-kubelet`).
    #[serde(default)]
    pub service: Option<String>,
    /// Stop command (default: the inventory's, else `systemctl stop SERVICE`).
    #[serde(default, deserialize_with = "crate::scenario::argv::lenient_opt")]
    pub stop: Option<Vec<String>>,
    /// Exits 0 while the service runs (default: the inventory's, else `systemctl is-active SERVICE`).
    #[serde(default, deserialize_with = "crate::scenario::argv::lenient_opt")]
    pub status: Option<Vec<String>>,
    /// Start command (default: the inventory's, else `systemctl start SERVICE`).
    #[serde(default, deserialize_with = "crate::scenario::argv::lenient_opt")]
    pub start: Option<Vec<String>>,
    /// Nodes that may be down at once (blast-radius guard).
    #[serde(default = "super::targets::one_node_at_a_time")]
    pub max_unavailable: usize,
    /// Timeout of each command, and how long the down/up verification may take.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

k8s_nodes!(StopService);

/// `stop-kubelet`: `stop-service` with `service: kubelet` by default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StopKubelet(pub StopService);

impl StopService {
    fn service(&self) -> &str {
        self.service.as_deref().unwrap_or("kubelet")
    }

    fn check(&self, at: &KeyPath, errs: &mut Errors) {
        self.targets().validate(at, self.max_unavailable, errs);
        for (key, argv) in [
            ("stop", &self.stop),
            ("status", &self.status),
            ("start", &self.start),
        ] {
            if let Some(a) = argv {
                crate::probes::validate_argv(a, &at.key(key), errs);
            }
        }
        if self.timeout.get().is_zero() {
            errs.add(at.key("timeout"), "must be longer than zero");
        }
    }

    /// (stop, status, start) for one node.
    fn commands(&self, node: &NodeSpec) -> [Vec<String>; 3] {
        let svc = self.service();
        let inv = node.services.get(svc);
        let pick = |explicit: &Option<Vec<String>>, from_inv: Option<&Vec<String>>, verb: &str| {
            explicit
                .clone()
                .or_else(|| from_inv.cloned())
                .unwrap_or_else(|| vec!["systemctl".into(), verb.into(), svc.into()])
        };
        [
            pick(&self.stop, inv.and_then(|s| s.stop.as_ref()), "stop"),
            pick(
                &self.status,
                inv.and_then(|s| s.status.as_ref()),
                "is-active",
            ),
            pick(&self.start, inv.and_then(|s| s.start.as_ref()), "start"),
        ]
    }

    fn prepare_with(
        &self,
        ctx: Arc<RunContext>,
    ) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
        let spec = self.clone();
        prepared::boxed(async move {
            let nodes = spec.targets().resolve(&ctx).await.map_err(FaultError)?;
            let plans = nodes
                .iter()
                .map(|n| (n.name.clone(), spec.commands(n)))
                .collect();
            Ok(PreparedStop {
                spec,
                ctx,
                plans,
                effect: EffectMark::default(),
            })
        })
    }
}

impl FaultKind for StopService {
    const KIND: &'static str = "stop-service";
    const SUMMARY: &'static str =
        "stop a service on nodes, verify it is down; revert starts it and verifies it is up";
    const EXAMPLE: &'static str =
        "fault:\n  stop-service: { nodes: [n1], service: containerd }\nfor: 30s";

    fn node_refs(&self) -> Vec<String> {
        self.nodes.clone()
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        if self.service.is_none() {
            errs.add(at, "`service` is required (or use `stop-kubelet`)");
        }
        self.check(at, errs);
    }

    fn describe(&self) -> String {
        format!(
            "stop {} on {}",
            self.service(),
            describe_targets(&self.targets())
        )
    }

    fn undo(&self) -> String {
        format!("start {} again and verify it is up", self.service())
    }

    fn prepare(
        &self,
        ctx: Arc<RunContext>,
    ) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
        self.prepare_with(ctx)
    }
}

impl FaultKind for StopKubelet {
    const KIND: &'static str = "stop-kubelet";
    const SUMMARY: &'static str =
        "stop-service with service kubelet (stop, verify down, hold, start, verify up)";
    const EXAMPLE: &'static str = "fault:\n  stop-kubelet: { nodes: [worker-1] }\nfor: 20s";

    fn node_refs(&self) -> Vec<String> {
        self.0.nodes.clone()
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        self.0.check(at, errs);
    }

    fn describe(&self) -> String {
        self.0.describe()
    }

    fn undo(&self) -> String {
        self.0.undo()
    }

    fn prepare(
        &self,
        ctx: Arc<RunContext>,
    ) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
        self.0.prepare_with(ctx)
    }
}

/// `n1, n2`, `1 node(s) with role worker` or `the node holding Lease NS/NAME`.
pub fn describe_targets(t: &NodeTargets) -> String {
    if let Some(lease) = &t.lease_holder {
        format!("the node holding Lease {lease}")
    } else if t.nodes.is_empty() {
        format!(
            "{} node(s) with role {}",
            t.count.unwrap_or(1),
            t.role.as_deref().unwrap_or("?")
        )
    } else {
        format!("node(s) {}", t.nodes.join(", "))
    }
}

struct PreparedStop {
    spec: StopService,
    ctx: Arc<RunContext>,
    /// node → [stop, status, start]
    plans: Vec<(String, [Vec<String>; 3])>,
    /// When the stop commands returned: the hold counts from there, the down
    /// verification included.
    effect: EffectMark,
}

impl Prepared for PreparedStop {
    fn blast_radius(&self) -> Option<BlastRadius> {
        Some(BlastRadius {
            nodes: self.plans.iter().map(|(n, _)| n.clone()).collect(),
            max_unavailable: self.spec.max_unavailable,
        })
    }

    fn effect_mark(&self) -> Option<EffectMark> {
        Some(self.effect.clone())
    }

    fn describe(&self) -> String {
        let each: Vec<String> = self
            .plans
            .iter()
            .map(|(n, [stop, ..])| format!("`{}` on {n}", stop.join(" ")))
            .collect();
        format!("stop {}: {}", self.spec.service(), each.join(", "))
    }

    fn commands(&self) -> Vec<String> {
        self.plans
            .iter()
            .flat_map(|(n, [stop, status, _])| {
                [
                    format!("on {n}: {}", stop.join(" ")),
                    format!(
                        "on {n}: {}   (verifies the stop: repeated until it fails)",
                        status.join(" ")
                    ),
                ]
            })
            .collect()
    }

    fn reverts(&self) -> Vec<RevertAction> {
        self.plans
            .iter()
            .map(|(node, [_, status, start])| {
                RevertAction::NodeCommand(NodeCommand {
                    node: node.clone(),
                    argv: start.clone(),
                    verify: Some(status.clone()),
                    timeout: self.spec.timeout,
                })
            })
            .collect()
    }

    fn inject(self: Box<Self>) -> BoxFuture<'static, Result<serde_json::Value, FaultError>> {
        Box::pin(async move {
            // All chosen nodes at once: "two of three servers down" means at the same time.
            let each = self
                .plans
                .iter()
                .map(|(name, [stop, status, _])| self.stop_one(name, stop, status));
            let details = futures::future::try_join_all(each).await?;
            Ok(serde_json::json!({ "service": self.spec.service(), "nodes": details }))
        })
    }
}

impl PreparedStop {
    /// Stops the service on one node and waits until its status command fails.
    async fn stop_one(
        &self,
        name: &str,
        stop: &[String],
        status: &[String],
    ) -> Result<serde_json::Value, FaultError> {
        let timeout = self.spec.timeout.get();
        let node = inventory_node(&self.ctx, name)?;
        let out = run_checked(node, stop, timeout).await?;
        self.effect.mark_now();
        let down = poll_until_ok(timeout, || async {
            node.run(status, timeout).await.is_ok_and(|o| !o.success())
        })
        .await;
        if !down {
            return Err(FaultError(format!(
                "{} on {name} still reports running (`{}` exits 0) {} after the stop",
                self.spec.service(),
                status.join(" "),
                humantime::format_duration(timeout)
            )));
        }
        Ok(serde_json::json!({ "node": name, "stop": out }))
    }
}
