//! stop-kubelet over SSH against the lab, end to end through the binary: the healthz probe
//! sees the outage, the numbers match the fault window, the stand-in runs again after the
//! run, and Ctrl-C mid-fault restarts it.

use std::time::Duration;

use crate::common::{ms, only_report, temp_dir, write};
use crate::lab_fixture::{LabFixture, LabKey};
use crate::run_binary::{run_to_end, SpawnedRun, INJECTED};

fn healthz_url(lab: &LabFixture, node: &str) -> String {
    lab.node(node).services["kubelet"].endpoints["healthz"].clone()
}

fn healthy(url: &str) -> bool {
    std::process::Command::new("curl")
        .args(["-sf", "--max-time", "1", url])
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout == b"ok")
}

fn scenario(lab: &LabFixture, hold: &str) -> String {
    format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: kubelet-stop }}
target: {{ inventory: "{inventory}" }}
settings: {{ stable-window: 600ms }}
probes:
  - name: n1
    interval: 200ms
    timeout: 500ms
    http: {{ url: "{n1}" }}
  - name: n0
    interval: 200ms
    timeout: 500ms
    http: {{ url: "{n0}" }}
steps:
  - wait: 1s
  - fault:
      stop-kubelet: {{ nodes: [n1], timeout: 15s }}
    for: {hold}
  - wait-until: {{ stable-for: 600ms, timeout: 30s }}
expect:
  - {{ probe: n1, recovery: "<= 5s", max-outage: "<= 20s" }}
  - {{ probe: n0, availability: ">= 99%" }}
"#,
        inventory = lab.lab.inventory_file.display(),
        n1 = healthz_url(lab, "n1"),
        n0 = healthz_url(lab, "n0"),
    )
}

#[test]
fn stop_kubelet_over_ssh_is_measured_and_the_standin_runs_again() {
    let lab = LabFixture::shared(LabKey::Kubelet);
    let dir = temp_dir();
    let file = write(dir.path(), "s.yaml", &scenario(&lab, "2s"));
    let reports = dir.path().join("reports");
    run_to_end(&file, &reports).assert_code(0);
    assert!(
        healthy(&healthz_url(&lab, "n1")),
        "the stand-in on n1 answers again"
    );

    let r = only_report(&reports);
    let fault = &r["faults"][0];
    assert_eq!(fault["kind"], "stop-kubelet");
    let (injected, healed) = (ms(&fault["injected_at_ms"]), ms(&fault["reverted_at_ms"]));
    let probe = |name: &str| {
        r["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no probe {name}"))
    };
    let n1 = probe("n1");
    let outages = n1["measurements"]["outages"].as_array().unwrap();
    assert_eq!(outages.len(), 1, "{outages:?}");
    let (start, end) = (ms(&outages[0]["start_ms"]), ms(&outages[0]["end_ms"]));
    // The stand-in dies during the injection (SSH stop + verify) and answers again after the
    // start the revert issued; one probe interval of slack on either side.
    assert!(
        start >= injected - 200.0 && start <= healed,
        "outage starts inside the fault: {injected} ≤ {start} ≤ {healed}"
    );
    assert!(
        end >= healed - 200.0,
        "outage ends after the heal began: {end} vs {healed}"
    );
    assert!(
        end - start >= 2000.0 - 200.0,
        "the outage covers the 2s hold: {start} → {end}"
    );
    let recovery = ms(&n1["measurements"]["recovery"]["after_ms"]);
    assert!(
        (recovery - (end - healed).max(0.0)).abs() <= 250.0,
        "recovery {recovery} ≈ end {end} − heal {healed}"
    );
    let n0 = probe("n0");
    assert_eq!(
        n0["measurements"]["failed_samples"], 0,
        "n0 was never touched"
    );
    let details = fault["details"]["nodes"][0]["node"].as_str();
    assert_eq!(details, Some("n1"));
    assert_eq!(
        fault["details"]["nodes"][0]["stop"]["exit_code"], 0,
        "the stop command's result is reported"
    );
    let revert = &r["reverts"][0];
    assert_eq!(revert["outcome"], "reverted");
    assert_eq!(
        revert["details"]["command"]["exit_code"], 0,
        "the start command's result is reported: {revert}"
    );
    assert_eq!(
        revert["details"]["verify"]["exit_code"], 0,
        "the verification's result is reported: {revert}"
    );
    assert!(revert["details"]["command"]["duration"].as_f64().is_some());
    let planned = &r["plan"][1];
    assert!(
        planned["resolved"].as_str().unwrap().contains("on n1"),
        "resolved plan: {planned}"
    );
    assert!(
        planned["reverts"][0]
            .as_str()
            .unwrap()
            .contains("on node n1"),
        "resolved plan: {planned}"
    );
}

#[test]
fn sigint_mid_stop_kubelet_restarts_it_and_exits_3() {
    let lab = LabFixture::shared(LabKey::Kubelet);
    let dir = temp_dir();
    let file = write(dir.path(), "s.yaml", &scenario(&lab, "60s"));
    let reports = dir.path().join("reports");
    let run = SpawnedRun::start(&file, &reports, &[]);
    let url = healthz_url(&lab, "n1");
    run.wait_for_journal(
        Duration::from_secs(30),
        "the kubelet on n1 to be stopped by the fault",
        INJECTED,
    );
    assert!(!healthy(&url), "stopped mid-fault");
    run.sigint();
    run.finish().assert_code(3);
    assert!(healthy(&url), "Ctrl-C restarted the kubelet stand-in");
    let r = only_report(&reports);
    assert_eq!(r["verdict"], "aborted");
    assert_eq!(r["reverts"][0]["outcome"], "reverted");
}
