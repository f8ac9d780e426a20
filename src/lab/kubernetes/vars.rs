//! What a Kubernetes lab adds to the inventory's service endpoints and to `vars.yaml`.

use std::collections::BTreeMap;

use super::pki::{ca_cert, etcd_dir};
use super::up::recorded_bin_dir;
use super::{
    admin_kubeconfig, apiserver_url, etcd, lb_url, path, pki_dir, CLUSTER_DNS_PORT, CLUSTER_DOMAIN,
    CONTEXT, CONTROLLER_MANAGER_PORT, ETCD_METRICS_PORT, KUBERNETES_SERVICE_IP,
    NODE_MONITOR_GRACE_PERIOD, NOT_READY_TOLERATION, SCHEDULER_PORT, SERVICE_CIDR,
};
use crate::lab::config::Layout;
use crate::lab::services::ETCD_PEER_PORT;

/// Endpoints of a service the Kubernetes lab runs differently (`None`: as the plain lab).
pub fn service_endpoints(l: &Layout, i: usize, name: &str) -> Option<Vec<(&'static str, String)>> {
    let addr = l.node_addr(i);
    Some(match name {
        "etcd" => vec![
            ("client", etcd::client_url(l, i)),
            ("peer", format!("https://{addr}:{ETCD_PEER_PORT}")),
            ("metrics", format!("http://{addr}:{ETCD_METRICS_PORT}")),
        ],
        "kube-apiserver" => vec![("https", apiserver_url(l, i))],
        "kube-controller-manager" => {
            vec![(
                "healthz",
                format!("https://{addr}:{CONTROLLER_MANAGER_PORT}/healthz"),
            )]
        }
        "kube-scheduler" => vec![(
            "healthz",
            format!("https://{addr}:{SCHEDULER_PORT}/healthz"),
        )],
        "coredns" => vec![("server", format!("{addr}:{CLUSTER_DNS_PORT}"))],
        _ => return None,
    })
}

/// Variables for the Kubernetes scenarios, on top of the plain lab's.
pub fn vars(l: &Layout) -> BTreeMap<String, String> {
    let cps: Vec<usize> = (0..l.etcd_members()).collect();
    let workers: Vec<usize> = (l.etcd_members()..l.nodes).collect();
    let list = |ix: &[usize], f: &dyn Fn(usize) -> String| {
        ix.iter().map(|i| f(*i)).collect::<Vec<_>>().join(",")
    };
    let mut v = BTreeMap::new();
    let mut set = |k: &str, val: String| v.insert(k.to_string(), val);
    set("kubeconfig", path(&admin_kubeconfig(l)));
    // The names scenarios/kind/*.yaml use for node access and node names, so they run
    // here unchanged with this file alone (kind users get them from scripts/kind-vars.sh).
    set("inventory", path(&l.inventory_file()));
    for (k, i) in cps.iter().enumerate() {
        set(&format!("control_plane_{}", k + 1), l.node_name(*i));
    }
    for (k, i) in workers.iter().enumerate() {
        set(&format!("worker_{}", k + 1), l.node_name(*i));
    }
    // control-plane-down stops a whole control-plane node (kind: `docker stop`); here every
    // service of the second one, from the host into its namespace.
    if let Some(&i) = cps.get(1) {
        let ctl = format!("ip netns exec {} {}", l.netns(i), path(&l.ctl(i)));
        set("control_plane_down", format!("{ctl} stop all"));
        set("control_plane_up", format!("{ctl} start all"));
    }
    set("context", CONTEXT.into());
    set("kube_context", CONTEXT.into());
    set("api_server", lb_url(l));
    set("lb_addr", l.lb_addr().to_string());
    set("control_plane_nodes", list(&cps, &|i| l.node_name(i)));
    set("worker_nodes", list(&workers, &|i| l.node_name(i)));
    set("apiserver_endpoints", list(&cps, &|i| apiserver_url(l, i)));
    set("etcd_endpoints", list(&cps, &|i| etcd::client_url(l, i)));
    set("etcd_ca", path(&etcd_dir(l).join("ca.crt")));
    set(
        "etcd_cert",
        path(&etcd_dir(l).join("healthcheck-client.crt")),
    );
    set(
        "etcd_key",
        path(&etcd_dir(l).join("healthcheck-client.key")),
    );
    // The kind etcd scenario's names: `${pki}/ca.crt`, `${pki}/healthcheck-client.*`,
    // `${cpN_ip}` for the control-plane nodes.
    set("pki", path(&etcd_dir(l)));
    set("lab_pki", path(&pki_dir(l)));
    set("ca_cert", path(&ca_cert(l)));
    set(
        "cluster_dns_servers",
        list(&cps, &|i| format!("{}:{CLUSTER_DNS_PORT}", l.node_addr(i))),
    );
    set(
        "cluster_dns_name",
        format!("kubernetes.default.svc.{CLUSTER_DOMAIN}"),
    );
    set("cluster_dns_addr", KUBERNETES_SERVICE_IP.to_string());
    // What a pod would ask (kind: the kube-dns Service address): the lab's nodes route
    // 10.96.0.10 to the CoreDNS pods but the host does not, so the CoreDNS process of the
    // last control-plane node, which the drills of workers leave alone.
    set(
        "cluster_dns_server",
        format!(
            "{}:{CLUSTER_DNS_PORT}",
            l.node_addr(*cps.last().expect("control-plane nodes"))
        ),
    );
    set("service_cidr", SERVICE_CIDR.into());
    // The NATS StatefulSet (real servers, see `pod_runner`) and its stream, named as the
    // kind scenarios and scenarios/ha name them.
    set("nats_namespace", "nats".into());
    set("nats_release", "nats".into());
    for (k, val) in crate::lab::nats_stream::vars() {
        set(&k, val);
    }
    set(
        "node_monitor_grace_period",
        format!("{}s", NODE_MONITOR_GRACE_PERIOD.as_secs()),
    );
    set(
        "not_ready_toleration",
        format!("{}s", NOT_READY_TOLERATION.as_secs()),
    );
    if let Some(bin) = recorded_bin_dir(l) {
        set("kube_bin_dir", path(&bin));
        set("kubectl", path(&bin.join("kubectl")));
    }
    for i in cps {
        let n = l.node_name(i);
        set(&format!("cp{}_ip", i + 1), l.node_addr(i).to_string());
        set(&format!("apiserver_endpoint_{n}"), apiserver_url(l, i));
        set(
            &format!("cluster_dns_{n}"),
            format!("{}:{CLUSTER_DNS_PORT}", l.node_addr(i)),
        );
        set(
            &format!("etcd_metrics_{n}"),
            format!("http://{}:{ETCD_METRICS_PORT}", l.node_addr(i)),
        );
    }
    v
}
