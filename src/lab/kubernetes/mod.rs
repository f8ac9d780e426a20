//! `kubedrill lab up --kubernetes`: a highly available Kubernetes cluster in the lab's
//! network namespaces, shaped like a kubeadm HA cluster with stacked etcd.
//!
//! - Control-plane nodes `n0..n2` (the lab's first three nodes), each running an etcd
//!   member (TLS, peers over TLS), a `kube-apiserver` that talks only to its local member
//!   (`https://127.0.0.1:2379`), a leader-elected `kube-controller-manager` and
//!   `kube-scheduler` talking to the local apiserver, and CoreDNS (kubernetes plugin)
//!   serving `cluster.local` on port 1053 of the node address (dnsmasq keeps port 53).
//! - Workers `w0..` (the remaining nodes). Every node runs sshd, NATS and dnsmasq as in the
//!   plain lab, and its "kubelet": one `kwok` managing exactly that node, started and stopped
//!   by the node's `ctl`, so `stop-kubelet` over SSH silences exactly that node.
//! - A load balancer namespace `<prefix>-lb` (`.50`) running HAProxy in TCP mode, checking
//!   each apiserver's `/readyz`; the admin kubeconfig (`admin.conf`, context
//!   `kubedrill-lab`) points at it.
//! - A lab CA made with the `openssl` CLI at `up` (`pki/`), one service-account key,
//!   RBAC + Node authorization, each kwok authenticating as `system:node:<name>`.
//!
//! The binaries come from the cache `scripts/build-lab-bins.sh` fills; the Kubernetes lab
//! also runs that cache's etcd and NATS (the plain lab keeps Debian's).

mod apiserver;
pub(crate) mod binaries;
mod cluster_dns;
mod controllers;
mod etcd;
mod fixtures;
mod health;
mod kubectl;
mod kwok_nodes;
mod load_balancer;
mod pki;
pub(crate) mod pod_runner;
mod up;
mod vars;

pub use binaries::{bin_dir, BUILD_HINT};
pub(super) use health::{check, cluster_rows};
pub(super) use load_balancer::stop_pod_runner;
pub(super) use up::{is_kubernetes_lab, up};
pub(super) use vars::{service_endpoints, vars};

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::config::Layout;

/// The admin kubeconfig's context (and cluster) name.
pub const CONTEXT: &str = "kubedrill-lab";
/// kube-apiserver's port on every control-plane node and on the load balancer.
pub const APISERVER_PORT: u16 = 6443;
/// kube-controller-manager's and kube-scheduler's secure (health) ports.
pub const CONTROLLER_MANAGER_PORT: u16 = 10257;
pub const SCHEDULER_PORT: u16 = 10259;
/// CoreDNS on the control-plane nodes (dnsmasq keeps port 53).
pub const CLUSTER_DNS_PORT: u16 = 1053;
/// etcd's plain-HTTP `/health` and metrics (kubeadm: 127.0.0.1:2381; here the node
/// address too, so the host can check it).
pub const ETCD_METRICS_PORT: u16 = 2381;
/// kwok's own server (`/healthz`), where the plain lab's stand-in listens.
pub const KWOK_PORT: u16 = 10248;
/// Services get ClusterIPs from here; the first one is `kubernetes.default`'s.
pub const SERVICE_CIDR: &str = "10.96.0.0/16";
pub const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// How long a node may go without a heartbeat before it is NotReady (upstream: 50s).
pub const NODE_MONITOR_GRACE_PERIOD: Duration = Duration::from_secs(20);
/// How often the node lifecycle controller looks (upstream: 5s).
pub const NODE_MONITOR_PERIOD: Duration = Duration::from_secs(2);
/// Default not-ready / unreachable toleration added to pods (upstream: 300s).
pub const NOT_READY_TOLERATION: Duration = Duration::from_secs(30);
/// kwok's node Lease duration (it renews every quarter of it, as the kubelet does).
pub const NODE_LEASE_SECONDS: u32 = 40;
/// Leader election of controller-manager and scheduler.
pub const LEADER_ELECTION: [&str; 3] = [
    "--leader-elect-lease-duration=15s",
    "--leader-elect-renew-deadline=10s",
    "--leader-elect-retry-period=2s",
];

/// Services of node `i`, in start order.
pub fn node_services(l: &Layout, i: usize) -> Vec<&'static str> {
    if l.has_etcd(i) {
        vec![
            "sshd",
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "coredns",
            "nats",
            "dns",
            "kubelet",
        ]
    } else {
        vec!["sshd", "nats", "dns", "kubelet"]
    }
}

/// The argv of a service the Kubernetes lab runs differently from the plain lab (`None`:
/// as in the plain lab).
pub fn service_argv(
    l: &Layout,
    i: usize,
    name: &str,
    programs: &BTreeMap<&str, PathBuf>,
) -> Option<Vec<String>> {
    let prog = |p: &str| programs[p].display().to_string();
    Some(match name {
        "etcd" => etcd::argv(l, i, &prog("etcd")),
        "kube-apiserver" => apiserver::argv(l, i, &prog("kube-apiserver")),
        "kube-controller-manager" => {
            controllers::controller_manager_argv(l, i, &prog("kube-controller-manager"))
        }
        "kube-scheduler" => controllers::scheduler_argv(l, i, &prog("kube-scheduler")),
        "coredns" => cluster_dns::argv(l, i, &prog("coredns")),
        "kubelet" => kwok_nodes::argv(l, i, &prog("kwok"), &kwok_nodes::stages_path(l)),
        "nats" => vec![
            prog("nats-server"),
            "-c".into(),
            l.node_dir(i).join("nats.conf").display().to_string(),
        ],
        _ => return None,
    })
}

/// Where the lab's PKI lives (`ca.crt`, `sa.key`, `etcd/`, client certificates).
pub fn pki_dir(l: &Layout) -> PathBuf {
    l.dir.join("pki")
}

/// The admin kubeconfig (through the load balancer, context `kubedrill-lab`).
pub fn admin_kubeconfig(l: &Layout) -> PathBuf {
    l.dir.join("admin.conf")
}

/// `https://ADDR:6443` of node `i`'s apiserver.
pub fn apiserver_url(l: &Layout, i: usize) -> String {
    format!("https://{}:{APISERVER_PORT}", l.node_addr(i))
}

/// The load balancer's URL, the cluster's one API address.
pub fn lb_url(l: &Layout) -> String {
    format!("https://{}:{APISERVER_PORT}", l.lb_addr())
}

/// The pod CIDR of node `i` (kwok gives its pods addresses from it).
pub fn pod_cidr(i: usize) -> String {
    format!("10.244.{i}.0/24")
}

fn path(p: &Path) -> String {
    p.display().to_string()
}
