//! Recovery after an abort (issue 10 item 17): Ctrl-C mid-fault still reverts, and then
//! kubedrill keeps probing (up to `recovery-timeout`) so the report measures how the target
//! came back instead of "never"; a second Ctrl-C ends that watch early.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{free_port, ms, only_report, only_run_dir, temp_dir, wait_for, write};
use crate::lab_fixture::{LabFixture, LabKey};
use crate::run_binary::{SpawnedRun, INJECTED};

const REVERTED_OK: &str = "\"entry\":\"reverted\",\"seq\":1,\"ok\":true";

/// stop-kubelet on n1 held 60 s, probed every 200 ms; `extra_probe` is appended.
fn scenario(lab: &LabFixture, recovery_timeout: &str, extra_probe: &str) -> String {
    format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: abort-recovery }}
target: {{ inventory: "{inventory}" }}
settings: {{ stable-window: 600ms, recovery-timeout: {recovery_timeout} }}
probes:
  - name: n1
    interval: 200ms
    timeout: 500ms
    http: {{ url: "{url}" }}
{extra_probe}steps:
  - wait: 1s
  - fault:
      stop-kubelet: {{ nodes: [n1], timeout: 15s }}
    for: 60s
"#,
        inventory = lab.lab.inventory_file.display(),
        url = lab.node("n1").services["kubelet"].endpoints["healthz"],
    )
}

fn start(dir: &Path, text: &str) -> (SpawnedRun, PathBuf) {
    let file = write(dir, "s.yaml", text);
    let reports = dir.join("reports");
    let run = SpawnedRun::start(&file, &reports, &[]);
    run.wait_for_journal(
        Duration::from_secs(30),
        "the kubelet on n1 to be stopped",
        INJECTED,
    );
    (run, reports)
}

#[test]
fn after_sigint_the_report_measures_recovery_within_the_recovery_timeout() {
    let lab = LabFixture::shared(LabKey::Kubelet);
    let dir = temp_dir();
    let (run, reports) = start(dir.path(), &scenario(&lab, "20s", ""));
    run.sigint();
    run.finish().assert_code(3);
    let r = only_report(&reports);
    assert_eq!(r["verdict"], "aborted");
    assert_eq!(r["reverts"][0]["outcome"], "reverted");
    let recovery = &r["probes"][0]["measurements"]["recovery"];
    assert_eq!(recovery["status"], "recovered", "{recovery}");
    let after = ms(&recovery["after_ms"]);
    assert!(
        (0.0..=20_000.0).contains(&after),
        "recovered {after} ms after the heal, within the 20s recovery-timeout"
    );
    // The outage ended, and after the heal.
    let healed = ms(&r["faults"][0]["reverted_at_ms"]);
    let outage = &r["probes"][0]["measurements"]["outages"][0];
    assert!(ms(&outage["end_ms"]) >= healed - 200.0, "{outage}");
    assert_eq!(
        r["scenario_measurements"]["recovery"]["status"],
        "recovered"
    );
    let kinds: Vec<&str> = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"observing-recovery"), "{kinds:?}");
}

#[test]
fn a_second_sigint_ends_the_recovery_watch_early() {
    let lab = LabFixture::shared(LabKey::Kubelet);
    let dir = temp_dir();
    // A probe that never recovers keeps the watch going for the whole recovery-timeout.
    let gone = format!(
        "  - name: gone\n    interval: 200ms\n    timeout: 500ms\n    tcp: {{ address: \"127.0.0.1:{}\" }}\n",
        free_port()
    );
    let (run, reports) = start(dir.path(), &scenario(&lab, "120s", &gone));
    run.sigint();
    run.wait_for_journal(Duration::from_secs(30), "the revert to finish", REVERTED_OK);
    // The rollback is over once samples keep arriving after its journal entry.
    let samples = only_run_dir(&reports).join("samples.jsonl");
    let lines = || {
        std::fs::read_to_string(&samples)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    let seen = lines();
    wait_for(
        Duration::from_secs(10),
        "samples after the rollback",
        || lines() >= seen + 4,
    );
    let second = Instant::now();
    run.sigint();
    let out = run.finish();
    out.assert_code(3);
    assert!(
        second.elapsed() < Duration::from_secs(30),
        "the second Ctrl-C ended the 120s recovery watch ({:?})",
        second.elapsed()
    );
    let r = only_report(&reports);
    assert_eq!(r["reverts"][0]["outcome"], "reverted");
    let messages: Vec<&str> = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("SIGINT while observing recovery")),
        "{messages:?}"
    );
}
