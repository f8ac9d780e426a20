//! Shipped Kubernetes scenarios against the real HA control plane of `lab up --kubernetes`,
//! unchanged, with only the lab's `vars.yaml`: each must exit 0. The whole set (every file
//! in scenarios/kind/ that the lab can run and scenarios/lab-k8s/) takes about 9 minutes
//! and runs from scripts/drill.sh (README command 1, which CI runs after this suite), where
//! each drill's own expectations judge it. This test runs the two whose outcome needs more
//! than their expectations can state, on one lab of its own (nextest group `kubernetes-lab`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The drain against the PodDisruptionBudget (a real 429 is required, and every evicted
/// pod gets a Ready replacement), and the stopped controller-manager that held the Lease
/// (a new holder must be seen). The drain comes first, while the fixture's six replicas
/// are two per worker.
const SUBSET: &[&str] = &[
    "scenarios/kind/drain-with-pdb.yaml",
    "scenarios/ha/51-best-practices-leader-failover.yaml",
];

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs one scenario with the lab's vars; (exit code, output, report.json).
fn run(scenario: &str, vars: &Path, reports: &Path) -> (i32, String, Option<serde_json::Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubedrill"))
        .arg("run")
        .arg("--vars")
        .arg(vars)
        .arg("--report-dir")
        .arg(reports)
        .arg("-q")
        .arg(repo_file(scenario))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("kubedrill runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_dir(reports)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("report.json"))
        .filter(|p| p.is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .and_then(|p| serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok());
    (out.status.code().unwrap_or(-1), text, report)
}

/// The 429 refusals the drain retried, over every pod of every drained node.
fn drain_retries(report: &serde_json::Value) -> u64 {
    let mut retries = 0;
    for fault in report["faults"].as_array().into_iter().flatten() {
        for node in fault["details"]["nodes"].as_array().into_iter().flatten() {
            for pod in node["pods"].as_array().into_iter().flatten() {
                retries += pod["retries"].as_u64().unwrap_or(0);
            }
        }
    }
    retries
}

#[test]
fn lab_k8s_shipped_scenarios_pass_against_the_real_control_plane() {
    // Its own lab, not the run's shared one: it stops apiservers, partitions etcd and
    // drains the workers the other tests' shared lab keeps whole.
    let lab = crate::lab_kubernetes::KubeLab::up(0);
    let vars = lab.lab.vars_file.clone();
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut timings = Vec::new();
    for scenario in SUBSET {
        let reports = tmp.path().join(Path::new(scenario).file_stem().unwrap());
        let started = Instant::now();
        let (code, text, report) = run(scenario, &vars, &reports);
        timings.push(format!(
            "{scenario}: exit {code} in {:.0?}",
            started.elapsed()
        ));
        if code != 0 {
            failures.push(format!("{scenario}: exit {code}\n{text}"));
            continue;
        }
        let report = report.expect("report.json");
        if scenario.ends_with("drain-with-pdb.yaml") {
            // Every evicted web pod was replaced by the ReplicaSet and seen Ready.
            let details = &report["faults"][0]["details"];
            let pods: Vec<&serde_json::Value> = details["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|n| n["pods"].as_array().into_iter().flatten())
                .collect();
            if pods.is_empty() || pods.iter().any(|p| !p["replacement"]["node"].is_string()) {
                failures.push(format!(
                    "{scenario}: a web pod without a Ready replacement: {details}"
                ));
            }
            // The budget's 429: the second eviction is refused until the first one's
            // replacement is Ready, which kwok delays by the fixture's
            // pod-ready.stage.kwok.x-k8s.io/delay (2s), past the apiserver's 500 ms retry.
            let retries = drain_retries(&report);
            eprintln!("{scenario}: {retries} eviction(s) refused with 429 and retried");
            if retries < 1 {
                failures.push(format!(
                    "{scenario}: no eviction was refused with 429: {details}"
                ));
            }
        }
        if scenario.ends_with("51-best-practices-leader-failover.yaml") {
            let holders: std::collections::BTreeSet<String> = report["probes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["name"] == "controller-manager-leader")
                .flat_map(|p| p["samples"].as_array().cloned().unwrap_or_default())
                .filter_map(|s| s["detail"]["holder"].as_str().map(str::to_string))
                .collect();
            if holders.len() < 2 {
                failures.push(format!(
                    "{scenario}: the lease probe saw no new holder: {holders:?}"
                ));
            }
        }
    }
    eprintln!("{}", timings.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
