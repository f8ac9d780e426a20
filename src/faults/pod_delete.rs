//! `pod-delete`: delete some pods (by name, or a share of a label selector's matches) with
//! a grace period. Nothing to undo but to wait: the revert waits until as many pods as were
//! Ready before (minus unmanaged ones deleted, which never come back) are Ready again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::access::cluster_client;
use super::{prepared, FaultError, FaultKind, Prepared};
use crate::cluster::pods;
use crate::cluster::select::validate_label_selector;
use crate::cluster::Pick;
use crate::engine::RunContext;
use crate::revert::{RevertAction, WaitPodsReady};
use crate::scenario::duration::HumanDuration;
use crate::scenario::{Errors, KeyPath};

/// `pod-delete: { namespace, selector | name, count | percent, pick, grace-period }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PodDeleteFault {
    pub namespace: String,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// How many of the matching pods (default 1).
    #[serde(default)]
    pub count: Option<usize>,
    /// Or this share of them, rounded up.
    #[serde(default)]
    pub percent: Option<u32>,
    #[serde(default)]
    pub pick: Pick,
    /// Whole seconds; default: each pod's own. As with kubectl, 0s means 1s unless
    /// `force` is set.
    #[serde(default)]
    pub grace_period: Option<HumanDuration>,
    /// Force deletion (grace period 0): the API object goes at once, before the node's
    /// kubelet has stopped the containers, which may run on for a while.
    #[serde(default)]
    pub force: bool,
}

impl PodDeleteFault {
    /// The grace period sent, as kubectl decides it: 0 only with `force` (which implies 0
    /// when no period is given); 0 without `force` becomes 1.
    fn effective_grace(&self) -> Option<i64> {
        match (
            self.grace_period.map(|g| g.get().as_secs() as i64),
            self.force,
        ) {
            (_, true) => Some(0),
            (Some(0), false) => Some(1),
            (g, false) => g,
        }
    }

    fn how_many(&self, matching: usize) -> usize {
        match (self.count, self.percent) {
            (_, Some(p)) => (matching * p as usize).div_ceil(100),
            (Some(c), None) => c,
            (None, None) => 1,
        }
    }

    fn what(&self) -> String {
        match (&self.name, &self.selector) {
            (Some(n), _) => format!("pod {}/{n}", self.namespace),
            (None, Some(s)) => format!("pods matching {s} in {}", self.namespace),
            (None, None) => String::new(),
        }
    }
}

impl FaultKind for PodDeleteFault {
    const KIND: &'static str = "pod-delete";
    const SUMMARY: &'static str =
        "delete pods (name, or count/percent of a selector) with a grace period; the revert waits until they are Ready again";
    const EXAMPLE: &'static str = "fault:\n  pod-delete: { namespace: kube-system, selector: k8s-app=kube-dns, count: 1, grace-period: 1s, force: false }\nfor: 30s";

    fn needs_cluster(&self) -> bool {
        true
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        if self.namespace.trim().is_empty() {
            errs.add(at.key("namespace"), "the namespace is empty");
        }
        match (&self.name, &self.selector) {
            (Some(_), Some(_)) | (None, None) => errs.add(
                at,
                "give exactly one of `name` (one pod) or `selector` (e.g. \"app=web\")",
            ),
            (None, Some(s)) => validate_label_selector(s, &at.key("selector"), errs),
            (Some(_), None) => {
                if self.count.is_some() || self.percent.is_some() {
                    errs.add(
                        at,
                        "`count` and `percent` need a `selector`; `name` is one pod",
                    );
                }
            }
        }
        if self.count.is_some() && self.percent.is_some() {
            errs.add(at.key("percent"), "give `count` or `percent`, not both");
        }
        if self.count == Some(0) {
            errs.add(at.key("count"), "count must be at least 1");
        }
        if self.percent.is_some_and(|p| p == 0 || p > 100) {
            errs.add(at.key("percent"), "percent is between 1 and 100");
        }
        if self.force && self.grace_period.is_some_and(|g| !g.get().is_zero()) {
            errs.add(
                at.key("force"),
                "`force` deletes with grace period 0; drop `grace-period` or `force`",
            );
        }
        if self
            .grace_period
            .is_some_and(|g| g.get().subsec_nanos() != 0)
        {
            errs.add(
                at.key("grace-period"),
                "the grace period is whole seconds, e.g. 0s or 30s",
            );
        }
    }

    fn describe(&self) -> String {
        format!("delete {}", self.what())
    }

    fn undo(&self) -> String {
        "nothing to undo: wait until the pods' controllers have them Ready again".to_string()
    }

    fn prepare(
        &self,
        ctx: Arc<RunContext>,
    ) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
        let spec = self.clone();
        prepared::boxed(async move {
            let client = cluster_client(&ctx).await?;
            let selector = match &spec.name {
                Some(name) => named_pod_selector(&client, &spec.namespace, name).await?,
                None => spec.selector.clone(),
            };
            let found = pods::matching(&client, &spec.namespace, selector.as_deref())
                .await
                .map_err(|e| FaultError(format!("cannot list pods: {e}")))?;
            // Count Ready pods over the whole selector the revert waits on: with `name`, the
            // derived selector also matches the pod's siblings, and counting only the named
            // pod would let the revert finish before its replacement is Ready.
            let ready_before = found.iter().filter(|p| pods::is_ready(p)).count();
            let mut live: Vec<Pod> = found
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .filter(|p| spec.name.as_deref().is_none_or(|n| pods::name(p) == n))
                .collect();
            if live.is_empty() {
                return Err(FaultError(format!("no {} found", spec.what())));
            }
            let wanted = spec.how_many(live.len());
            if wanted > live.len() {
                return Err(FaultError(format!(
                    "{wanted} pod(s) wanted but only {} match",
                    live.len()
                )));
            }
            live.sort_by(|a, b| pods::name(a).cmp(pods::name(b)));
            if spec.pick == Pick::Random {
                live.shuffle(&mut rand::rng());
            }
            live.truncate(wanted);
            let lost_for_good = live
                .iter()
                .filter(|p| pods::is_ready(p) && pods::controller(p).is_none())
                .count();
            Ok(PreparedPodDelete {
                client,
                namespace: spec.namespace.clone(),
                selector,
                min_ready: ready_before.saturating_sub(lost_for_good),
                victims: live,
                grace: spec.effective_grace(),
                force: spec.force,
            })
        })
    }
}

/// The named pod's labels as a selector, so the revert can wait for its replacement.
async fn named_pod_selector(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<String>, FaultError> {
    let api: kube::Api<Pod> = kube::Api::namespaced(client.clone(), namespace);
    let pod = api
        .get_opt(name)
        .await
        .map_err(|e| FaultError(format!("cannot read pod {namespace}/{name}: {e}")))?
        .ok_or_else(|| FaultError(format!("no pod {namespace}/{name}")))?;
    let labels: BTreeMap<String, String> = pod.metadata.labels.unwrap_or_default();
    let terms: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok((!terms.is_empty()).then(|| terms.join(",")))
}

struct PreparedPodDelete {
    client: kube::Client,
    namespace: String,
    selector: Option<String>,
    min_ready: usize,
    victims: Vec<Pod>,
    grace: Option<i64>,
    force: bool,
}

impl Prepared for PreparedPodDelete {
    fn describe(&self) -> String {
        let names: Vec<String> = self.victims.iter().map(pods::full_name).collect();
        let grace = match (self.grace, self.force) {
            (_, true) => "forced: grace period 0".to_string(),
            (Some(g), false) => format!("grace period {g}s"),
            (None, false) => "each pod's own grace period".to_string(),
        };
        format!("delete {} ({grace})", names.join(", "))
    }

    fn reverts(&self) -> Vec<RevertAction> {
        match &self.selector {
            Some(selector) if self.min_ready > 0 => {
                vec![RevertAction::WaitPodsReady(WaitPodsReady {
                    namespace: self.namespace.clone(),
                    selector: selector.clone(),
                    min_ready: self.min_ready,
                })]
            }
            _ => Vec::new(),
        }
    }

    fn inject(self: Box<Self>) -> BoxFuture<'static, Result<serde_json::Value, FaultError>> {
        Box::pin(async move {
            let mut deleted = Vec::new();
            let mut sent = Vec::new();
            let started = Instant::now();
            for pod in &self.victims {
                let (ns, name) = (pods::namespace(pod), pods::name(pod));
                pods::delete(&self.client, ns, name, self.grace)
                    .await
                    .map_err(|e| FaultError(format!("cannot delete {ns}/{name}: {e}")))?;
                sent.push(Instant::now());
                deleted.push(serde_json::json!({
                    "pod": pods::full_name(pod),
                    "uid": pods::uid(pod),
                    "node": pods::node_of(pod),
                    "deleted_at": Utc::now(),
                }));
            }
            // The fault takes effect when the pods are gone: with a grace period, the
            // object goes only once the node's kubelet has stopped the containers. A pod
            // whose kubelet does not answer stays Terminating: bounded, and said so.
            let bound = Duration::from_secs(self.grace.unwrap_or(30).max(0) as u64 + 10);
            for ((pod, entry), at) in self.victims.iter().zip(deleted.iter_mut()).zip(sent) {
                let gone = wait_gone(&self.client, pod, started + bound)
                    .await
                    .map(|t| t.saturating_duration_since(at));
                entry["gone_after_ms"] = gone
                    .map(|d| serde_json::json!(d.as_millis() as u64))
                    .unwrap_or(serde_json::Value::Null);
                if gone.is_none() {
                    entry["still_terminating"] = true.into();
                }
            }
            let mut details = serde_json::json!({
                "deleted": deleted,
                "grace_period_seconds": self.grace,
                "force": self.force,
            });
            if self.force {
                details["note"] = "forced: the API objects went at once; their containers \
                    may run on until each node's kubelet stops them"
                    .into();
            }
            Ok(details)
        })
    }
}

/// Waits until `pod` (by uid) no longer exists: when it was seen gone, or `None` at
/// `deadline`.
async fn wait_gone(client: &kube::Client, pod: &Pod, deadline: Instant) -> Option<Instant> {
    let api: kube::Api<Pod> = kube::Api::namespaced(client.clone(), pods::namespace(pod));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let answer = tokio::time::timeout(
            left.min(Duration::from_secs(5)),
            api.get_opt(pods::name(pod)),
        )
        .await;
        if let Ok(Ok(current)) = answer {
            if current.is_none_or(|p| p.metadata.uid.as_deref() != Some(pods::uid(pod))) {
                return Some(Instant::now());
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
