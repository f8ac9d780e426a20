//! Pod reads and writes for drains and pod faults: what `kubectl drain` skips or refuses,
//! evictions through the policy/v1 Eviction subresource, and replacement tracking.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, PostParams};

use super::nodes::is_not_found;

/// The annotation a static pod's mirror carries.
pub const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// What a drain does with a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Left alone (mirror pods, DaemonSet pods), with the reason.
    Skip(&'static str),
    /// Evicted (or deleted).
    Evict,
    /// Blocks the drain unless the named option is set.
    Refuse {
        reason: &'static str,
        option: &'static str,
    },
}

/// What the drain options allow.
#[derive(Debug, Clone, Copy, Default)]
pub struct DrainRules {
    pub force: bool,
    pub delete_emptydir_data: bool,
}

/// `kubectl drain --ignore-daemonsets` filters, in its order: mirror and DaemonSet pods are
/// skipped; finished pods always go; unmanaged pods need `force`, emptyDir pods
/// `delete-emptydir-data`.
pub fn disposition(pod: &Pod, rules: DrainRules) -> Disposition {
    let annotations = pod.metadata.annotations.as_ref();
    if annotations.is_some_and(|a| a.contains_key(MIRROR_ANNOTATION)) {
        return Disposition::Skip("mirror pod");
    }
    if controller(pod).is_some_and(|c| c.kind == "DaemonSet") {
        return Disposition::Skip("DaemonSet-managed");
    }
    if is_finished(pod) {
        return Disposition::Evict;
    }
    if controller(pod).is_none() && !rules.force {
        return Disposition::Refuse {
            reason: "not managed by a controller",
            option: "force",
        };
    }
    if uses_empty_dir(pod) && !rules.delete_emptydir_data {
        return Disposition::Refuse {
            reason: "uses emptyDir local storage",
            option: "delete-emptydir-data",
        };
    }
    Disposition::Evict
}

/// The controlling owner reference.
pub fn controller(pod: &Pod) -> Option<&OwnerReference> {
    let owners = pod.metadata.owner_references.as_ref();
    owners
        .into_iter()
        .flatten()
        .find(|o| o.controller == Some(true))
}

fn uses_empty_dir(pod: &Pod) -> bool {
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
    volumes.into_iter().flatten().any(|v| v.empty_dir.is_some())
}

fn is_finished(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// The pod's phase, empty when unknown.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// True when the pod's `Ready` condition is `True` and it is not being deleted.
pub fn is_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    pod.metadata.deletion_timestamp.is_none()
        && conditions
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// `namespace/name`.
pub fn full_name(pod: &Pod) -> String {
    format!("{}/{}", namespace(pod), name(pod))
}

pub fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

pub fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

pub fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

/// The node a pod is bound to.
pub fn node_of(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

/// Every pod bound to `node`, in all namespaces.
pub async fn on_node(client: &kube::Client, node: &str) -> Result<Vec<Pod>, String> {
    let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
    Api::<Pod>::all(client.clone())
        .list(&lp)
        .await
        .map(|l| l.items)
        .map_err(|e| format!("cannot list pods on {node}: {e}"))
}

/// Pods in `namespace` matching a label selector (all when `None`).
pub async fn matching(
    client: &kube::Client,
    namespace: &str,
    selector: Option<&str>,
) -> Result<Vec<Pod>, kube::Error> {
    let mut lp = ListParams::default();
    if let Some(sel) = selector {
        lp = lp.labels(sel);
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    api.list(&lp).await.map(|l| l.items)
}

/// The answer to one eviction request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evicted {
    /// 201: the pod is being deleted.
    Accepted,
    /// 429: a PodDisruptionBudget refused; try again later.
    Refused(String),
    /// 404: it is gone already.
    Gone,
}

/// POSTs a policy/v1 Eviction for the pod. The body is written here because kube-rs's
/// `Api::evict` sends `delete_options` (snake case), which the API server ignores, so a
/// grace period given there never arrives.
pub async fn evict(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    grace_period_seconds: Option<i64>,
) -> Result<Evicted, kube::Error> {
    let mut body = serde_json::json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": { "name": name, "namespace": namespace },
    });
    if let Some(g) = grace_period_seconds {
        body["deleteOptions"] = serde_json::json!({ "gracePeriodSeconds": g });
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let answer = api
        .create_subresource::<_, serde_json::Value>("eviction", name, &PostParams::default(), &body)
        .await;
    match answer {
        Ok(_) => Ok(Evicted::Accepted),
        Err(kube::Error::Api(s)) if s.code == 429 => Ok(Evicted::Refused(s.message.clone())),
        Err(e) if is_not_found(&e) => Ok(Evicted::Gone),
        Err(e) => Err(e),
    }
}

/// Deletes the pod directly (no disruption budget check); `Ok(false)` when already gone.
pub async fn delete(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    grace_period_seconds: Option<i64>,
) -> Result<bool, kube::Error> {
    let dp = DeleteParams {
        grace_period_seconds: grace_period_seconds.map(|g| g.max(0) as u32),
        ..Default::default()
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    match api.delete(name, &dp).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// True when the pod `namespace/name` with `uid` no longer exists (NotFound, or the name
/// now belongs to a new pod, as with StatefulSets).
pub async fn is_gone(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Result<bool, kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await? {
        None => Ok(true),
        Some(p) => Ok(p.metadata.uid.as_deref() != Some(uid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, PodSpec, PodStatus, Volume};

    fn pod(owner: Option<&str>) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("p".into());
        p.metadata.owner_references = owner.map(|kind| {
            vec![OwnerReference {
                kind: kind.into(),
                name: "o".into(),
                uid: "u".into(),
                controller: Some(true),
                ..Default::default()
            }]
        });
        p.status = Some(PodStatus {
            phase: Some("Running".into()),
            ..Default::default()
        });
        p
    }

    fn with_empty_dir(mut p: Pod) -> Pod {
        p.spec = Some(PodSpec {
            volumes: Some(vec![Volume {
                name: "scratch".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Default::default()
            }]),
            ..Default::default()
        });
        p
    }

    #[test]
    fn drain_filters_follow_kubectl() {
        let strict = DrainRules::default();
        let all = DrainRules {
            force: true,
            delete_emptydir_data: true,
        };
        assert_eq!(
            disposition(&pod(Some("ReplicaSet")), strict),
            Disposition::Evict
        );
        assert_eq!(
            disposition(&pod(Some("DaemonSet")), strict),
            Disposition::Skip("DaemonSet-managed")
        );
        let mut mirror = pod(Some("Node"));
        mirror.metadata.annotations = Some([(MIRROR_ANNOTATION.to_string(), "x".into())].into());
        assert_eq!(disposition(&mirror, all), Disposition::Skip("mirror pod"));
        assert!(matches!(
            disposition(&pod(None), strict),
            Disposition::Refuse {
                option: "force",
                ..
            }
        ));
        assert_eq!(disposition(&pod(None), all), Disposition::Evict);
        let scratch = with_empty_dir(pod(Some("ReplicaSet")));
        assert!(matches!(
            disposition(&scratch, strict),
            Disposition::Refuse {
                option: "delete-emptydir-data",
                ..
            }
        ));
        assert_eq!(disposition(&scratch, all), Disposition::Evict);
        let mut done = pod(None);
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert_eq!(disposition(&done, strict), Disposition::Evict);
    }
}
