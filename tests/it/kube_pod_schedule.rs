//! The `pod-schedule` probe on the lab's real control plane: every sample's pod goes
//! through the real API, etcd, scheduler and a kwok "kubelet" and is deleted after; a pod
//! that cannot be scheduled fails the sample; a killed run's pods are removed by `recover`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::kube_fixture::{scenario_head, Target};
use crate::run_binary::{Exit, SpawnedRun};
use crate::support::kube_lab::OwnNodes;
use crate::support::poll_until;

/// Pods the probe made in the test's namespace (any run).
fn probe_pods(own: &OwnNodes) -> Vec<String> {
    own.kubectl(&[
        "get",
        "pods",
        "-l",
        "kubedrill.io/probe=pod-schedule",
        "-o",
        "name",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

fn probe_yaml(
    own: &OwnNodes,
    selector: &str,
    until: &str,
    interval: &str,
    timeout: &str,
) -> String {
    format!(
        "  - name: schedule\n    interval: {interval}\n    timeout: {timeout}\n    pod-schedule:\n      namespace: {ns}\n      until: {until}\n      node-selector: {{ kubedrill.io/owner: {selector} }}\n      tolerations: [{{ key: kubedrill.io/owner, operator: Exists }}]\n",
        ns = own.id
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn pod_schedule_samples_the_write_path_and_leaves_no_pod() {
    let own = tokio::task::spawn_blocking(|| OwnNodes::new("pod-schedule", 2))
        .await
        .unwrap();
    let t = Target::lab(&own);
    let yaml = format!(
        "{}probes:\n{}steps:\n  - wait: 4s\n",
        scenario_head("pod-schedule"),
        probe_yaml(&own, &own.id, "ready", "1s", "10s"),
    );
    let out = t.run(&yaml, &[]).await;
    let probe = &out.report.probes[0];
    let samples: Vec<&serde_json::Value> = probe
        .samples
        .iter()
        .filter_map(|s| s.detail.as_ref())
        .collect();
    assert!(samples.len() >= 3, "samples: {:?}", probe.samples);
    assert_eq!(probe.measurements.outages.len(), 0, "{:?}", probe.samples);
    let mut names = std::collections::BTreeSet::new();
    for d in &samples {
        // Bound by the real scheduler to one of the test's nodes, then Ready.
        let node = d["node"].as_str().unwrap();
        assert!(own.nodes.iter().any(|n| n == node), "{d}");
        assert!(
            d["scheduled_ms"].as_u64().unwrap() <= d["ready_ms"].as_u64().unwrap(),
            "{d}"
        );
        assert!(
            names.insert(d["pod"].as_str().unwrap().to_string()),
            "a new pod each sample: {d}"
        );
    }
    // Each sample deleted its pod; the final rollback deletes what is left.
    let gone = poll_until(Duration::from_secs(30), || probe_pods(&own).is_empty());
    assert!(gone, "pods left: {:?}", probe_pods(&own));
    assert!(
        out.report
            .reverts
            .iter()
            .any(|r| r.description.contains("delete the pods") && r.outcome == "reverted"),
        "the cleanup ran as a revert: {:?}",
        out.report.reverts
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pod_schedule_fails_a_pod_nothing_can_schedule() {
    let own = tokio::task::spawn_blocking(|| OwnNodes::new("pod-unschedulable", 1))
        .await
        .unwrap();
    let t = Target::lab(&own);
    // No node carries this owner label: the scheduler can place no pod.
    let yaml = format!(
        "{}probes:\n{}steps:\n  - wait: 3s\n",
        scenario_head("pod-unschedulable"),
        probe_yaml(&own, "nobody", "scheduled", "1s", "2s"),
    );
    let out = t.run(&yaml, &[]).await;
    let probe = &out.report.probes[0];
    let errors: Vec<&str> = probe
        .samples
        .iter()
        .filter_map(|s| s.error.as_deref())
        .collect();
    assert!(!errors.is_empty(), "{:?}", probe.samples);
    assert!(
        errors
            .iter()
            .all(|e| e.contains("was not scheduled in time")),
        "{errors:?}"
    );
    let gone = poll_until(Duration::from_secs(30), || probe_pods(&own).is_empty());
    assert!(gone, "pods left: {:?}", probe_pods(&own));
}

fn run_dir_of(reports: &Path) -> PathBuf {
    std::fs::read_dir(reports)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("journal.jsonl").is_file())
        .expect("a run directory")
}

#[test]
fn recover_deletes_the_pods_of_a_killed_run() {
    let own = OwnNodes::new("pod-recover", 1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.yaml");
    let head = scenario_head("pod-recover").replace(
        "target: {",
        &format!(
            "target: {{ kubeconfig: {}, ",
            own.lab.kubeconfig().display()
        ),
    );
    assert!(head.contains("kubeconfig"), "{head}");
    // Pods that are never scheduled stay Pending until someone deletes them.
    std::fs::write(
        &file,
        format!(
            "{head}probes:\n{}steps:\n  - wait: 5m\n",
            probe_yaml(&own, "nobody", "scheduled", "300ms", "30s")
        ),
    )
    .unwrap();
    let reports = dir.path().join("reports");
    let run = SpawnedRun::start_unread(&file, &reports, &[]);
    run.wait_for_journal(
        Duration::from_secs(60),
        "the cleanup journaled",
        "delete-pods",
    );
    assert!(
        poll_until(Duration::from_secs(60), || probe_pods(&own).len() >= 2),
        "the probe created pods"
    );
    run.kill();
    assert!(!probe_pods(&own).is_empty(), "the killed run left its pods");
    let out = Exit::of(
        Command::new(env!("CARGO_BIN_EXE_kubedrill"))
            .arg("recover")
            .arg(run_dir_of(&reports)),
    );
    out.assert_code(0);
    let gone = poll_until(Duration::from_secs(30), || probe_pods(&own).is_empty());
    assert!(gone, "pods left after recover: {:?}", probe_pods(&own));
}
