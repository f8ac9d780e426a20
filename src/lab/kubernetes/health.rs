//! Is a Kubernetes lab component answering? Checks from the host, one per component, plus
//! the load balancer and the cluster as a whole (nodes Ready, fixtures Ready).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::kubectl::Kubectl;
use super::load_balancer::{self, POD_RUNNER};
use super::up::recorded_kubectl;
use super::{
    cluster_dns, fixtures, lb_url, CLUSTER_DNS_PORT, CONTROLLER_MANAGER_PORT, ETCD_METRICS_PORT,
    KUBERNETES_SERVICE_IP, KWOK_PORT, SCHEDULER_PORT,
};
use crate::lab::config::Layout;
use crate::lab::health::{dns_answers, http_body};
use crate::lab::host::try_run;
use crate::lab::NodeStatus;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// A client for health endpoints: the controllers serve self-signed certificates, and a
/// health check proves the component answers, not who it is.
fn https_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(CHECK_TIMEOUT)
        .danger_accept_invalid_certs(true)
        .build()
        .expect("a health-check client always builds")
}

/// The check of a component the Kubernetes lab runs differently (`None`: as the plain lab).
pub async fn check(l: &Layout, i: usize, name: &str) -> Option<Result<(), String>> {
    let addr = l.node_addr(i);
    let http = https_client();
    let url = match name {
        "etcd" => format!("http://{addr}:{ETCD_METRICS_PORT}/health"),
        "kube-apiserver" => format!("{}/readyz", super::apiserver_url(l, i)),
        "kube-controller-manager" => format!("https://{addr}:{CONTROLLER_MANAGER_PORT}/healthz"),
        "kube-scheduler" => format!("https://{addr}:{SCHEDULER_PORT}/healthz"),
        "kubelet" => format!("http://{addr}:{KWOK_PORT}/healthz"),
        "coredns" => {
            let server = SocketAddr::from((addr, CLUSTER_DNS_PORT));
            let name = cluster_dns::probe_name();
            let answer = dns_answers(server, &name, KUBERNETES_SERVICE_IP);
            return Some(in_time(answer).await);
        }
        _ => return None,
    };
    let ok = move |body: &str| name != "etcd" || body.contains(r#""health":"true""#);
    Some(in_time(http_body(&http, &url, ok)).await)
}

async fn in_time(f: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::time::timeout(CHECK_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {CHECK_TIMEOUT:?}")))
}

/// The rows `lab status` adds for a Kubernetes lab: the load balancer, and the cluster
/// (API through the load balancer, every node Ready, the fixtures Ready).
pub async fn cluster_rows(l: &Layout, netns_exists: bool) -> Vec<NodeStatus> {
    let http = https_client();
    let haproxy = in_time(http_body(&http, &format!("{}/readyz", lb_url(l)), |b| {
        b.trim() == "ok"
    }))
    .await;
    let runner = pod_runner_running(l).await;
    let lb = NodeStatus {
        name: "lb".into(),
        address: l.lb_addr().to_string(),
        netns: netns_exists,
        services: BTreeMap::from([
            ("haproxy".to_string(), haproxy),
            (POD_RUNNER.to_string(), runner),
        ]),
    };
    let (nodes, fixtures) = match recorded_kubectl(l) {
        Ok(kubectl) => cluster_checks(l, &kubectl).await,
        Err(e) => (Err(e.clone()), Err(e)),
    };
    let cluster = NodeStatus {
        name: "cluster".into(),
        address: lb_url(l),
        netns: true,
        services: BTreeMap::from([
            ("nodes-ready".to_string(), nodes),
            ("fixtures".to_string(), fixtures),
        ]),
    };
    vec![lb, cluster]
}

/// The pod runner has no port: its control script says whether its process runs.
async fn pod_runner_running(l: &Layout) -> Result<(), String> {
    let ctl = load_balancer::ctl(l).display().to_string();
    let argv = [
        "ip",
        "netns",
        "exec",
        &l.lb_netns(),
        &ctl,
        "status",
        POD_RUNNER,
    ];
    match try_run(&argv).await {
        Ok(out) if out.success() => Ok(()),
        Ok(out) => Err(out.summary()),
        Err(e) => Err(e.to_string()),
    }
}

async fn cluster_checks(l: &Layout, kubectl: &Kubectl) -> (Result<(), String>, Result<(), String>) {
    futures::join!(
        fixtures::nodes_ready(l, kubectl),
        fixtures::fixtures_ready(kubectl)
    )
}
