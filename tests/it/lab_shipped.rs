//! The shipped lab scenarios that only CI's drill script ran before: each runs as shipped,
//! through the binary, with the lab's `vars.yaml` passed as `--vars`. Both stop services,
//! so they take turns on one lab.

use std::path::Path;

use crate::common::{only_report, temp_dir};
use crate::drill_lab::{shipped, DrillLab};
use crate::lab_fixture::{LabFixture, LabKey};
use crate::run_binary::{run_command, Exit};

static LAB: DrillLab = DrillLab::new(LabKey::Shipped);

/// `kubedrill run scenarios/REL --vars <lab>/vars.yaml`, to its end, off the runtime.
async fn run_shipped(rel: &str, lab: &'static LabFixture, reports: &Path) -> Exit {
    let file = shipped(rel);
    let reports = reports.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Exit::of(
            run_command(&file, &reports)
                .arg("--vars")
                .arg(&lab.lab.vars_file),
        )
    })
    .await
    .unwrap()
}

/// The number of outages each probe of `report` measured, by name.
fn outages(report: &serde_json::Value) -> std::collections::BTreeMap<String, usize> {
    report["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let n = p["measurements"]["outages"]
                .as_array()
                .unwrap_or_else(|| panic!("outages of {}: {p}", p["name"]))
                .len();
            (p["name"].as_str().unwrap().to_string(), n)
        })
        .collect()
}

/// Whether `service` answers on `node`, as `lab status` sees it.
async fn runs(lab: &LabFixture, node: &str, service: &str) -> Result<(), String> {
    let status = kubedrill::lab::status(&lab.cfg).await.expect("lab status");
    let n = status
        .nodes
        .iter()
        .find(|n| n.name == node)
        .unwrap_or_else(|| panic!("no node {node} in {status:?}"));
    n.services[service].clone()
}

fn assert_outages(report: &serde_json::Value, touched: &[&str], untouched: &[&str]) {
    let seen = outages(report);
    for p in touched {
        assert_eq!(seen[*p], 1, "one outage on {p}: {seen:?}");
    }
    for p in untouched {
        assert_eq!(seen[*p], 0, "no outage on {p}: {seen:?}");
    }
    assert_eq!(
        seen.len(),
        touched.len() + untouched.len(),
        "every probe checked: {seen:?}"
    );
}

#[tokio::test]
async fn shipped_kubelet_stop_over_ssh_passes_and_the_kubelet_runs_again() {
    let (_turn, lab) = LAB.turn().await;
    let dir = temp_dir();
    let reports = dir.path().join("reports");
    run_shipped("lab/kubelet-stop-over-ssh.yaml", lab, &reports)
        .await
        .assert_code(0);
    let r = only_report(&reports);
    assert_eq!(r["verdict"], "pass", "{}", r["reason"]);
    assert_eq!(r["faults"][0]["kind"], "stop-kubelet");
    assert_outages(&r, &["kubelet-n1", "n1-ssh-healthz"], &["kubelet-n0"]);
    assert_eq!(r["reverts"][0]["outcome"], "reverted", "{}", r["reverts"]);
    for node in ["n0", "n1"] {
        runs(lab, node, "kubelet")
            .await
            .unwrap_or_else(|e| panic!("the kubelet on {node} runs: {e}"));
    }
}

#[tokio::test]
async fn shipped_dns_server_loss_passes_and_the_servers_run_again() {
    let (_turn, lab) = LAB.turn().await;
    let dir = temp_dir();
    let reports = dir.path().join("reports");
    run_shipped("lab/dns-server-loss.yaml", lab, &reports)
        .await
        .assert_code(0);
    let r = only_report(&reports);
    assert_eq!(r["verdict"], "pass", "{}", r["reason"]);
    assert_eq!(r["faults"][0]["kind"], "stop-service");
    assert_outages(&r, &["dns-n0", "dns-n1"], &["dns-n2"]);
    let reverts = r["reverts"].as_array().unwrap();
    assert!(
        !reverts.is_empty() && reverts.iter().all(|v| v["outcome"] == "reverted"),
        "{reverts:?}"
    );
    for node in ["n0", "n1", "n2"] {
        runs(lab, node, "dns")
            .await
            .unwrap_or_else(|e| panic!("dnsmasq on {node} runs: {e}"));
    }
}
