//! Node reads and the one node write kubedrill does: the `spec.unschedulable` flag, written
//! under the field manager `kubedrill`, so the server's managedFields tell later whether
//! kubedrill's cordon is still the one in place.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};

/// True when the node is cordoned.
pub fn is_unschedulable(n: &Node) -> bool {
    n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
}

/// True when the node's `Ready` condition is `True`.
pub fn is_ready(n: &Node) -> bool {
    let conditions = n.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The node's first `InternalIP`.
pub fn internal_ip(n: &Node) -> Option<String> {
    let addresses = n.status.as_ref().and_then(|s| s.addresses.as_ref());
    addresses
        .into_iter()
        .flatten()
        .find(|a| a.type_ == "InternalIP")
        .map(|a| a.address.clone())
}

/// Reads one node.
pub async fn get(client: &kube::Client, name: &str) -> Result<Node, String> {
    Api::<Node>::all(client.clone())
        .get(name)
        .await
        .map_err(|e| format!("cannot read node {name}: {e}"))
}

/// The field manager kubedrill's node writes are recorded under.
pub const FIELD_MANAGER: &str = "kubedrill";

/// Sets `spec.unschedulable` with the strategic-merge patch `kubectl cordon` sends.
pub async fn set_unschedulable(
    client: &kube::Client,
    name: &str,
    unschedulable: bool,
) -> Result<(), kube::Error> {
    patch_unschedulable(client, name, unschedulable, None).await
}

/// The same patch, rejected with 409 when the node's resourceVersion is no longer `rv`.
async fn patch_unschedulable(
    client: &kube::Client,
    name: &str,
    unschedulable: bool,
    rv: Option<&str>,
) -> Result<(), kube::Error> {
    let mut patch = serde_json::json!({ "spec": { "unschedulable": unschedulable } });
    if let Some(rv) = rv {
        patch["metadata"] = serde_json::json!({ "resourceVersion": rv });
    }
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    Api::<Node>::all(client.clone())
        .patch(name, &params, &Patch::Strategic(&patch))
        .await
        .map(|_| ())
}

/// The field managers that own `spec.unschedulable`, with when they wrote it (the server
/// moves ownership to whoever changes the value: `kubectl uncordon` then `kubectl cordon`
/// leaves it with kubectl's manager, not kubedrill's).
pub fn cordon_owners(n: &Node) -> Vec<(String, Option<String>)> {
    let entries = n.metadata.managed_fields.as_ref();
    entries
        .into_iter()
        .flatten()
        .filter(|e| {
            e.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer("/f:spec/f:unschedulable").is_some())
        })
        .map(|e| {
            (
                e.manager.clone().unwrap_or_default(),
                e.time.as_ref().map(|t| t.0.to_string()),
            )
        })
        .collect()
}

/// What an uncordon found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uncordoned {
    /// kubedrill's cordon was still in place: now schedulable.
    Done,
    /// Schedulable already (someone uncordoned it).
    AlreadySchedulable,
    /// Cordoned by someone else since kubedrill's cordon: left cordoned.
    LeftToOthers(String),
    /// The node no longer exists.
    NodeGone,
}

/// Uncordons `name` only while kubedrill's cordon is the one in place. The rule: re-read
/// the node; schedulable → nothing to do; `spec.unschedulable` owned (managedFields) by a
/// manager other than kubedrill's → someone uncordoned and cordoned it again (or cordoned
/// it before kubedrill did): leave it; else uncordon with the resourceVersion just read,
/// so a cordon in between makes the write fail (409) and the rule runs again. A server
/// that records no managedFields gives no owner: the node is uncordoned.
pub async fn uncordon_if_ours(client: &kube::Client, name: &str) -> Result<Uncordoned, String> {
    for _ in 0..5 {
        let node = match Api::<Node>::all(client.clone()).get_opt(name).await {
            Ok(Some(n)) => n,
            Ok(None) => return Ok(Uncordoned::NodeGone),
            Err(e) => return Err(format!("cannot read node {name}: {e}")),
        };
        if !is_unschedulable(&node) {
            return Ok(Uncordoned::AlreadySchedulable);
        }
        let owners = cordon_owners(&node);
        if !owners.is_empty() && owners.iter().all(|(m, _)| m != FIELD_MANAGER) {
            let who: Vec<String> = owners
                .iter()
                .map(|(m, at)| match at {
                    Some(at) => format!("{m} at {at}"),
                    None => m.clone(),
                })
                .collect();
            return Ok(Uncordoned::LeftToOthers(format!(
                "left cordoned: someone else cordoned node {name} since kubedrill did (spec.unschedulable last set by {})",
                who.join(", ")
            )));
        }
        let rv = node.metadata.resource_version.as_deref();
        match patch_unschedulable(client, name, false, rv).await {
            Ok(()) => return Ok(Uncordoned::Done),
            Err(e) if is_not_found(&e) => return Ok(Uncordoned::NodeGone),
            Err(e) if status_code(&e) == Some(409) => continue,
            Err(e) => return Err(format!("cannot uncordon {name}: {e}")),
        }
    }
    Err(format!(
        "cannot uncordon {name}: the node kept changing (5 conflicts)"
    ))
}

/// Is this error a 404?
pub fn is_not_found(e: &kube::Error) -> bool {
    status_code(e) == Some(404)
}

/// The HTTP status of an API error answer, if it was one.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}
