//! The Kubernetes lab's pods with real processes (its pod runner plays their kubelet): the
//! NATS StatefulSet's pods are real, clustered NATS servers at their pods' addresses; a
//! deleted pod's object goes only once its process is gone, and its replacement rejoins;
//! a restarted runner adopts the running processes; CoreDNS answers through the kube-dns
//! ClusterIP from a node; while a node's kubelet is stopped its pods' processes run on and
//! their deletion waits for the kubelet.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::headless::http_get_at;
use crate::support::kube_lab::{shared, SharedLab};
use crate::support::poll_until;

const NATS_MONITOR: u16 = 8222;
const COREDNS_READY: u16 = 8181;

/// The pod as JSON; `None` once it is gone.
fn pod(lab: &SharedLab, ns: &str, name: &str) -> Option<Value> {
    let out = lab.kubectl(&[
        "-n",
        ns,
        "get",
        "pod",
        name,
        "-o",
        "json",
        "--ignore-not-found",
    ]);
    serde_json::from_str(&out).ok()
}

fn uid(p: &Value) -> String {
    p["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn ip(p: &Value) -> Option<IpAddr> {
    p["status"]["podIP"].as_str()?.parse().ok()
}

fn ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// When the Ready condition last changed.
fn ready_since(p: &Value) -> String {
    p["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .map(|c| c["lastTransitionTime"].to_string())
        .unwrap_or_default()
}

fn container_id(p: &Value) -> String {
    p["status"]["containerStatuses"][0]["containerID"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The pid of the pod's process (the lab's container IDs are `lab://PID`).
fn pid(p: &Value) -> u32 {
    let id = container_id(p);
    id.strip_prefix("lab://")
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("container ID {id:?}"))
}

/// Running (a zombie is not).
fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(!stat.rsplit_once(')')?.1.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// `GET path` on the pod address's port: the body of a 200.
fn get(ip: IpAddr, port: u16, path: &str) -> Option<String> {
    match http_get_at(SocketAddr::new(ip, port), path) {
        Some((200, body)) => Some(body),
        _ => None,
    }
}

fn nats_ready(lab: &SharedLab) -> bool {
    (0..3).all(|k| pod(lab, "nats", &format!("nats-{k}")).is_some_and(|p| ready(&p)))
}

/// The server at `ip` sees a JetStream meta leader and 3 servers in its cluster.
fn nats_clustered(ip: IpAddr) -> bool {
    get(ip, NATS_MONITOR, "/jsz").is_some_and(|body| {
        let compact: String = body.split_whitespace().collect();
        compact.contains("\"cluster_size\":3") && compact.contains("\"leader\":\"nats-")
    })
}

fn lb_ctl(lab: &SharedLab, action: &str) {
    let ns = format!("{}-lb", lab.var("lab_prefix"));
    let ctl = format!("{}/nodes/lb/ctl", lab.var("lab_dir"));
    let ok = Command::new("ip")
        .args(["netns", "exec", &ns, &ctl, action, "pod-runner"])
        .status()
        .expect("ip runs")
        .success();
    assert!(ok, "ctl {action} pod-runner");
}

fn node_ctl(lab: &SharedLab, node: &str, action: &str, service: &str) {
    let ns = lab.var(&format!("{node}_netns")).to_string();
    let ctl = lab.var(&format!("{node}_ctl")).to_string();
    let ok = Command::new("ip")
        .args(["netns", "exec", &ns, &ctl, action, service])
        .status()
        .expect("ip runs")
        .success();
    assert!(ok, "{node}: ctl {action} {service}");
}

#[test]
fn kube_real_pods_nats_pods_are_real_servers_and_a_deleted_one_goes_after_its_process() {
    let lab = shared();
    assert!(
        poll_until(Duration::from_secs(90), || nats_ready(lab)),
        "NATS StatefulSet not Ready"
    );
    let pods: Vec<Value> = (0..3)
        .map(|k| pod(lab, "nats", &format!("nats-{k}")).expect("nats pod"))
        .collect();
    for (k, p) in pods.iter().enumerate() {
        let addr = ip(p).expect("a Ready pod has an address");
        let varz =
            get(addr, NATS_MONITOR, "/varz").expect("the pod's address serves NATS monitoring");
        let compact: String = varz.split_whitespace().collect();
        assert!(
            compact.contains(&format!("\"server_name\":\"nats-{k}\"")),
            "{varz}"
        );
    }
    assert!(
        poll_until(Duration::from_secs(30), || nats_clustered(
            ip(&pods[0]).unwrap()
        )),
        "the three servers form one JetStream cluster"
    );

    // A restarted runner adopts the running processes: same containers, no restart (and,
    // checked before its first status, no moment Not Ready).
    lb_ctl(lab, "stop");
    lb_ctl(lab, "start");

    let victim = &pods[2];
    let old_uid = uid(victim);
    let old_pid = pid(victim);
    assert!(
        process_alive(old_pid),
        "nats-2's server (pid {old_pid}) runs"
    );
    lab.kubectl(&[
        "-n",
        "nats",
        "delete",
        "pod",
        "nats-2",
        "--grace-period=5",
        "--wait=false",
    ]);
    // Until the object is gone the process may still run; once it is gone, it must not.
    let gone = poll_until(Duration::from_secs(30), || {
        pod(lab, "nats", "nats-2").is_none_or(|p| uid(&p) != old_uid)
    });
    assert!(gone, "nats-2 was never deleted");
    assert!(
        !process_alive(old_pid),
        "the object of nats-2 went while its server (pid {old_pid}) still ran"
    );

    // The StatefulSet's replacement is a new server that rejoins the cluster.
    let back = poll_until(Duration::from_secs(60), || {
        pod(lab, "nats", "nats-2")
            .is_some_and(|p| uid(&p) != old_uid && ready(&p) && ip(&p).is_some_and(nats_clustered))
    });
    assert!(back, "nats-2 came back Ready and clustered");
    for p in &pods[..2] {
        let name = p["metadata"]["name"].as_str().unwrap();
        let now = pod(lab, "nats", name).expect("untouched pod");
        assert_eq!(
            container_id(&now),
            container_id(p),
            "{name} kept its process"
        );
        assert_eq!(
            now["status"]["containerStatuses"][0]["restartCount"],
            p["status"]["containerStatuses"][0]["restartCount"],
            "{name} was not restarted"
        );
        assert_eq!(
            ready_since(&now),
            ready_since(p),
            "{name} stayed Ready throughout, the runner's restart included"
        );
    }
}

#[test]
fn kube_real_pods_cluster_dns_answers_from_nodes_and_a_stopped_kubelet_keeps_its_pod_running() {
    let lab = shared();
    let dig = |node: &str| -> String {
        let ns = lab.var(&format!("{node}_netns")).to_string();
        let out = Command::new("ip")
            .args(["netns", "exec", &ns, "dig", "+short", "+time=1", "+tries=1"])
            .args(["@10.96.0.10", "kubernetes.default.svc.cluster.local"])
            .output()
            .expect("dig runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let coredns_ready = || {
        let out = lab.kubectl(&[
            "-n",
            "kube-system",
            "get",
            "deployment",
            "coredns",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ]);
        out.trim() == "2"
    };
    assert!(
        poll_until(Duration::from_secs(90), coredns_ready),
        "CoreDNS not Ready"
    );
    for node in ["w0", "n1"] {
        assert!(
            poll_until(Duration::from_secs(10), || dig(node) == "10.96.0.1"),
            "{node}: kube-dns at 10.96.0.10 does not answer kubernetes.default"
        );
    }

    let names = lab.kubectl(&[
        "-n",
        "kube-system",
        "get",
        "pods",
        "-l",
        "k8s-app=kube-dns",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    let name = names
        .split_whitespace()
        .next()
        .expect("a CoreDNS pod")
        .to_string();
    let victim = pod(lab, "kube-system", &name).expect("CoreDNS pod");
    let node = victim["spec"]["nodeName"].as_str().unwrap().to_string();
    let addr = ip(&victim).unwrap();
    assert!(
        get(addr, COREDNS_READY, "/ready").is_some(),
        "CoreDNS at {addr} is ready"
    );

    node_ctl(lab, &node, "stop", "kubelet");
    lab.kubectl(&[
        "-n",
        "kube-system",
        "delete",
        "pod",
        &name,
        "--grace-period=1",
        "--wait=false",
    ]);
    // With its kubelet stopped, nothing ends the process, and the object stays Terminating
    // (checked throughout 3s, well past the grace period).
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(3) {
        let p = pod(lab, "kube-system", &name).expect("the pod stays while its kubelet is down");
        assert!(p["metadata"]["deletionTimestamp"].is_string());
        assert!(
            get(addr, COREDNS_READY, "/ready").is_some(),
            "its CoreDNS runs on"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    node_ctl(lab, &node, "start", "kubelet");
    let gone = poll_until(Duration::from_secs(30), || {
        pod(lab, "kube-system", &name).is_none()
    });
    assert!(gone, "the pod went once its kubelet was back");
    assert!(
        get(addr, COREDNS_READY, "/ready").is_none(),
        "and its process with it"
    );
    assert!(
        poll_until(Duration::from_secs(60), coredns_ready),
        "CoreDNS whole again"
    );
    assert_eq!(dig("w0"), "10.96.0.1");
}
