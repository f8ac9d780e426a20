//! The lab as the harness sees it: `inventory.yaml` (nodes reached over SSH, with their
//! services) and `vars.yaml` (flat variables for scenarios).

use std::collections::BTreeMap;

use crate::access::{AccessSpec, Inventory, KnownHostsPolicy, NodeSpec, ServiceSpec, SshAccess};

use super::config::{Layout, ZONE};
use super::services::*;

/// The inventory of the lab: every node over SSH as root with strict host-key checking.
pub fn inventory(l: &Layout) -> Inventory {
    Inventory {
        nodes: (0..l.nodes).map(|i| node(l, i)).collect(),
    }
}

fn node(l: &Layout, i: usize) -> NodeSpec {
    let addr = l.node_addr(i).to_string();
    let roles = if l.has_etcd(i) {
        vec!["control-plane".to_string(), "etcd".to_string()]
    } else {
        vec!["worker".to_string()]
    };
    NodeSpec {
        name: l.node_name(i),
        roles,
        labels: BTreeMap::from([("kubedrill.io/lab".to_string(), l.prefix.clone())]),
        address: Some(addr.clone()),
        access: AccessSpec::Ssh(SshAccess {
            host: addr,
            port: Some(SSH_PORT),
            user: Some("root".into()),
            identity_file: Some(l.client_key()),
            known_hosts: KnownHostsPolicy::Strict,
            known_hosts_file: Some(l.known_hosts()),
            sudo: false,
            connect_timeout: None,
        }),
        services: node_services(l, i)
            .into_iter()
            .map(|s| (s.to_string(), service(l, i, s)))
            .collect(),
    }
}

fn service(l: &Layout, i: usize, name: &str) -> ServiceSpec {
    let addr = l.node_addr(i);
    let ctl = |action: &str| {
        Some(vec![
            l.ctl(i).display().to_string(),
            action.into(),
            name.into(),
        ])
    };
    let k8s = l
        .kubernetes
        .then(|| super::kubernetes::service_endpoints(l, i, name))
        .flatten();
    let endpoints: &[(&str, String)] = &match name {
        _ if k8s.is_some() => k8s.expect("checked"),
        "sshd" => vec![("ssh", format!("{addr}:{SSH_PORT}"))],
        "etcd" => vec![
            ("client", format!("http://{addr}:{ETCD_CLIENT_PORT}")),
            ("peer", format!("http://{addr}:{ETCD_PEER_PORT}")),
        ],
        "nats" => vec![
            ("client", nats_client(l, i)),
            (
                "cluster",
                format!("nats-route://{addr}:{NATS_CLUSTER_PORT}"),
            ),
            ("monitor", format!("http://{addr}:{NATS_MONITOR_PORT}")),
        ],
        "dns" => vec![("server", format!("{addr}:{DNS_PORT}"))],
        "kubelet" => vec![("healthz", kubelet_healthz(l, i))],
        other => unreachable!("unknown lab service {other}"),
    };
    ServiceSpec {
        name: match name {
            "etcd" => Some(format!("etcd-{i}")),
            "nats" => Some(format!("nats-{i}")),
            _ => None,
        },
        endpoints: endpoints
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        start: ctl("start"),
        stop: ctl("stop"),
        status: ctl("status"),
    }
}

pub(super) fn kubelet_healthz(l: &Layout, i: usize) -> String {
    format!("http://{}:{KUBELET_HEALTHZ_PORT}/healthz", l.node_addr(i))
}

pub(super) fn nats_client(l: &Layout, i: usize) -> String {
    format!("nats://{}:{NATS_CLIENT_PORT}", l.node_addr(i))
}

pub(super) fn nats_monitor(l: &Layout, i: usize) -> String {
    format!("http://{}:{NATS_MONITOR_PORT}", l.node_addr(i))
}

pub(super) fn etcd_client(l: &Layout, i: usize) -> String {
    let scheme = if l.kubernetes { "https" } else { "http" };
    format!("{scheme}://{}:{ETCD_CLIENT_PORT}", l.node_addr(i))
}

/// Flat string variables for scenarios (`${n0_addr}`, `${etcd_endpoints}`, ...).
pub fn vars(l: &Layout) -> BTreeMap<String, String> {
    let all = |f: &dyn Fn(usize) -> String, n: usize| (0..n).map(f).collect::<Vec<_>>().join(",");
    let mut v = BTreeMap::new();
    let mut set = |k: String, val: String| v.insert(k, val);
    set("lab_dir".into(), l.dir.display().to_string());
    set("lab_prefix".into(), l.prefix.clone());
    set(
        "lab_inventory".into(),
        l.inventory_file().display().to_string(),
    );
    set("lab_zone".into(), ZONE.into());
    set("nodes".into(), all(&|i| l.node_name(i), l.nodes));
    set(
        "etcd_endpoints".into(),
        all(&|i| etcd_client(l, i), l.etcd_members()),
    );
    set(
        "etcd_members".into(),
        all(&|i| format!("etcd-{i}"), l.etcd_members()),
    );
    set("nats_servers".into(), all(&|i| nats_client(l, i), l.nodes));
    set(
        "dns_servers".into(),
        all(&|i| format!("{}:{DNS_PORT}", l.node_addr(i)), l.nodes),
    );
    set("dns_svc_name".into(), l.svc_name());
    set("dns_svc_addr".into(), l.svc_addr().to_string());
    set(
        "ssh_identity_file".into(),
        l.client_key().display().to_string(),
    );
    set(
        "ssh_known_hosts_file".into(),
        l.known_hosts().display().to_string(),
    );
    for i in 0..l.nodes {
        let n = l.node_name(i);
        set(format!("{n}_addr"), l.node_addr(i).to_string());
        set(format!("{n}_netns"), l.netns(i));
        set(format!("{n}_ctl"), l.ctl(i).display().to_string());
        set(format!("{n}_dns_name"), l.dns_name(i));
        set(format!("nats_monitor_{n}"), nats_monitor(l, i));
        set(format!("kubelet_healthz_{n}"), kubelet_healthz(l, i));
        if l.has_etcd(i) {
            set(format!("etcd_endpoint_{n}"), etcd_client(l, i));
        }
    }
    if l.kubernetes {
        v.extend(super::kubernetes::vars(l));
    } else {
        v.extend(super::nats_stream::vars());
    }
    v
}
