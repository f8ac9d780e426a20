//! `workload`: a Deployment, StatefulSet or DaemonSet has as many Ready replicas as it
//! wants, and its rollout is done: the controller has observed the current spec
//! (`status.observedGeneration >= metadata.generation`) and as many replicas as it wants
//! are updated to it and available; optionally no two Ready replicas share a node (or a
//! topology key's value).

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
        "Deployment/StatefulSet/DaemonSet has all desired replicas Ready, its rollout observed and all updated and available; optional spread check across nodes or a topology key";
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
#[derive(Debug, Default)]
struct Replicas {
    desired: i32,
    ready: i32,
    /// Replicas on the current spec; `None` when the update strategy leaves updating to
    /// someone else (`OnDelete`), so there is nothing to wait for.
    updated: Option<i32>,
    available: i32,
    /// `metadata.generation` and `status.observedGeneration`.
    generation: Option<i64>,
    observed: Option<i64>,
    selector: Option<LabelSelector>,
}

impl Replicas {
    /// Why the workload is not healthy, if it is not: the first of an unobserved spec,
    /// replicas not Ready, not updated, not available.
    fn shortfall(&self) -> Option<String> {
        if let Some(generation) = self.generation {
            if self.observed.is_none_or(|o| o < generation) {
                return Some(format!(
                    "rollout not observed yet: observedGeneration {} < generation {generation}",
                    self.observed.map_or("none".to_string(), |o| o.to_string())
                ));
            }
        }
        if self.ready < self.desired {
            return Some(format!("{}/{} replicas Ready", self.ready, self.desired));
        }
        if let Some(updated) = self.updated.filter(|u| *u < self.desired) {
            return Some(format!(
                "rollout in progress: {updated}/{} replicas updated",
                self.desired
            ));
        }
        if self.available < self.desired {
            return Some(format!(
                "{}/{} replicas available",
                self.available, self.desired
            ));
        }
        None
    }

    fn detail(&self) -> serde_json::Value {
        serde_json::json!({
            "ready": self.ready,
            "desired": self.desired,
            "updated": self.updated,
            "available": self.available,
            "generation": self.generation,
            "observed_generation": self.observed,
        })
    }
}

async fn read(client: &kube::Client, spec: &WorkloadProbe) -> Result<Replicas, kube::Error> {
    let (ns, name) = (spec.namespace.as_str(), spec.name.as_str());
    Ok(match spec.kind {
        WorkloadKind::Deployment => {
            let d: Deployment = Api::namespaced(client.clone(), ns).get(name).await?;
            let status = d.status.unwrap_or_default();
            let spec = d.spec;
            Replicas {
                // `replicas` defaults to 1; no status means none ready.
                desired: spec.replicas.unwrap_or(1),
                ready: status.ready_replicas.unwrap_or(0),
                updated: Some(status.updated_replicas.unwrap_or(0)),
                available: status.available_replicas.unwrap_or(0),
                generation: d.metadata.generation,
                observed: status.observed_generation,
                selector: Some(spec.selector),
            }
        }
        WorkloadKind::StatefulSet => {
            let d: StatefulSet = Api::namespaced(client.clone(), ns).get(name).await?;
            let status = d.status.unwrap_or_default();
            let spec = d.spec;
            let desired = spec.replicas.unwrap_or(1);
            let strategy = spec.update_strategy.unwrap_or_default();
            // As `kubectl rollout status`: with a partition only the ordinals at or above it
            // are updated.
            let updated = (strategy.type_.as_deref() != Some("OnDelete")).then(|| {
                let partition = strategy.rolling_update.and_then(|r| r.partition);
                status.updated_replicas.unwrap_or(0) + partition.unwrap_or(0).clamp(0, desired)
            });
            let ready = status.ready_replicas.unwrap_or(0);
            Replicas {
                desired,
                ready,
                updated,
                available: status.available_replicas.unwrap_or(ready),
                generation: d.metadata.generation,
                observed: status.observed_generation,
                selector: Some(spec.selector),
            }
        }
        WorkloadKind::DaemonSet => {
            let d: DaemonSet = Api::namespaced(client.clone(), ns).get(name).await?;
            let status = d.status.unwrap_or_default();
            let spec = d.spec;
            let on_delete = spec
                .update_strategy
                .and_then(|s| s.type_)
                .is_some_and(|t| t == "OnDelete");
            Replicas {
                desired: status.desired_number_scheduled,
                ready: status.number_ready,
                updated: (!on_delete).then(|| status.updated_number_scheduled.unwrap_or(0)),
                available: status.number_available.unwrap_or(0),
                generation: d.metadata.generation,
                observed: status.observed_generation,
                selector: Some(spec.selector),
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
            if let Some(short) = r.shortfall() {
                return Err(short);
            }
            if let (Some(key), Some(sel)) = (&self.spec.spread, &r.selector) {
                self.check_spread(&client, key, sel).await?;
            }
            Ok(Some(r.detail()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn healthy_only_when_the_rollout_is_observed_updated_and_available() {
        let done = Replicas {
            desired: 3,
            ready: 3,
            updated: Some(3),
            available: 3,
            generation: Some(2),
            observed: Some(2),
            selector: None,
        };
        assert_eq!(done.shortfall(), None);
        let cases = [
            (
                Replicas {
                    observed: Some(1),
                    ..done_like(&done)
                },
                "rollout not observed yet: observedGeneration 1 < generation 2",
            ),
            (
                Replicas {
                    observed: None,
                    ..done_like(&done)
                },
                "rollout not observed yet: observedGeneration none < generation 2",
            ),
            (
                Replicas {
                    updated: Some(1),
                    ..done_like(&done)
                },
                "rollout in progress: 1/3 replicas updated",
            ),
            (
                Replicas {
                    available: 2,
                    ..done_like(&done)
                },
                "2/3 replicas available",
            ),
            (
                Replicas {
                    ready: 2,
                    updated: Some(1),
                    ..done_like(&done)
                },
                "2/3 replicas Ready",
            ),
        ];
        for (r, want) in cases {
            assert_eq!(r.shortfall().as_deref(), Some(want), "{r:?}");
        }
        // OnDelete: nothing updates by itself, so updated is not waited for.
        let on_delete = Replicas {
            updated: None,
            ..done_like(&done)
        };
        assert_eq!(on_delete.shortfall(), None);
    }

    fn done_like(r: &Replicas) -> Replicas {
        Replicas {
            desired: r.desired,
            ready: r.ready,
            updated: r.updated,
            available: r.available,
            generation: r.generation,
            observed: r.observed,
            selector: None,
        }
    }

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
