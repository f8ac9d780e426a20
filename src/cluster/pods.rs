//! Pod reads and writes for drains and pod faults: what `kubectl drain` skips or refuses,
//! evictions through the policy/v1 Eviction subresource, and replacement tracking.

use k8s_openapi::api::apps::v1::DaemonSet;
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
    /// Evicted (or deleted), with a note when kubectl would warn (an orphaned DaemonSet pod
    /// under `force`).
    Evict(Option<&'static str>),
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

/// `kubectl drain --ignore-daemonsets` filters, in its order: a DaemonSet pod is deleted
/// when finished, refused when its DaemonSet no longer exists (`orphaned`) unless `force`,
/// skipped otherwise; mirror pods are skipped; finished pods always go; unmanaged pods
/// need `force`, emptyDir pods `delete-emptydir-data`.
pub fn disposition(pod: &Pod, rules: DrainRules, orphaned: bool) -> Disposition {
    let annotations = pod.metadata.annotations.as_ref();
    if controller(pod).is_some_and(|c| c.kind == "DaemonSet") {
        if is_finished(pod) {
            return Disposition::Evict(Some("finished DaemonSet pod"));
        }
        if orphaned {
            if rules.force {
                return Disposition::Evict(Some("orphaned DaemonSet pod (its DaemonSet is gone)"));
            }
            return Disposition::Refuse {
                reason: "DaemonSet pod whose DaemonSet no longer exists",
                option: "force",
            };
        }
        return Disposition::Skip("DaemonSet-managed");
    }
    if annotations.is_some_and(|a| a.contains_key(MIRROR_ANNOTATION)) {
        return Disposition::Skip("mirror pod");
    }
    if is_finished(pod) {
        return Disposition::Evict(None);
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
    Disposition::Evict(None)
}

/// The DaemonSet controlling `pod` (`namespace`, `name`), when one does and the pod is not
/// finished: the drain checks it still exists.
pub fn live_daemonset_owner(pod: &Pod) -> Option<(String, String)> {
    let owner = controller(pod).filter(|c| c.kind == "DaemonSet")?;
    (!is_finished(pod)).then(|| (namespace(pod).to_string(), owner.name.clone()))
}

/// Does DaemonSet `namespace/name` exist?
pub async fn daemonset_exists(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<bool, kube::Error> {
    let api: Api<DaemonSet> = Api::namespaced(client.clone(), namespace);
    api.get_opt(name).await.map(|d| d.is_some())
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

/// Succeeded or Failed.
pub fn is_finished(pod: &Pod) -> bool {
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
    /// 429 from a PodDisruptionBudget; try again later.
    Refused(String),
    /// 429 from the server's own protection (API priority and fairness, max-in-flight),
    /// not from a budget: wait the given time, then try again.
    Throttled {
        message: String,
        retry_after: std::time::Duration,
    },
    /// 403 because the namespace is terminating: kubectl waits for the pod to go when it
    /// is being deleted already, and retries otherwise.
    NamespaceTerminating(String),
    /// 404: it is gone already.
    Gone,
}

/// The cause a 403 carries when the namespace is being deleted (`NamespaceTerminatingCause`).
pub const NAMESPACE_TERMINATING_CAUSE: &str = "NamespaceTerminating";

/// The cause a PodDisruptionBudget refusal carries.
pub const DISRUPTION_BUDGET_CAUSE: &str = "DisruptionBudget";

/// How long to wait after a throttling 429 that names no time (APF sends `Retry-After: 1`
/// as a header, which the client does not keep).
const DEFAULT_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// What an eviction's error answer means, as kubectl reads it: a 429 is a budget's refusal
/// when it names the budget (cause `DisruptionBudget`, or the message), else throttling
/// by the server (APF answers plain text `Too many requests, please try again later.`); a
/// 403 with cause `NamespaceTerminating` is retried. Anything else is an error.
pub fn classify_eviction_error(e: kube::Error) -> Result<Evicted, kube::Error> {
    let kube::Error::Api(s) = &e else {
        return Err(e);
    };
    let causes = s
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or(&[]);
    let has_cause = |reason: &str| causes.iter().any(|c| c.reason == reason);
    match s.code {
        429 if has_cause(DISRUPTION_BUDGET_CAUSE) || s.message.contains("disruption budget") => {
            Ok(Evicted::Refused(s.message.clone()))
        }
        429 => {
            let secs = s
                .details
                .as_ref()
                .map(|d| d.retry_after_seconds)
                .unwrap_or(0);
            Ok(Evicted::Throttled {
                message: s.message.clone(),
                retry_after: if secs > 0 {
                    std::time::Duration::from_secs(secs.into())
                } else {
                    DEFAULT_RETRY_AFTER
                },
            })
        }
        403 if has_cause(NAMESPACE_TERMINATING_CAUSE) => {
            Ok(Evicted::NamespaceTerminating(s.message.clone()))
        }
        404 => Ok(Evicted::Gone),
        _ => Err(e),
    }
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
        Err(e) => classify_eviction_error(e),
    }
}

/// Is pod `namespace/name` with `uid` being deleted (or gone)?
pub async fn is_terminating(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    uid: &str,
) -> Result<bool, kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    Ok(match api.get_opt(name).await? {
        None => true,
        Some(p) => {
            p.metadata.uid.as_deref() != Some(uid) || p.metadata.deletion_timestamp.is_some()
        }
    })
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
        let d = |p: &Pod, rules| disposition(p, rules, false);
        assert_eq!(
            d(&pod(Some("ReplicaSet")), strict),
            Disposition::Evict(None)
        );
        assert_eq!(
            d(&pod(Some("DaemonSet")), strict),
            Disposition::Skip("DaemonSet-managed")
        );
        let mut mirror = pod(Some("Node"));
        mirror.metadata.annotations = Some([(MIRROR_ANNOTATION.to_string(), "x".into())].into());
        assert_eq!(d(&mirror, all), Disposition::Skip("mirror pod"));
        assert!(matches!(
            d(&pod(None), strict),
            Disposition::Refuse {
                option: "force",
                ..
            }
        ));
        assert_eq!(d(&pod(None), all), Disposition::Evict(None));
        let scratch = with_empty_dir(pod(Some("ReplicaSet")));
        assert!(matches!(
            d(&scratch, strict),
            Disposition::Refuse {
                option: "delete-emptydir-data",
                ..
            }
        ));
        assert_eq!(d(&scratch, all), Disposition::Evict(None));
        let mut done = pod(None);
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert_eq!(d(&done, strict), Disposition::Evict(None));
    }

    #[test]
    fn finished_daemonset_pods_go_and_orphaned_ones_need_force() {
        let strict = DrainRules::default();
        let force = DrainRules {
            force: true,
            ..Default::default()
        };
        let mut failed = pod(Some("DaemonSet"));
        failed.status.as_mut().unwrap().phase = Some("Failed".into());
        assert_eq!(
            disposition(&failed, strict, false),
            Disposition::Evict(Some("finished DaemonSet pod"))
        );
        assert_eq!(live_daemonset_owner(&failed), None, "no lookup for it");
        let running = pod(Some("DaemonSet"));
        assert_eq!(
            live_daemonset_owner(&running),
            Some(("default".into(), "o".into()))
        );
        assert!(matches!(
            disposition(&running, strict, true),
            Disposition::Refuse {
                option: "force",
                ..
            }
        ));
        assert!(matches!(
            disposition(&running, force, true),
            Disposition::Evict(Some(_))
        ));
    }

    fn api_error(code: u16, body: serde_json::Value) -> kube::Error {
        let mut status: kube::core::Status = serde_json::from_value(body).unwrap();
        status.code = code;
        kube::Error::Api(status.boxed())
    }

    #[test]
    fn eviction_errors_are_told_apart_as_kubectl_does() {
        // The disruption controller's refusal (policy/v1 eviction REST).
        let pdb = api_error(
            429,
            serde_json::json!({
                "message": "Cannot evict pod as it would violate the pod's disruption budget.",
                "reason": "TooManyRequests",
                "details": { "causes": [{ "reason": "DisruptionBudget", "message": "The disruption budget web needs 2 healthy pods and has 2 currently" }] }
            }),
        );
        assert!(matches!(
            classify_eviction_error(pdb),
            Ok(Evicted::Refused(m)) if m.contains("disruption budget")
        ));
        // APF's answer is plain text; the client turns it into a Status with the code.
        let apf = kube::Error::Api(
            kube::core::Status::failure(
                "Too many requests, please try again later.",
                "Failed to parse error data",
            )
            .with_code(429)
            .boxed(),
        );
        assert!(matches!(
            classify_eviction_error(apf),
            Ok(Evicted::Throttled { retry_after, .. }) if retry_after == std::time::Duration::from_secs(1)
        ));
        let max_inflight = api_error(
            429,
            serde_json::json!({ "message": "storage is re-initializing", "reason": "TooManyRequests", "details": { "retryAfterSeconds": 3 } }),
        );
        assert!(matches!(
            classify_eviction_error(max_inflight),
            Ok(Evicted::Throttled { retry_after, .. }) if retry_after == std::time::Duration::from_secs(3)
        ));
        // NamespaceLifecycle admission in a terminating namespace.
        let terminating = api_error(
            403,
            serde_json::json!({
                "message": "pods \"web\" is forbidden: unable to create new content in namespace x because it is being terminated",
                "reason": "Forbidden",
                "details": { "causes": [{ "reason": "NamespaceTerminating", "message": "namespace x is being terminated" }] }
            }),
        );
        assert!(matches!(
            classify_eviction_error(terminating),
            Ok(Evicted::NamespaceTerminating(_))
        ));
        let rbac = api_error(
            403,
            serde_json::json!({ "message": "forbidden", "reason": "Forbidden" }),
        );
        assert!(
            classify_eviction_error(rbac).is_err(),
            "an RBAC 403 is an error"
        );
        let gone = api_error(404, serde_json::json!({ "reason": "NotFound" }));
        assert!(matches!(classify_eviction_error(gone), Ok(Evicted::Gone)));
    }
}
