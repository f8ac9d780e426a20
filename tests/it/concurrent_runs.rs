//! `max-unavailable` across runs (issue 10 item 9): while one run holds the kubelet of n1
//! down, a second run on the same inventory that would stop n0's (max-unavailable 1) is
//! refused with exit 2, names the first run, and injects nothing; once the first run is
//! over, the same scenario runs. A first run killed with SIGKILL still counts (its fault is
//! still in place) until `kubedrill recover` has reverted it.

use std::time::Duration;

use crate::common::{kubedrill, only_report, only_run_dir, temp_dir, write};
use crate::lab_fixture::{LabFixture, LabKey};
use crate::run_binary::{run_to_end, Exit, SpawnedRun, INJECTED};

fn healthz(lab: &LabFixture, node: &str) -> String {
    lab.node(node).services["kubelet"].endpoints["healthz"].clone()
}

fn healthy(url: &str) -> bool {
    std::process::Command::new("curl")
        .args(["-sf", "--max-time", "1", url])
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout == b"ok")
}

fn stop_kubelet(lab: &LabFixture, name: &str, node: &str, hold: &str) -> String {
    format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: {name} }}
target: {{ inventory: "{inventory}" }}
probes:
  - name: {node}
    interval: 200ms
    timeout: 500ms
    http: {{ url: "{url}" }}
steps:
  - wait: 200ms
  - fault:
      stop-kubelet: {{ nodes: [{node}], max-unavailable: 1, timeout: 15s }}
    for: {hold}
"#,
        inventory = lab.lab.inventory_file.display(),
        url = healthz(lab, node),
    )
}

#[test]
fn a_second_run_is_refused_while_another_holds_a_node_of_the_same_inventory() {
    let lab = LabFixture::shared(LabKey::Kubelet);
    let dir = temp_dir();
    let a_file = write(
        dir.path(),
        "a.yaml",
        &stop_kubelet(&lab, "run-a", "n1", "60s"),
    );
    let a_reports = dir.path().join("a");
    let a = SpawnedRun::start(&a_file, &a_reports, &[]);
    a.wait_for_journal(
        Duration::from_secs(30),
        "run A to stop the kubelet on n1",
        INJECTED,
    );
    let a_dir = only_run_dir(&a_reports);

    let b_file = write(
        dir.path(),
        "b.yaml",
        &stop_kubelet(&lab, "run-b", "n0", "2s"),
    );
    let b_reports = dir.path().join("b");
    let b = run_to_end(&b_file, &b_reports);
    b.assert_code(2);
    let b_report = only_report(&b_reports);
    let reason = b_report["reason"].as_str().unwrap();
    assert!(
        reason.contains("max-unavailable is 1")
            && reason.contains(&a_dir.display().to_string())
            && reason.contains(&format!("pid {}", a.pid())),
        "B names run A: {reason}"
    );
    let printed = format!("{}{}", b.stdout, b.stderr);
    assert!(
        printed.contains(&a_dir.display().to_string()),
        "B prints the other run's directory: {printed}"
    );
    // Nothing of B was injected: no injection in its journal, n0 never stopped.
    let b_journal =
        std::fs::read_to_string(only_run_dir(&b_reports).join("journal.jsonl")).unwrap();
    assert!(
        !b_journal.contains("\"entry\":\"injecting\"")
            && !b_journal.contains("\"entry\":\"registered\""),
        "{b_journal}"
    );
    assert_eq!(
        b_report["probes"][0]["measurements"]["failed_samples"], 0,
        "n0 was never down"
    );
    assert!(healthy(&healthz(&lab, "n0")));
    assert!(!healthy(&healthz(&lab, "n1")), "A still holds n1 down");

    a.sigint();
    a.finish().assert_code(3);
    assert!(healthy(&healthz(&lab, "n1")));
    // A is over: the same scenario B now runs (A's hold was released, not left behind).
    let again_reports = dir.path().join("b-again");
    run_to_end(&b_file, &again_reports).assert_code(0);
}

#[test]
fn a_killed_run_counts_until_recover_has_reverted_it() {
    let lab = LabFixture::shared(LabKey::Kubelet);
    let dir = temp_dir();
    let a_file = write(
        dir.path(),
        "a.yaml",
        &stop_kubelet(&lab, "run-a", "n1", "60s"),
    );
    let a_reports = dir.path().join("a");
    let a = SpawnedRun::start_unread(&a_file, &a_reports, &[]);
    a.wait_for_journal(
        Duration::from_secs(30),
        "run A to stop the kubelet on n1",
        INJECTED,
    );
    let a_dir = only_run_dir(&a_reports);
    a.kill();
    assert!(
        !healthy(&healthz(&lab, "n1")),
        "the killed run left n1 down"
    );

    let b_file = write(
        dir.path(),
        "b.yaml",
        &stop_kubelet(&lab, "run-b", "n0", "1s"),
    );
    let b_reports = dir.path().join("b");
    run_to_end(&b_file, &b_reports).assert_code(2);
    let reason = only_report(&b_reports)["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("left down by a kubedrill run that is gone")
            && reason.contains(&format!("kubedrill recover {}", a_dir.display())),
        "{reason}"
    );
    assert!(healthy(&healthz(&lab, "n0")), "B did not touch n0");

    Exit::of(kubedrill().arg("recover").arg(&a_dir)).assert_code(0);
    assert!(healthy(&healthz(&lab, "n1")));
    run_to_end(&b_file, &dir.path().join("b-again")).assert_code(0);
}
