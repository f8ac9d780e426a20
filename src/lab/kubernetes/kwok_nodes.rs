//! Each node's "kubelet": one kwok managing exactly that node (its Lease heartbeat, its
//! status and its pods, which kwok simulates), as `system:node:<name>`. The Node objects
//! are created by `up` (kwok does not create them), labelled and tainted as kubeadm does.

use std::path::Path;

use super::pki::kubeconfig;
use super::{path, pod_cidr, KWOK_PORT, NODE_LEASE_SECONDS};
use crate::lab::config::Layout;

pub fn argv(l: &Layout, i: usize, kwok: &str, stages: &Path) -> Vec<String> {
    vec![
        kwok.into(),
        format!("--kubeconfig={}", path(&kubeconfig(l, i, "kubelet"))),
        format!("--config={}", path(stages)),
        format!("--node-lease-duration-seconds={NODE_LEASE_SECONDS}"),
        format!("--manage-single-node={}", l.node_name(i)),
        format!("--node-ip={}", l.node_addr(i)),
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
