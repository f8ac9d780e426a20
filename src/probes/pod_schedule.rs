//! `pod-schedule`: the whole write path of the cluster (API, etcd, scheduler, kubelet) in
//! one sample. Each sample creates a small pod with a unique name, watches it until it is
//! scheduled and (unless `until: scheduled`) Running and Ready, then deletes it.
//!
//! Pods carry `kubedrill.io/run=<run>` and `kubedrill.io/probe=<probe>` labels. A pod is
//! deleted when its sample ends, also when the sample is cut short (timeout, Ctrl-C): a
//! guard spawns the delete when the sample's future is dropped. Before the first sample
//! the run journals a revert that deletes every pod of the probe, so the final rollback
//! and `kubedrill recover` after a killed run leave none behind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Pod, Toleration};
use kube::api::{Api, DeleteParams, PostParams, WatchEvent, WatchParams};
use serde::{Deserialize, Serialize};

use super::kube_client::{bounded, ProbeClient};
use super::{ProbeKind, SampleResult, Sampler};
use crate::cluster::pods;
use crate::engine::RunContext;
use crate::revert::{DeletePods, RevertAction};
use crate::scenario::{Errors, KeyPath};

/// How far a sample goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Until {
    /// Running and Ready: the kubelet started it.
    #[default]
    Ready,
    /// Bound to a node by the scheduler.
    Scheduled,
}

/// `pod-schedule: { namespace: default, until: ready, image: registry.k8s.io/pause:3.10,
/// node-selector: { kubernetes.io/os: linux } }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PodScheduleProbe {
    #[serde(default = "default_namespace")]
    pub namespace: String,
    #[serde(default)]
    pub until: Until,
    #[serde(default = "default_image")]
    pub image: String,
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations for the pod (as in a pod spec), e.g. to land on tainted nodes.
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
}

fn default_namespace() -> String {
    "default".into()
}

fn default_image() -> String {
    "registry.k8s.io/pause:3.10".into()
}

impl ProbeKind for PodScheduleProbe {
    const KIND: &'static str = "pod-schedule";
    const SUMMARY: &'static str = "creates a pod per sample and waits until it is Ready (or scheduled), then deletes it: API, etcd, scheduler and kubelet in one sample";
    const EXAMPLE: &'static str =
        "name: schedule\ninterval: 2s\ntimeout: 15s\npod-schedule: { namespace: default, until: ready }";

    fn needs_cluster(&self) -> bool {
        true
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        if !is_dns_label(&self.namespace) {
            errs.add(at.key("namespace"), "not a namespace name");
        }
        if self.image.trim().is_empty() {
            errs.add(at.key("image"), "the image is empty");
        }
    }

    fn target(&self) -> String {
        let until = match self.until {
            Until::Ready => "Running and Ready",
            Until::Scheduled => "scheduled",
        };
        format!("a new pod in {} until {until}", self.namespace)
    }

    fn cleanup(&self, ctx: &RunContext) -> Option<RevertAction> {
        Some(RevertAction::DeletePods(DeletePods {
            namespace: self.namespace.clone(),
            selector: labels(ctx)
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        }))
    }

    fn build(&self, ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        Ok(Box::new(PodScheduleSampler {
            spec: self.clone(),
            client: ProbeClient::new(ctx, timeout),
            labels: labels(ctx),
            prefix: format!("kubedrill-ps-{}", run_label(ctx)),
            next: AtomicU64::new(0),
        }))
    }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The run's label value: a short hash of its run directory.
fn run_label(ctx: &RunContext) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in ctx.run_dir.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
    }
    format!("{:012x}", h & 0xffff_ffff_ffff)
}

/// The labels of the probe's pods in this run (the same for every pod-schedule probe of
/// the run: each one's cleanup covers them all, and deleting twice is harmless).
fn labels(ctx: &RunContext) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/managed-by".into(), "kubedrill".into()),
        ("kubedrill.io/probe".into(), "pod-schedule".into()),
        ("kubedrill.io/run".into(), run_label(ctx)),
    ])
}

struct PodScheduleSampler {
    spec: PodScheduleProbe,
    client: ProbeClient,
    labels: BTreeMap<String, String>,
    prefix: String,
    next: AtomicU64,
}

impl PodScheduleSampler {
    fn pod(&self, name: &str) -> Result<Pod, String> {
        let selector = if self.spec.node_selector.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::to_value(&self.spec.node_selector).map_err(|e| e.to_string())?
        };
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": name, "labels": self.labels },
            "spec": {
                "containers": [{ "name": "probe", "image": self.spec.image }],
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 1,
                "automountServiceAccountToken": false,
                "nodeSelector": selector,
                "tolerations": self.spec.tolerations,
            }
        }))
        .map_err(|e| e.to_string())
    }
}

/// Deletes the pod when dropped: at the end of its sample, or when the sample is cut
/// short. The delete runs in the background and is not part of the sample.
struct DeleteOnDrop {
    api: Api<Pod>,
    name: String,
}

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        let (api, name) = (self.api.clone(), std::mem::take(&mut self.name));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = tokio::time::timeout(
                    Duration::from_secs(10),
                    api.delete(&name, &DeleteParams::default()),
                )
                .await;
            });
        }
    }
}

impl Sampler for PodScheduleSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let started = Instant::now();
            let deadline = started + self.client.timeout();
            let left = || deadline.saturating_duration_since(Instant::now());
            let client = self.client.get().await?;
            let api: Api<Pod> = Api::namespaced(client, &self.spec.namespace);
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let name = format!("{}-{n}", self.prefix);
            let pod = self.pod(&name)?;
            let created = bounded(left(), api.create(&PostParams::default(), &pod)).await?;
            let _guard = DeleteOnDrop {
                api: api.clone(),
                name: name.clone(),
            };
            let mut version = created.metadata.resource_version.unwrap_or_default();
            let mut scheduled_ms = None;
            let mut node = String::new();
            loop {
                // The server ends a watch after its own timeout: watch again from the last
                // version seen, until the sample's deadline.
                let wp = WatchParams::default()
                    .fields(&format!("metadata.name={name}"))
                    .timeout(left().as_secs().clamp(1, 290) as u32);
                let mut events = bounded(left(), api.watch(&wp, &version)).await?.boxed();
                loop {
                    let event = match tokio::time::timeout(left(), events.try_next()).await {
                        Ok(Ok(Some(e))) => e,
                        Ok(Ok(None)) => break,
                        Ok(Err(e)) => return Err(format!("pod {name}: {e}")),
                        Err(_) => return Err(stuck(&name, scheduled_ms.is_some())),
                    };
                    let pod = match event {
                        WatchEvent::Added(p) | WatchEvent::Modified(p) => p,
                        WatchEvent::Deleted(_) => return Err(format!("pod {name} was deleted")),
                        WatchEvent::Bookmark(_) => continue,
                        WatchEvent::Error(e) => return Err(format!("pod {name}: {}", e.message)),
                    };
                    if scheduled_ms.is_none() && !pods::node_of(&pod).is_empty() {
                        scheduled_ms = Some(started.elapsed().as_millis() as u64);
                        node = pods::node_of(&pod).to_string();
                    }
                    let done = match self.spec.until {
                        Until::Scheduled => scheduled_ms.is_some(),
                        Until::Ready => pods::is_ready(&pod),
                    };
                    if done {
                        let mut detail = serde_json::json!({
                            "pod": name,
                            "node": node,
                            "scheduled_ms": scheduled_ms,
                        });
                        if self.spec.until == Until::Ready {
                            detail["ready_ms"] = (started.elapsed().as_millis() as u64).into();
                        }
                        return Ok(Some(detail));
                    }
                    if pods::phase(&pod) == "Failed" {
                        return Err(format!("pod {name} failed on {node}"));
                    }
                    if let Some(v) = pod.metadata.resource_version {
                        version = v;
                    }
                }
                if left().is_zero() {
                    return Err(stuck(&name, scheduled_ms.is_some()));
                }
            }
        })
    }
}

fn stuck(name: &str, scheduled: bool) -> String {
    if scheduled {
        format!("pod {name} was scheduled but not Ready in time")
    } else {
        format!("pod {name} was not scheduled in time")
    }
}
