//! `workload`: a Deployment, StatefulSet or DaemonSet has as many Ready replicas as it
//! wants; optionally no two Ready replicas share a node (or a topology key's value).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams};
use serde::{Deserialize, Serialize};

use super::kube_client::{bounded, ProbeClient};
use super::{ProbeKind, SampleResult, Sampler};
use crate::cluster::pods;
use crate::cluster::select::node_name;
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// The kinds of workload this probe reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

/// `workload: { kind: deployment, namespace: default, name: web, spread: node }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WorkloadProbe {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    /// `node`, or a node label such as `topology.kubernetes.io/zone`: no two Ready
    /// replicas may share it.
    #[serde(default)]
    pub spread: Option<String>,
}

impl ProbeKind for WorkloadProbe {
    const KIND: &'static str = "workload";
    const SUMMARY: &'static str =
        "Deployment/StatefulSet/DaemonSet has all desired replicas Ready; optional spread check across nodes or a topology key";
    const EXAMPLE: &'static str = "name: web\ninterval: 500ms\ntimeout: 2s\nworkload: { kind: deployment, namespace: default, name: web, spread: node }";

    fn needs_cluster(&self) -> bool {
        true
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        if self.namespace.trim().is_empty() {
            errs.add(at.key("namespace"), "the namespace is empty");
        }
        if self.name.trim().is_empty() {
            errs.add(at.key("name"), "the workload name is empty");
        }
        if self.spread.as_deref().is_some_and(|s| s.trim().is_empty()) {
            errs.add(
                at.key("spread"),
                "write `node` or a node label key such as topology.kubernetes.io/zone",
            );
        }
    }

    fn target(&self) -> String {
        format!("{:?} {}/{}", self.kind, self.namespace, self.name)
    }

    fn build(&self, ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        Ok(Box::new(WorkloadSampler {
            spec: self.clone(),
            client: ProbeClient::new(ctx, timeout),
        }))
    }
}

/// What the workload wants and has.
struct Replicas {
    desired: i32,
    ready: i32,
    selector: Option<LabelSelector>,
}

impl Replicas {
    /// A Deployment's or StatefulSet's: `replicas` defaults to 1, no status means none ready.
    fn scaled(replicas: Option<i32>, ready: Option<i32>, selector: LabelSelector) -> Self {
        Self {
            desired: replicas.unwrap_or(1),
            ready: ready.unwrap_or(0),
            selector: Some(selector),
        }
    }
}

async fn read(client: &kube::Client, spec: &WorkloadProbe) -> Result<Replicas, kube::Error> {
    let (ns, name) = (spec.namespace.as_str(), spec.name.as_str());
    Ok(match spec.kind {
        WorkloadKind::Deployment => {
            let d: Deployment = Api::namespaced(client.clone(), ns).get(name).await?;
            let ready = d.status.and_then(|s| s.ready_replicas);
            Replicas::scaled(d.spec.replicas, ready, d.spec.selector)
        }
        WorkloadKind::StatefulSet => {
            let d: StatefulSet = Api::namespaced(client.clone(), ns).get(name).await?;
            let ready = d.status.and_then(|s| s.ready_replicas);
            Replicas::scaled(d.spec.replicas, ready, d.spec.selector)
        }
        WorkloadKind::DaemonSet => {
            let d: DaemonSet = Api::namespaced(client.clone(), ns).get(name).await?;
            let status = d.status.unwrap_or_default();
            Replicas {
                desired: status.desired_number_scheduled,
                ready: status.number_ready,
                selector: Some(d.spec.selector),
            }
        }
    })
}

/// A LabelSelector as `kubectl -l` text.
pub fn selector_text(sel: &LabelSelector) -> String {
    let mut terms: Vec<String> = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        terms.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    terms.join(",")
}

struct WorkloadSampler {
    spec: WorkloadProbe,
    client: ProbeClient,
}

impl WorkloadSampler {
    /// `Err` naming the shared node or topology value when two Ready replicas share it.
    async fn check_spread(
        &self,
        client: &kube::Client,
        key: &str,
        selector: &LabelSelector,
    ) -> Result<(), String> {
        let timeout = self.client.timeout();
        let sel = selector_text(selector);
        let found = bounded(
            timeout,
            pods::matching(client, &self.spec.namespace, Some(&sel)),
        )
        .await?;
        let node_labels: BTreeMap<String, BTreeMap<String, String>> = if key == "node" {
            BTreeMap::new()
        } else {
            let nodes = bounded(
                timeout,
                Api::<Node>::all(client.clone()).list(&ListParams::default()),
            )
            .await?;
            nodes
                .items
                .iter()
                .map(|n| {
                    (
                        node_name(n).to_string(),
                        n.metadata.labels.clone().unwrap_or_default(),
                    )
                })
                .collect()
        };
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for p in found.iter().filter(|p| pods::is_ready(p)) {
            let node = pods::node_of(p).to_string();
            let place = if key == "node" {
                node
            } else {
                node_labels
                    .get(&node)
                    .and_then(|l| l.get(key))
                    .cloned()
                    .unwrap_or_else(|| format!("(node {node} has no {key})"))
            };
            if let Some(other) = seen.insert(place.clone(), pods::name(p).to_string()) {
                return Err(format!(
                    "Ready replicas {other} and {} share {key} {place}",
                    pods::name(p)
                ));
            }
        }
        Ok(())
    }
}

impl Sampler for WorkloadSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let client = self.client.get().await?;
            let r = bounded(self.client.timeout(), read(&client, &self.spec)).await?;
            if r.desired == 0 {
                return Err("the workload wants 0 replicas: nothing to probe".to_string());
            }
            if r.ready < r.desired {
                return Err(format!("{}/{} replicas Ready", r.ready, r.desired));
            }
            if let (Some(key), Some(sel)) = (&self.spec.spread, &r.selector) {
                self.check_spread(&client, key, sel).await?;
            }
            Ok(Some(
                serde_json::json!({ "ready": r.ready, "desired": r.desired }),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn label_selectors_render_as_kubectl_text() {
        let sel = LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["a".into(), "b".into()]),
            }]),
        };
        assert_eq!(selector_text(&sel), "app=web,tier in (a,b)");
    }
}
