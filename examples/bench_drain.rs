//! Figures and a ratio, not pass/fail: kubedrill's drain against `kubectl drain
//! --ignore-daemonsets --delete-emptydir-data` (the lab's built kubectl) on copies of the
//! same state in a Kubernetes lab of its own: one kwok worker per copy carrying
//! `KUBEDRILL_BENCH_PODS` pods (default 500) of Deployments with one replica each, each
//! with a PodDisruptionBudget (maxUnavailable 1), and one shared kwok worker taking the
//! replacements. Both drains cordon, evict every pod and wait until each is gone
//! (kubedrill with `replacement-timeout: 0s`, since kubectl does not follow replacements).
//! API requests are counted from every apiserver's `apiserver_request_total` before and
//! after each drain, restricted to what a drain asks (pods get/list/watch and evictions,
//! nodes get/list/patch, daemonsets get): controllers and kwok ask other things meanwhile.
//! Accepted evictions (201) equal to the pod count means no pod was evicted twice.
//! Run as root: `bash scripts/bench-drain.sh` (release build; the lab is brought up and
//! down here, beside any other lab).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubedrill::access::NodePool;
use kubedrill::cluster::{Cluster, ClusterSettings};
use kubedrill::engine::RunContext;
use kubedrill::faults::FaultSpec;
use kubedrill::lab::{self, LabConfig};

const COPIES: [&str; 2] = ["kd", "kc"];
const SINK: &str = "bench-sink";

struct Lab {
    vars: BTreeMap<String, String>,
}

impl Lab {
    fn var(&self, k: &str) -> &str {
        &self.vars[k]
    }

    fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(format!("{}/kubectl", self.var("kube_bin_dir")));
        c.arg(format!("--kubeconfig={}", self.var("kubeconfig")))
            .arg("--context=kubedrill-lab")
            .arg(format!("--cache-dir={}/kubectl-cache", self.var("lab_dir")))
            .args(args);
        c
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let out = self.kubectl_cmd(args).output().expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn apply(&self, yaml: &str) {
        let mut child = self
            .kubectl_cmd(&["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("kubectl apply");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(yaml.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "kubectl apply");
    }

    fn kwok(&self, node: &str) -> Child {
        let bin = self.var("kube_bin_dir");
        Command::new(format!("{bin}/kwok"))
            .arg(format!("--kubeconfig={}", self.var("kubeconfig")))
            .arg(format!("--config={}/kwok-stages.yaml", self.var("lab_dir")))
            .arg(format!("--manage-single-node={node}"))
            .arg("--node-lease-duration-seconds=40")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kwok starts")
    }

    /// `apiserver_request_total` summed over every apiserver, by
    /// (verb, resource, subresource, code), for the request kinds a drain makes.
    fn requests(&self) -> BTreeMap<(String, String, String, String), f64> {
        let mut all = BTreeMap::new();
        for server in self.var("apiserver_endpoints").split(',') {
            let text = self.kubectl(&["--server", server, "get", "--raw", "/metrics"]);
            for line in text.lines() {
                let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                    continue;
                };
                let Some((labels, value)) = rest.rsplit_once("} ") else {
                    continue;
                };
                let label = |k: &str| {
                    labels
                        .split(',')
                        .find_map(|kv| kv.strip_prefix(&format!("{k}=\"")))
                        .map(|v| v.trim_end_matches('"').to_string())
                        .unwrap_or_default()
                };
                let key = (
                    label("verb"),
                    label("resource"),
                    label("subresource"),
                    label("code"),
                );
                if drain_request(&key.0, &key.1, &key.2) {
                    *all.entry(key).or_insert(0.0) += value.parse::<f64>().unwrap_or(0.0);
                }
            }
        }
        all
    }
}

/// What `kubectl drain` and kubedrill's drain ask the API server (controllers create,
/// bind, delete and update pods, and kwok patches node status: none of these).
fn drain_request(verb: &str, resource: &str, sub: &str) -> bool {
    match (resource, sub) {
        ("pods", "") => matches!(verb, "GET" | "LIST" | "WATCH"),
        ("pods", "eviction") => verb == "POST",
        ("nodes", "") => matches!(verb, "GET" | "LIST" | "PATCH"),
        ("daemonsets", "") => verb == "GET",
        _ => false,
    }
}

type Counts = BTreeMap<(String, String, String, String), f64>;

fn diff(after: &Counts, before: &Counts) -> Counts {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

fn total(c: &Counts) -> f64 {
    c.values().sum()
}

fn evictions(c: &Counts, code: &str) -> f64 {
    c.iter()
        .filter(|((verb, r, s, k), _)| {
            verb == "POST" && r == "pods" && s == "eviction" && k == code
        })
        .map(|(_, v)| v)
        .sum::<f64>()
        + 0.0
}

fn breakdown(c: &Counts) -> String {
    let mut by: BTreeMap<String, f64> = BTreeMap::new();
    for ((verb, r, s, code), v) in c {
        let res = if s.is_empty() {
            r.clone()
        } else {
            format!("{r}/{s}")
        };
        *by.entry(format!("{verb} {res} {code}")).or_insert(0.0) += v;
    }
    by.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The copy's Deployments (one replica each) and their budgets.
fn workload(copy: &str, pods: usize) -> String {
    let mut yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{ name: bench-{copy} }}\n");
    for i in 0..pods {
        yaml.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: d{i}, namespace: bench-{copy} }}\nspec:\n  replicas: 1\n  selector: {{ matchLabels: {{ app: d{i} }} }}\n  template:\n    metadata: {{ labels: {{ app: d{i} }} }}\n    spec:\n      nodeSelector: {{ kubedrill.io/bench: pool }}\n      tolerations: [{{ key: kubedrill.io/bench, operator: Exists, effect: NoSchedule }}]\n      containers: [{{ name: c, image: fake }}]\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{ name: d{i}, namespace: bench-{copy} }}\nspec:\n  maxUnavailable: 1\n  selector: {{ matchLabels: {{ app: d{i} }} }}\n"
        ));
    }
    yaml
}

fn node_yaml(name: &str) -> String {
    format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{ kubedrill.io/bench: pool, kubernetes.io/hostname: {name}, type: kwok }}\n  annotations: {{ kwok.x-k8s.io/node: fake }}\nspec:\n  taints: [{{ key: kubedrill.io/bench, value: pool, effect: NoSchedule }}]\n")
}

fn wait(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn count_ready(lab: &Lab, ns: &str, node: &str) -> usize {
    let field = format!("spec.nodeName={node}");
    lab.kubectl(&[
        "get",
        "pods",
        "-n",
        ns,
        "--field-selector",
        &field,
        "-o",
        r#"jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}"#,
    ])
    .split_whitespace()
    .filter(|s| *s == "True")
    .count()
}

fn budgets_ready(lab: &Lab, ns: &str, pods: usize) -> bool {
    lab.kubectl(&[
        "get",
        "pdb",
        "-n",
        ns,
        "-o",
        "jsonpath={range .items[*]}{.status.disruptionsAllowed}{\" \"}{end}",
    ])
    .split_whitespace()
    .filter(|s| *s == "1")
    .count()
        == pods
}

/// Holds `node` free of new pods (a taint the workloads do not tolerate) or frees it.
fn hold(lab: &Lab, node: &str, on: bool) {
    let taint = if on {
        "kubedrill.io/hold=bench:NoSchedule"
    } else {
        "kubedrill.io/hold-"
    };
    let _ = lab.kubectl_cmd(&["taint", "node", node, taint]).output();
}

fn main() {
    let pods: usize = std::env::var("KUBEDRILL_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let keep = std::env::var("KUBEDRILL_BENCH_KEEP").is_ok();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = LabConfig {
        dir: PathBuf::from("/var/lib/kubedrill/lab-k8s-bench"),
        name_prefix: "kdbench".into(),
        subnet: "10.214.231.0/24".into(),
        ..LabConfig::kubernetes_default()
    };
    println!("drain: kubedrill vs kubectl drain, {pods} pods (Deployments of 1 with a PDB each) on one kwok worker");
    let started = Instant::now();
    rt.block_on(lab::down(&cfg)).expect("clean up leftovers");
    rt.block_on(lab::up_kubernetes(&cfg))
        .expect("lab up --kubernetes");
    let text = std::fs::read_to_string(cfg.dir.join("vars.yaml")).expect("vars.yaml");
    let lab = Lab {
        vars: serde_yaml::from_str(&text).expect("vars.yaml"),
    };
    println!("  lab up in {:.0} s", started.elapsed().as_secs_f64());

    let sources: Vec<String> = COPIES.iter().map(|c| format!("bench-{c}-src")).collect();
    let mut nodes = String::new();
    for n in sources.iter().map(String::as_str).chain([SINK]) {
        nodes.push_str(&node_yaml(n));
        nodes.push_str("---\n");
    }
    lab.apply(&nodes);
    let mut kwoks: Vec<Child> = sources
        .iter()
        .map(String::as_str)
        .chain([SINK])
        .map(|n| lab.kwok(n))
        .collect();
    // Each copy's pods onto its own source: the other nodes held meanwhile.
    let setup = Instant::now();
    for (copy, src) in COPIES.iter().zip(&sources) {
        for n in sources.iter().map(String::as_str).chain([SINK]) {
            hold(&lab, n, n != src);
        }
        lab.apply(&workload(copy, pods));
        let ns = format!("bench-{copy}");
        wait("the pods Ready", Duration::from_secs(600), || {
            count_ready(&lab, &ns, src) == pods
        });
        wait("the budgets counted", Duration::from_secs(300), || {
            budgets_ready(&lab, &ns, pods)
        });
    }
    for s in &sources {
        hold(&lab, s, true);
    }
    hold(&lab, SINK, false);
    println!(
        "  state: {} copies of {pods} pods set up in {:.0} s",
        COPIES.len(),
        setup.elapsed().as_secs_f64()
    );

    // kubedrill: the library's drain, as a run's fault step does it.
    let ctx = Arc::new(RunContext {
        nodes: NodePool::new(Vec::new()),
        cluster: Cluster::new(ClusterSettings {
            kubeconfig: Some(PathBuf::from(lab.var("kubeconfig"))),
            context: Some("kubedrill-lab".into()),
            allowed: vec!["kubedrill-lab".into()],
            ..Default::default()
        }),
        run_dir: std::env::temp_dir(),
        revert_timeout: Duration::from_secs(30),
    });
    let spec: FaultSpec = serde_json::from_value(serde_json::json!({
        "drain": {
            "nodes": { "names": [sources[0]] },
            "delete-emptydir-data": true,
            "replacement-timeout": "0s",
            "timeout": "10m",
        }
    }))
    .expect("drain spec");
    let before = lab.requests();
    let t = Instant::now();
    let details = rt.block_on(async {
        let prepared = spec.prepare(ctx.clone()).await.expect("prepare");
        prepared.inject().await.expect("kubedrill drain")
    });
    let kd_s = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let kd = diff(&lab.requests(), &before);
    let node = &details["nodes"][0];
    let throttled = node["throttled"].as_u64().unwrap_or(0);
    let refusals = node["pdb_refusals"].as_u64().unwrap_or(0);
    let started: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(node["started_at"].clone()).expect("started_at");
    let last_accepted = node["pods"]
        .as_array()
        .expect("pods")
        .iter()
        .filter_map(|p| {
            serde_json::from_value::<chrono::DateTime<chrono::Utc>>(
                p["eviction_accepted_at"].clone(),
            )
            .ok()
        })
        .max()
        .expect("evictions");
    let accepted_s = (last_accepted - started).num_milliseconds() as f64 / 1000.0;
    let gone_s = node["drain_ms"].as_f64().unwrap_or(0.0) / 1000.0;

    // kubectl drain, the lab's build, on the other copy.
    let before = lab.requests();
    let t = Instant::now();
    let out = lab
        .kubectl_cmd(&[
            "drain",
            &sources[1],
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=600s",
        ])
        .output()
        .expect("kubectl drain");
    let kc_s = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "kubectl drain: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_secs(2));
    let kc = diff(&lab.requests(), &before);
    for s in &sources {
        assert_eq!(
            count_ready(&lab, "bench-kd", s) + count_ready(&lab, "bench-kc", s),
            0
        );
    }

    println!(
        "  kubedrill drain     {kd_s:7.2} s   {:6.0} requests   evictions accepted {:.0} of {pods}, PDB 429s {refusals}, APF 429s {throttled}",
        total(&kd),
        evictions(&kd, "201")
    );
    println!(
        "    last eviction accepted after {accepted_s:.2} s, last pod gone after {gone_s:.2} s"
    );
    println!("    {}", breakdown(&kd));
    println!(
        "  kubectl drain       {kc_s:7.2} s   {:6.0} requests   evictions accepted {:.0} of {pods}, 429s {:.0}",
        total(&kc),
        evictions(&kc, "201"),
        evictions(&kc, "429")
    );
    println!("    {}", breakdown(&kc));
    for (who, c) in [("kubedrill", &kd), ("kubectl", &kc)] {
        let accepted = evictions(c, "201");
        println!(
            "  {who}: {}",
            if accepted as usize == pods {
                "no pod evicted twice (one accepted eviction per pod)".to_string()
            } else {
                format!("{accepted} accepted evictions for {pods} pods")
            }
        );
    }
    println!(
        "  ratio kubedrill / kubectl: time {:.2} (goal <= 0.5), requests {:.2} (goal < 1)",
        kd_s / kc_s,
        total(&kd) / total(&kc)
    );

    for k in &mut kwoks {
        let _ = k.kill();
        let _ = k.wait();
    }
    if !keep {
        rt.block_on(lab::down(&cfg)).expect("lab down");
    }
}
