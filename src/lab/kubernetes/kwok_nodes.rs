//! Each node's "kubelet": one kwok managing exactly that node (its Lease heartbeat, its
//! status and its pods, which kwok simulates), as `system:node:<name>`. The Node objects
//! are created by `up` (kwok does not create them), labelled and tainted as kubeadm does.
//!
//! kwok runs the lab's own stages file ([`stages_path`]): the build's default stages with
//! a pod-ready stage that waits for the pod's `pod-ready.stage.kwok.x-k8s.io/delay`
//! annotation (kind-fixtures.yaml gives `web` one), so a replacement pod is not Ready at
//! once (what a drain under a PDB needs to meet the disruption controller's 429).

use std::path::{Path, PathBuf};

use super::pki::kubeconfig;
use super::pod_runner::PROCESS_LABEL;
use super::{path, pod_cidr, KWOK_PORT, NODE_LEASE_SECONDS};
use crate::lab::config::Layout;

/// The pod annotation kwok's pod-ready stage (in the lab's stages) waits for, e.g. `2s`.
pub const POD_READY_DELAY_ANNOTATION: &str = "pod-ready.stage.kwok.x-k8s.io/delay";

/// The stages file the lab's kwoks run (written by `up` from the build's).
pub fn stages_path(l: &Layout) -> PathBuf {
    l.dir.join("kwok-stages.yaml")
}

/// The build's stages (`kwok-stages.yaml`: kwok's "fast" pod stages, whose pod-ready has
/// no delay) with a delay on the pod-ready stage: none by default, or the duration in
/// the pod's [`POD_READY_DELAY_ANNOTATION`] (as kwok's "general" pod-ready takes it).
pub fn stages(built: &str) -> Result<String, String> {
    let delay = format!(
        "  delay:\n    durationMilliseconds: 0\n    durationFrom:\n      expressionFrom: '.metadata.annotations[\"{POD_READY_DELAY_ANNOTATION}\"]'\n"
    );
    let mut found = false;
    let docs: Vec<String> = built
        .split("\n---\n")
        .map(leave_real_pods)
        .map(|doc| {
            let is_pod_ready = doc.contains("\nkind: Stage\n")
                && doc.contains("\n  name: pod-ready\n")
                && doc.contains("\n    kind: Pod\n");
            if !is_pod_ready || doc.contains("\n  delay:\n") {
                found |= is_pod_ready;
                return doc.to_string();
            }
            match doc.split_once("\n  next:\n") {
                Some((head, tail)) => {
                    found = true;
                    format!("{head}\n{delay}  next:\n{tail}")
                }
                None => doc.to_string(),
            }
        })
        .collect();
    let mut docs = docs;
    if found && !built.contains("\n  name: pod-ready-again\n") {
        docs.push(leave_real_pods(POD_READY_AGAIN));
    }
    if found {
        Ok(docs.join("\n---\n"))
    } else {
        Err("no pod-ready Stage (with a `next:`) in the built kwok-stages.yaml".into())
    }
}

/// A Pod stage with one more condition: the pod has no `lab.kubedrill.io/process` label.
/// The lab's pod runner plays the kubelet for those pods (real processes), so kwok must not
/// make them Ready or delete them.
fn leave_real_pods(doc: &str) -> String {
    let key = format!(".metadata.labels[\"{PROCESS_LABEL}\"]");
    if !doc.contains("\n    kind: Pod\n") || doc.contains(&key) {
        return doc.to_string();
    }
    let expr = format!("    - key: '{key}'\n      operator: 'DoesNotExist'\n");
    if let Some((head, tail)) = doc.split_once("\n    matchExpressions:\n") {
        format!("{head}\n    matchExpressions:\n{expr}{tail}")
    } else if let Some((head, tail)) = doc.split_once("\n  next:\n") {
        format!("{head}\n  selector:\n    matchExpressions:\n{expr}  next:\n{tail}")
    } else {
        doc.to_string()
    }
}

/// A real kubelet that comes back reports its running pods Ready again; kwok's stages only
/// make Pending pods Ready, so a pod the node controller marked not Ready while its node's
/// kubelet (kwok) was stopped stayed so for good. This stage readies a Running pod whose
/// Ready condition is not True.
const POD_READY_AGAIN: &str = r#"apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready-again
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
"#;

pub fn argv(l: &Layout, i: usize, kwok: &str, stages: &Path) -> Vec<String> {
    vec![
        kwok.into(),
        format!("--kubeconfig={}", path(&kubeconfig(l, i, "kubelet"))),
        format!("--config={}", path(stages)),
        format!("--node-lease-duration-seconds={NODE_LEASE_SECONDS}"),
        format!("--manage-single-node={}", l.node_name(i)),
        // Both, or kwok's node-initialize stage, which adds the InternalIP and Hostname
        // addresses a node lacks, writes `addresses:` with nothing (no `NodeName`) and
        // so wipes them when kwok restarts on a NotReady node.
        format!("--node-ip={}", l.node_addr(i)),
        format!("--node-name={}", l.node_name(i)),
        format!("--cidr={}", pod_cidr(i)),
        format!("--server-address=0.0.0.0:{KWOK_PORT}"),
    ]
}

/// The Node objects: control-plane nodes labelled and tainted like kubeadm's (so
/// workloads land on workers, as on kind), workers spread over zones like
/// kind-config.yaml's.
pub fn manifest(l: &Layout) -> String {
    let mut out = String::new();
    for i in 0..l.nodes {
        let name = l.node_name(i);
        let mut labels = vec![
            format!("kubernetes.io/hostname: {name}"),
            "kubernetes.io/os: linux".into(),
            "kubernetes.io/arch: amd64".into(),
            format!("kubedrill.io/lab: {}", l.prefix),
            "type: kwok".into(),
        ];
        let mut taints = String::new();
        if l.has_etcd(i) {
            labels.push("node-role.kubernetes.io/control-plane: \"\"".into());
            labels.push("node.kubernetes.io/exclude-from-external-load-balancers: \"\"".into());
            taints = "  taints:\n    - { key: node-role.kubernetes.io/control-plane, effect: NoSchedule }\n"
                .into();
        } else {
            let zone = (b'a' + ((i - l.etcd_members()) % 26) as u8) as char;
            labels.push(format!("topology.kubernetes.io/zone: zone-{zone}"));
        }
        let labels: String = labels.iter().map(|l| format!("    {l}\n")).collect();
        out.push_str(&format!(
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n{labels}  annotations:\n    kwok.x-k8s.io/node: fake\n    node.alpha.kubernetes.io/ttl: \"0\"\nspec:\n  podCIDR: {cidr}\n  podCIDRs: [{cidr}]\n{taints}",
            cidr = pod_cidr(i),
        ));
    }
    out
}

/// The status patch giving node `i` its addresses (InternalIP: its lab address,
/// Hostname: its name), which `up` applies after creating the Node, before its kwok runs.
pub fn addresses_patch(l: &Layout, i: usize) -> String {
    serde_json::json!({ "status": { "addresses": [
        { "type": "InternalIP", "address": l.node_addr(i).to_string() },
        { "type": "Hostname", "address": l.node_name(i) },
    ] } })
    .to_string()
}

/// kwok lists all nodes, pods and node leases before it filters to its own, which the
/// Node authorizer refuses to a node since `AuthorizeNodeWithSelectors`; nodes may read
/// them (only read: writes still go through the Node authorizer and NodeRestriction).
pub const RBAC: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: "kubedrill:kwok-node-reader" }
rules:
  - apiGroups: [""]
    resources: [nodes, pods]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: "kubedrill:kwok-node-reader" }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "kubedrill:kwok-node-reader" }
subjects:
  - { apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:nodes" }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: "kubedrill:kwok-lease-reader", namespace: kube-node-lease }
rules:
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: "kubedrill:kwok-lease-reader", namespace: kube-node-lease }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: "kubedrill:kwok-lease-reader" }
subjects:
  - { apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:nodes" }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const BUILT: &str = "---\n# node\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: node-initialize\nspec:\n  resourceRef:\n    apiGroup: v1\n    kind: Node\n  next:\n    statusTemplate: x\n---\n# pod\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: pod-ready\nspec:\n  resourceRef:\n    apiGroup: v1\n    kind: Pod\n  next:\n    statusTemplate: y\n";

    #[test]
    fn stages_delay_pod_ready_only_by_the_annotation() {
        let out = stages(BUILT).unwrap();
        let docs: Vec<&str> = out.split("\n---\n").collect();
        assert!(!docs[0].contains("delay:"), "{out}");
        assert!(
            docs[1].contains(
                "  delay:\n    durationMilliseconds: 0\n    durationFrom:\n      expressionFrom: '.metadata.annotations[\"pod-ready.stage.kwok.x-k8s.io/delay\"]'\n  next:\n"
            ),
            "{out}"
        );
        // Pods with real processes are the pod runner's, not kwok's.
        assert!(
            docs[1].contains("    - key: '.metadata.labels[\"lab.kubedrill.io/process\"]'\n      operator: 'DoesNotExist'\n"),
            "{out}"
        );
        assert!(!docs[0].contains("lab.kubedrill.io/process"), "{out}");
        assert!(
            docs[2].contains("name: pod-ready-again")
                && docs[2].contains("lab.kubedrill.io/process"),
            "{out}"
        );
        // Idempotent, and an error without a pod-ready stage.
        assert_eq!(stages(&out).unwrap(), out);
        assert!(stages(docs[0]).is_err());
    }
}
