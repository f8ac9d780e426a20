//! Node reads and the one node write kubedrill does: the `spec.unschedulable` flag.

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

/// Sets `spec.unschedulable` with the strategic-merge patch `kubectl cordon` sends.
pub async fn set_unschedulable(
    client: &kube::Client,
    name: &str,
    unschedulable: bool,
) -> Result<(), kube::Error> {
    let patch = serde_json::json!({ "spec": { "unschedulable": unschedulable } });
    Api::<Node>::all(client.clone())
        .patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .map(|_| ())
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
