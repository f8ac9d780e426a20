//! kube-apiserver on each control-plane node, as kubeadm runs it: only its local etcd
//! member, TLS from the lab CA, Node + RBAC authorization, one shared service-account key.

use super::pki::{ca_cert, client_pair, node_pair, sa_key, sa_pub};
use super::{path, APISERVER_PORT, CLUSTER_DOMAIN, NOT_READY_TOLERATION, SERVICE_CIDR};
use crate::lab::config::Layout;
use crate::lab::services::ETCD_CLIENT_PORT;

pub fn argv(l: &Layout, i: usize, apiserver: &str) -> Vec<String> {
    let (crt, key) = node_pair(l, "apiserver", i);
    let (etcd_crt, etcd_key) = client_pair(l, "apiserver-etcd-client");
    let ca = path(&ca_cert(l));
    let toleration = NOT_READY_TOLERATION.as_secs();
    vec![
        apiserver.into(),
        format!("--advertise-address={}", l.node_addr(i)),
        "--bind-address=0.0.0.0".into(),
        format!("--secure-port={APISERVER_PORT}"),
        format!("--etcd-servers=https://127.0.0.1:{ETCD_CLIENT_PORT}"),
        format!("--etcd-cafile={ca}"),
        format!("--etcd-certfile={}", path(&etcd_crt)),
        format!("--etcd-keyfile={}", path(&etcd_key)),
        format!("--client-ca-file={ca}"),
        format!("--tls-cert-file={}", path(&crt)),
        format!("--tls-private-key-file={}", path(&key)),
        "--authorization-mode=Node,RBAC".into(),
        "--enable-admission-plugins=NodeRestriction".into(),
        "--allow-privileged=true".into(),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        format!("--service-account-issuer=https://kubernetes.default.svc.{CLUSTER_DOMAIN}"),
        format!("--service-account-key-file={}", path(&sa_pub(l))),
        format!("--service-account-signing-key-file={}", path(&sa_key(l))),
        format!("--default-not-ready-toleration-seconds={toleration}"),
        format!("--default-unreachable-toleration-seconds={toleration}"),
        "--kubelet-preferred-address-types=InternalIP".into(),
        "--profiling=false".into(),
    ]
}
