//! The real `kubectl` (v1.32) against the fake API server: proof that the fake is faithful
//! enough for the commands kubedrill's drills mirror.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;
use tempfile::TempDir;

use crate::support::fake_kube::{
    ControllerTiming, FakeKube, LeaseSeed, NodeSeed, Outage, PdbSeed, PodSeed, WorkloadSeed,
};
use crate::support::{poll_until, scenarios};

/// A kubectl pointed at one fake, with its own kubeconfig and discovery cache.
struct Kubectl {
    dir: TempDir,
    kubeconfig: PathBuf,
}

/// What one kubectl run did.
#[derive(Debug)]
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Kubectl {
    fn new(fake: &FakeKube) -> Self {
        let dir = TempDir::new().expect("temp dir");
        let kubeconfig = fake.write_kubeconfig(dir.path());
        Self { dir, kubeconfig }
    }

    /// A kubectl whose kubeconfig user carries a bearer token.
    fn with_token(fake: &FakeKube, token: &str) -> Self {
        let dir = TempDir::new().expect("temp dir");
        let kubeconfig = fake.write_kubeconfig_with_token(dir.path(), token);
        Self { dir, kubeconfig }
    }

    /// Runs `kubectl ARGS` with `--request-timeout=10s` unless ARGS set one.
    fn run(&self, args: &[&str]) -> Run {
        let mut command = Command::new("kubectl");
        command
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .arg(format!(
                "--cache-dir={}",
                self.dir.path().join("cache").display()
            ))
            .args(args);
        if !args.iter().any(|a| a.starts_with("--request-timeout")) {
            command.arg("--request-timeout=10s");
        }
        let started = Instant::now();
        let output = command.output().expect("kubectl runs");
        Run {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed: started.elapsed(),
        }
    }

    /// Runs kubectl and insists it succeeded.
    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert!(run.success, "kubectl {args:?} failed: {run:?}");
        run
    }
}

fn fake_with_nodes(names: &[&str]) -> FakeKube {
    let fake = FakeKube::start_sync();
    fake.add_node(NodeSeed::control_plane("cp-1"));
    for name in names {
        fake.add_node(NodeSeed::worker(name));
    }
    fake
}

/// Workers node-a and node-b, one pod of Deployment `default/web` on each.
fn web_on_a_and_b() -> FakeKube {
    let fake = fake_with_nodes(&["node-a", "node-b"]);
    fake.add_workload_with_pods(
        &WorkloadSeed::deployment("default", "web", 2),
        &["node-a", "node-b"],
    );
    fake
}

fn unschedulable(fake: &FakeKube, node: &str) -> bool {
    let node = fake.node(node).expect("node exists");
    node.spec.and_then(|s| s.unschedulable).unwrap_or(false)
}

fn item_names(list: &Value, kind: &str) -> Vec<String> {
    let items = list["items"].as_array().expect("a List");
    let of_kind = items.iter().filter(|i| i["kind"] == kind);
    of_kind
        .map(|i| {
            i["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn kubectl_gets_seeded_nodes_and_pods_as_json_and_tables() {
    let fake = fake_with_nodes(&["node-a"]);
    fake.add_pod(PodSeed::new("default", "lonely", "node-a"));
    fake.add_workload_with_pods(&WorkloadSeed::statefulset("data", "db", 1), &["node-a"]);
    let kubectl = Kubectl::new(&fake);

    let run = kubectl.ok(&["get", "nodes,pods", "-A", "-o", "json"]);
    let list: Value = serde_json::from_str(&run.stdout).expect("kubectl printed JSON");
    assert_eq!(item_names(&list, "Node"), ["cp-1", "node-a"]);
    assert_eq!(item_names(&list, "Pod"), ["db-0", "lonely"]);

    let nodes = kubectl.ok(&["get", "nodes"]).stdout;
    assert!(
        nodes.contains("cp-1") && nodes.contains("node-a"),
        "{nodes}"
    );
    let pods = kubectl.ok(&["get", "pods", "-A"]).stdout;
    assert!(
        pods.contains("data") && pods.contains("db-0") && pods.contains("lonely"),
        "{pods}"
    );
}

#[test]
fn kubectl_selects_pods_by_label_and_field() {
    let fake = web_on_a_and_b();
    fake.add_pod(PodSeed::new("default", "lonely", "node-b").label("tier", "batch"));
    let kubectl = Kubectl::new(&fake);
    let names = |args: &[&str]| {
        let mut full = vec!["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"];
        full.extend_from_slice(args);
        let out = kubectl.ok(&full).stdout;
        let mut names: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        names.sort();
        names
    };
    assert_eq!(names(&["-l", "app=web"]).len(), 2);
    assert_eq!(names(&["-l", "tier in (batch,web)"]), ["lonely"]);
    assert_eq!(names(&["-l", "app"]).len(), 2);
    assert_eq!(names(&["-l", "!app"]), ["lonely"]);
    assert_eq!(names(&["-l", "tier!=batch"]).len(), 2);
    assert_eq!(
        names(&["--field-selector", "spec.nodeName=node-b"]).len(),
        2
    );
    assert_eq!(
        names(&["--field-selector", "metadata.name=lonely"]),
        ["lonely"]
    );
}

#[test]
fn kubectl_cordon_and_uncordon_change_the_node_idempotently() {
    let fake = fake_with_nodes(&["node-a"]);
    let kubectl = Kubectl::new(&fake);

    assert!(kubectl
        .ok(&["cordon", "node-a"])
        .stdout
        .contains("cordoned"));
    assert!(unschedulable(&fake, "node-a"));
    let patches_before = fake
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    let again = kubectl.ok(&["cordon", "node-a"]);
    assert!(again.stdout.contains("already cordoned"), "{again:?}");
    let patches_after = fake
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(
        patches_before, patches_after,
        "an idempotent cordon sends no patch"
    );
    assert!(unschedulable(&fake, "node-a"));

    assert!(kubectl
        .ok(&["uncordon", "node-a"])
        .stdout
        .contains("uncordoned"));
    assert!(!unschedulable(&fake, "node-a"));
    let patch = fake
        .requests()
        .into_iter()
        .rfind(|r| r.method == "PATCH")
        .expect("a patch");
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );
}

#[test]
fn kubectl_label_annotate_and_patch_use_each_patch_type() {
    let fake = fake_with_nodes(&["node-a"]);
    let kubectl = Kubectl::new(&fake);
    kubectl.ok(&["label", "node", "node-a", "drill=yes"]);
    kubectl.ok(&["annotate", "node", "node-a", "drill/note=hello"]);
    kubectl.ok(&[
        "patch",
        "node",
        "node-a",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"merge":"1"}}}"#,
    ]);
    let json_patch = r#"[{"op":"add","path":"/metadata/labels/json","value":"2"},{"op":"remove","path":"/metadata/labels/drill"}]"#;
    kubectl.ok(&["patch", "node", "node-a", "--type=json", "-p", json_patch]);

    let node = fake.node("node-a").expect("node");
    let labels = node.metadata.labels.expect("labels");
    assert_eq!(labels.get("merge").map(String::as_str), Some("1"));
    assert_eq!(labels.get("json").map(String::as_str), Some("2"));
    assert!(!labels.contains_key("drill"));
    let annotations = node.metadata.annotations.expect("annotations");
    assert_eq!(
        annotations.get("drill/note").map(String::as_str),
        Some("hello")
    );
    let types: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .filter_map(|r| r.content_type)
        .collect();
    for expected in [
        "application/merge-patch+json",
        "application/json-patch+json",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "{expected} not in {types:?}"
        );
    }
}

fn ready_replicas(fake: &FakeKube, name: &str) -> i32 {
    let deployment: Deployment = fake.get("default", name).expect("deployment");
    deployment
        .status
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

#[test]
fn kubectl_drain_evicts_through_the_budget_and_controllers_replace_pods() {
    let fake = FakeKube::start_sync();
    scenarios::seed_drain_scenario(&fake);
    let cache_uid = fake.pod("default", "cache-0").and_then(|p| p.metadata.uid);
    let kubectl = Kubectl::new(&fake);

    let drain = [
        "drain",
        "node-a",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--force",
        "--timeout=60s",
    ];
    let run = kubectl.ok(&drain);

    assert!(unschedulable(&fake, "node-a"));
    let mut left: Vec<String> = fake
        .pods_on_node("node-a")
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    left.retain(|name| !name.starts_with("logs-"));
    assert_eq!(
        left,
        ["etcd-node-a"],
        "only the DaemonSet and mirror pods stay"
    );
    assert_eq!(fake.pods_on_node("node-a").len(), 2);
    assert!(fake.pod("default", "lonely").is_none());

    let evictions = fake.evictions();
    let refused = evictions
        .iter()
        .filter(|e| e.pod == "web-on-a" && e.code == 429)
        .count();
    assert!(
        refused >= 1,
        "the budget refused web-on-a first: {evictions:?}\n{}",
        run.stderr
    );
    assert!(evictions
        .iter()
        .any(|e| e.pod == "web-on-a" && e.code == 201));
    assert!(evictions
        .iter()
        .all(|e| e.delete_options_present && e.misplaced_grace_keys.is_empty()));
    assert!(evictions
        .iter()
        .all(|e| !e.pod.starts_with("logs-") && e.pod != "etcd-node-a"));
    assert!(run.stderr.contains("disruption budget"), "{}", run.stderr);

    let replaced = poll_until(Duration::from_secs(10), || {
        let web = fake.pods().into_iter().filter(|p| {
            p.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("web-"))
        });
        web.filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some("node-a"))
            .count()
            == 3
            && ready_replicas(&fake, "web") == 3
    });
    assert!(
        replaced,
        "web is back to 3 ready pods off node-a: {:?}",
        fake.end_state()
    );
    assert_eq!(
        fake.end_state().pods_by_node["node-a"],
        ["DaemonSet/logs", "Node/node-a"]
    );
    let cache = fake
        .pod("default", "cache-0")
        .expect("StatefulSet pod recreated under its name");
    assert_ne!(cache.metadata.uid, cache_uid);
    assert_ne!(
        cache.spec.and_then(|s| s.node_name).as_deref(),
        Some("node-a")
    );
}

#[test]
fn kubectl_drain_without_force_refuses_unmanaged_pods() {
    let fake = fake_with_nodes(&["node-a", "node-b"]);
    fake.add_pod(PodSeed::new("default", "lonely", "node-a"));
    let kubectl = Kubectl::new(&fake);

    let run = kubectl.run(&["drain", "node-a", "--ignore-daemonsets", "--timeout=20s"]);
    assert!(!run.success, "{run:?}");
    assert!(
        run.stderr
            .contains("cannot delete Pods that declare no controller"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert!(fake.pod("default", "lonely").is_some());
    assert!(fake.evictions().is_empty());
}

/// With discovery cached by a first run, only the list request meets the hang, so kubectl
/// gives up after its 2 s request timeout. (Uncached, kubectl retries discovery five times,
/// ~10 s in all.)
#[test]
fn kubectl_times_out_against_a_hanging_server() {
    let fake = fake_with_nodes(&["node-a"]);
    let kubectl = Kubectl::new(&fake);
    kubectl.ok(&["get", "nodes"]);
    fake.set_hang(true);
    let run = kubectl.run(&["get", "nodes", "--request-timeout=2s"]);
    assert!(!run.success, "{run:?}");
    assert!(run.elapsed >= Duration::from_secs(2), "{run:?}");
    assert!(run.elapsed < Duration::from_secs(5), "{run:?}");
    let unanswered = fake.requests().into_iter().filter(|r| r.status.is_none());
    assert!(
        unanswered.map(|r| r.path).any(|p| p == "/api/v1/nodes"),
        "the list was read, never answered"
    );
}

/// client-go sends credentials only over TLS (kubernetes/kubectl#744), so the fake, which
/// speaks plain HTTP, never sees kubectl's token.
#[test]
fn kubectl_withholds_the_kubeconfig_token_over_plain_http() {
    let fake = fake_with_nodes(&["node-a"]);
    Kubectl::with_token(&fake, "s3cret-token").ok(&["get", "nodes"]);
    assert!(!fake.requests().is_empty());
    assert!(fake.requests().iter().all(|r| !r.authorization_present));
}

#[test]
fn kubectl_fails_during_outages_and_recovers_after() {
    let fake = fake_with_nodes(&["node-a"]);
    let kubectl = Kubectl::new(&fake);
    for outage in [Outage::ServiceUnavailable, Outage::RefuseConnections] {
        fake.set_outage(Some(outage));
        let run = kubectl.run(&["get", "nodes"]);
        assert!(!run.success, "{outage:?}: {run:?}");
        fake.set_outage(None);
        assert!(
            kubectl.ok(&["get", "nodes"]).stdout.contains("node-a"),
            "{outage:?}"
        );
    }
    assert!(fake.requests().iter().any(|r| r.status == Some(503)));
}

#[test]
fn kubectl_waits_out_the_configured_latency() {
    let fake = fake_with_nodes(&["node-a"]);
    let kubectl = Kubectl::new(&fake);
    kubectl.ok(&["get", "nodes"]);
    fake.set_latency(Duration::from_millis(400));
    let run = kubectl.ok(&["get", "nodes"]);
    assert!(run.elapsed >= Duration::from_millis(400), "{run:?}");
}

#[test]
fn kubectl_reads_workload_statuses_budgets_and_leases() {
    let fake = web_on_a_and_b();
    fake.add_pdb(
        PdbSeed::max_unavailable("default", "web", IntOrString::Int(1)).selector("app", "web"),
    );
    fake.add_lease(LeaseSeed::new("kube-system", "kube-scheduler", "cp-1_abc"));
    let kubectl = Kubectl::new(&fake);
    let jsonpath = |args: &[&str], path: &str| {
        let mut full = args.to_vec();
        let output = format!("jsonpath={path}");
        full.extend(["-o", output.as_str()]);
        kubectl.ok(&full).stdout
    };
    let deployment = ["get", "deployment", "web", "-n", "default"];
    assert_eq!(jsonpath(&deployment, "{.status.readyReplicas}"), "2");
    let pdb = ["get", "pdb", "web", "-n", "default"];
    assert_eq!(
        jsonpath(&pdb, "{.status.disruptionsAllowed}/{.status.expectedPods}"),
        "1/2"
    );
    let lease = ["get", "lease", "kube-scheduler", "-n", "kube-system"];
    assert_eq!(jsonpath(&lease, "{.spec.holderIdentity}"), "cp-1_abc");

    fake.set_pod_ready(
        "default",
        fake.pods()[0].metadata.name.as_deref().expect("name"),
        false,
    );
    assert_eq!(jsonpath(&deployment, "{.status.readyReplicas}"), "1");
    assert_eq!(jsonpath(&pdb, "{.status.disruptionsAllowed}"), "0");
    fake.set_lease_holder("kube-system", "kube-scheduler", "cp-2_def");
    assert_eq!(
        jsonpath(&lease, "{.spec.holderIdentity}/{.spec.leaseTransitions}"),
        "cp-2_def/1"
    );
}

#[test]
fn kubectl_reports_the_fakes_status_errors() {
    let fake = fake_with_nodes(&["node-a"]);
    let kubectl = Kubectl::new(&fake);
    let missing = kubectl.run(&["get", "pod", "ghost", "-n", "default"]);
    assert!(!missing.success);
    assert!(
        missing
            .stderr
            .contains(r#"Error from server (NotFound): pods "ghost" not found"#),
        "{missing:?}"
    );
    let unknown = kubectl.run(&["get", "--raw", "/apis/nope/v1/things"]);
    assert!(!unknown.success);
    assert!(
        unknown
            .stderr
            .contains("the server could not find the requested resource"),
        "{unknown:?}"
    );
    let deployment = kubectl.run(&["get", "deployment", "ghost", "-n", "default"]);
    assert!(
        deployment
            .stderr
            .contains(r#"deployments.apps "ghost" not found"#),
        "{deployment:?}"
    );
}

/// With a deletion cap, a pod deleted with a grace period lingers terminating, then goes;
/// kubectl's grace periods reach the fake through DeleteOptions and Eviction bodies.
#[test]
fn kubectl_delete_and_drain_carry_grace_periods() {
    let fake = fake_with_nodes(&["node-a", "node-b"]);
    fake.set_timing(ControllerTiming {
        deletion_grace_cap: Duration::from_secs(1),
        ..ControllerTiming::default()
    });
    fake.add_workload_with_pods(
        &WorkloadSeed::statefulset("default", "db", 2),
        &["node-a", "node-b"],
    );
    let kubectl = Kubectl::new(&fake);

    kubectl.ok(&[
        "delete",
        "pod",
        "db-1",
        "-n",
        "default",
        "--grace-period=5",
        "--wait=false",
    ]);
    let deletion = fake.deletions().pop().expect("a deletion");
    assert_eq!(
        (deletion.pod.as_str(), deletion.grace_period_seconds()),
        ("db-1", Some(5))
    );
    let lingering = fake.pod("default", "db-1").expect("still terminating");
    assert!(lingering.metadata.deletion_timestamp.is_some());
    let replaced = poll_until(Duration::from_secs(5), || {
        let uid = fake.pod("default", "db-1").and_then(|p| p.metadata.uid);
        uid.is_some() && uid != lingering.metadata.uid
    });
    assert!(
        replaced,
        "db-1 went away and its StatefulSet made a new one"
    );

    kubectl.ok(&["drain", "node-a", "--grace-period=3", "--timeout=30s"]);
    let eviction = fake.evictions().pop().expect("an eviction");
    assert_eq!(
        (eviction.pod.as_str(), eviction.grace_period_seconds),
        ("db-0", Some(3))
    );
}
