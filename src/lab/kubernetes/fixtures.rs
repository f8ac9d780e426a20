//! The workloads the kind scenarios drill, from the same file kind uses
//! (`kind-fixtures.yaml`: Deployment `web` with 6 replicas spread over the workers, and a
//! PodDisruptionBudget `web` with minAvailable 5), plus what the lab itself needs.

use super::cluster_dns;
use super::kubectl::Kubectl;
use super::kwok_nodes;
use crate::lab::config::Layout;
use crate::lab::services::write;
use crate::lab::LabError;

/// The kind scenarios' fixtures, shared with kind.
pub const KIND_FIXTURES: &str = include_str!("../../../kind-fixtures.yaml");
/// CoreDNS and NATS as pods with real processes (see `pod_runner`).
pub const REAL_PODS: &str = include_str!("real-pods.yaml");

/// Writes the manifests into `<lab>/manifests/` and applies them (idempotent), and gives
/// every Node its addresses.
pub async fn apply(l: &Layout, kubectl: &Kubectl) -> Result<(), LabError> {
    let dir = l.dir.join("manifests");
    crate::lab::services::mkdir(&dir)?;
    for (name, text) in [
        ("nodes.yaml", kwok_nodes::manifest(l)),
        ("coredns-rbac.yaml", cluster_dns::RBAC.to_string()),
        ("kwok-rbac.yaml", kwok_nodes::RBAC.to_string()),
        ("kind-fixtures.yaml", KIND_FIXTURES.to_string()),
        ("real-pods.yaml", REAL_PODS.to_string()),
    ] {
        let file = dir.join(name);
        write(&file, &text)?;
        kubectl
            .run(&["apply", "-f", &file.display().to_string()])
            .await?;
        if name == "nodes.yaml" {
            for i in 0..l.nodes {
                let patch = kwok_nodes::addresses_patch(l, i);
                let node = l.node_name(i);
                let args = [
                    "patch",
                    "node",
                    &node,
                    "--subresource=status",
                    "--type=merge",
                ];
                kubectl.run(&[&args[..], &["-p", &patch]].concat()).await?;
            }
        }
    }
    Ok(())
}

/// `Ok` when every node is Ready.
pub async fn nodes_ready(l: &Layout, kubectl: &Kubectl) -> Result<(), String> {
    let nodes = kubectl.get_json(&["nodes"]).await?;
    let items = nodes["items"].as_array().cloned().unwrap_or_default();
    let mut not_ready = Vec::new();
    for i in 0..l.nodes {
        let name = l.node_name(i);
        let node = items
            .iter()
            .find(|n| n["metadata"]["name"] == name.as_str());
        let ready = node.is_some_and(|n| {
            n["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        });
        if !ready {
            not_ready.push(if node.is_some() {
                name
            } else {
                format!("{name} (missing)")
            });
        }
    }
    if not_ready.is_empty() {
        Ok(())
    } else {
        Err(format!("not Ready: {}", not_ready.join(", ")))
    }
}

/// `Ok` when Deployment `web` has all its replicas available and PDB `web` exists, and
/// the real pods (CoreDNS, NATS) are all Ready.
pub async fn fixtures_ready(kubectl: &Kubectl) -> Result<(), String> {
    for (ns, kind, name) in [
        ("default", "deployment", "web"),
        ("kube-system", "deployment", "coredns"),
        ("nats", "statefulset", "nats"),
    ] {
        let w = kubectl.get_json(&["-n", ns, kind, name]).await?;
        let want = w["spec"]["replicas"].as_i64().unwrap_or(1);
        let ready = if kind == "statefulset" {
            w["status"]["readyReplicas"].as_i64().unwrap_or(0)
        } else {
            w["status"]["availableReplicas"].as_i64().unwrap_or(0)
        };
        let updated = w["status"]["updatedReplicas"].as_i64().unwrap_or(0);
        if ready < want || updated < want {
            return Err(format!("{kind} {ns}/{name}: {ready}/{want} ready"));
        }
    }
    kubectl
        .get_json(&["-n", "default", "poddisruptionbudget", "web"])
        .await
        .map(|_| ())
}

/// The client URLs of the NATS StatefulSet's pods (their addresses, port 4222).
pub async fn nats_pod_urls(kubectl: &Kubectl) -> Result<Vec<String>, String> {
    let pods = kubectl.get_json(&["-n", "nats", "pods"]).await?;
    let urls: Vec<String> = pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["status"]["podIP"].as_str())
        .map(|ip| format!("nats://{ip}:4222"))
        .collect();
    if urls.is_empty() {
        return Err("no NATS pod in namespace nats has an address".into());
    }
    Ok(urls)
}
