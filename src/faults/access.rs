//! How faults reach what they change: the cluster client and inventory nodes, with errors
//! worded for the fault record. From a pod only SSH reaches a node: `docker exec` and this
//! machine (or its network namespaces) are the pod's own container there.

use std::path::Path;
use std::time::Duration;

use super::FaultError;
use crate::access::{AccessSpec, CommandOutput, NodeAccess, NodeSpec};
use crate::engine::RunContext;

/// The token every pod with a service account has mounted (the path client-go reads).
pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// True when kubedrill runs in a Kubernetes pod: `KUBERNETES_SERVICE_HOST` is set and the
/// service account token is mounted (the two things the in-cluster config needs).
pub fn in_pod() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|h| !h.is_empty())
        && Path::new(SERVICE_ACCOUNT_TOKEN).exists()
}

/// In a pod, `Err` naming every node of `nodes` whose access cannot reach the node from
/// there (`docker:` or `local:`); outside a pod, and for `ssh:` nodes, `Ok`.
pub fn refuse_from_pod<'a>(nodes: impl IntoIterator<Item = &'a NodeSpec>) -> Result<(), String> {
    if !in_pod() {
        return Ok(());
    }
    pod_refusal(nodes)
}

/// The refusal of [`refuse_from_pod`], as if kubedrill ran in a pod.
fn pod_refusal<'a>(nodes: impl IntoIterator<Item = &'a NodeSpec>) -> Result<(), String> {
    let refused: Vec<String> = nodes
        .into_iter()
        .filter_map(|n| {
            let how = match &n.access {
                AccessSpec::Ssh(_) => return None,
                AccessSpec::Docker(d) => format!("`docker exec {}`", d.container),
                AccessSpec::Local(l) => match &l.netns {
                    Some(ns) => format!("`ip netns exec {ns}` on this machine"),
                    None => "commands on this machine".to_string(),
                },
            };
            Some(format!("node {} is reached by {how}", n.name))
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(format!(
        "kubedrill runs in a pod (KUBERNETES_SERVICE_HOST is set and {SERVICE_ACCOUNT_TOKEN} \
         exists), where only SSH reaches a node: {}; from a pod these are the pod's own \
         container, not the node. Give these nodes `access: {{ ssh: ... }}` in the inventory \
         (with the key mounted into the pod), or run kubedrill outside the cluster",
        refused.join("; ")
    ))
}

/// The cluster client, or a fault error saying why there is none.
pub async fn cluster_client(ctx: &RunContext) -> Result<kube::Client, FaultError> {
    ctx.cluster.client().await.map_err(FaultError)
}

/// Inventory node `name`; in a pod, refused unless it is reached over SSH.
pub fn inventory_node<'a>(ctx: &'a RunContext, name: &str) -> Result<&'a NodeAccess, FaultError> {
    let node = ctx
        .nodes
        .get(name)
        .ok_or_else(|| FaultError(format!("node {name} is not in the inventory")))?;
    refuse_from_pod([node.spec()]).map_err(FaultError)?;
    Ok(node)
}

/// Runs `argv` on `node`; a command that exits non-zero is an error naming it and the node.
pub async fn run_checked(
    node: &NodeAccess,
    argv: &[String],
    timeout: Duration,
) -> Result<CommandOutput, FaultError> {
    let out = node.run(argv, timeout).await.map_err(FaultError::new)?;
    if !out.success() {
        return Err(FaultError(format!(
            "`{}` on {}: {}",
            argv.join(" "),
            node.spec().name,
            out.summary()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{DockerAccess, LocalAccess, SshAccess};

    fn node(name: &str, access: AccessSpec) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            roles: Vec::new(),
            labels: Default::default(),
            address: None,
            access,
            services: Default::default(),
        }
    }

    fn ssh() -> AccessSpec {
        AccessSpec::Ssh(SshAccess {
            host: "10.0.0.1".into(),
            port: None,
            user: None,
            identity_file: None,
            known_hosts: Default::default(),
            known_hosts_file: None,
            sudo: false,
            connect_timeout: None,
        })
    }

    #[test]
    fn in_a_pod_only_ssh_nodes_are_reachable() {
        let docker = AccessSpec::Docker(DockerAccess {
            container: "kind-worker".into(),
        });
        let netns = AccessSpec::Local(LocalAccess {
            netns: Some("lab-n1".into()),
        });
        let nodes = [
            node("a", ssh()),
            node("b", docker),
            node("c", netns),
            node("d", AccessSpec::Local(LocalAccess::default())),
        ];
        assert_eq!(pod_refusal(&nodes[..1]), Ok(()));
        let err = pod_refusal(&nodes).unwrap_err();
        for part in [
            "node b is reached by `docker exec kind-worker`",
            "node c is reached by `ip netns exec lab-n1` on this machine",
            "node d is reached by commands on this machine",
            "access: { ssh: ... }",
        ] {
            assert!(err.contains(part), "{part}: {err}");
        }
        assert!(!err.contains("node a "), "{err}");
    }
}
