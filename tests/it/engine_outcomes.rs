//! How a run ends: abort conditions, injection errors and failed reverts, each with its
//! exit code, verdict and observable revert.

use crate::common::{only_report, temp_dir, write};
use crate::run_binary::{run_to_end, Exit, SpawnedRun, REVERTING};

struct Run {
    exit: Exit,
    report: serde_json::Value,
}

fn run(dir: &std::path::Path, body: &str) -> Run {
    let text = format!("apiVersion: kubedrill/v1\nkind: Scenario\n{body}");
    let file = write(dir, "s.yaml", &text);
    let reports = dir.join("reports");
    Run {
        exit: run_to_end(&file, &reports),
        report: only_report(&reports),
    }
}

#[test]
fn abort_condition_reverts_at_once_and_exits_3() {
    let dir = temp_dir();
    let flag = dir.path().join("down");
    let r = run(
        dir.path(),
        &format!(
            r#"metadata: {{ name: abort }}
probes:
  - name: up
    interval: 100ms
    command: {{ argv: [sh, -c, "! test -e {flag}"] }}
steps:
  - fault:
      command: {{ inject: [touch, "{flag}"], revert: [rm, "{flag}"] }}
    for: 60s
abort-if:
  - {{ probe: up, outage: "> 1s" }}
"#,
            flag = flag.display()
        ),
    );
    r.exit.assert_code(3);
    assert_eq!(r.report["verdict"], "aborted");
    assert!(r.report["reason"]
        .as_str()
        .unwrap()
        .contains("abort-if: probe up has been down"));
    assert!(!flag.exists(), "the revert ran");
    let run_ms = r.report["duration"].as_f64().unwrap();
    assert!(
        run_ms < 30_000.0,
        "aborted long before the 60s hold ended ({run_ms}ms)"
    );
}

#[test]
fn failed_injection_still_runs_the_registered_revert_and_exits_3() {
    let dir = temp_dir();
    let marker = dir.path().join("reverted");
    let r = run(
        dir.path(),
        &format!(
            r#"metadata: {{ name: inject-error }}
steps:
  - fault:
      command: {{ inject: [sh, -c, "exit 7"], revert: [touch, "{}"] }}
    for: 10s
  - wait: 10s
"#,
            marker.display()
        ),
    );
    r.exit.assert_code(3);
    assert_eq!(r.report["verdict"], "error");
    assert!(r.report["reason"]
        .as_str()
        .unwrap()
        .contains("injection failed"));
    assert!(marker.exists(), "a partially injected fault is reverted");
    let fault = &r.report["faults"][0];
    assert_eq!(fault["injection"], "failed", "{fault}");
    assert!(
        fault["error"].as_str().unwrap().contains("exit 7"),
        "{fault}"
    );
    assert_eq!(fault["revert"], "reverted", "{fault}");
}

#[test]
fn failed_revert_exits_4_and_says_what_to_undo_by_hand() {
    let dir = temp_dir();
    let r = run(
        dir.path(),
        r#"metadata: { name: revert-error }
steps:
  - fault:
      command: { inject: ["true"], revert: [sh, -c, "echo cannot restart >&2; exit 1"] }
    for: 100ms
"#,
    );
    r.exit.assert_code(4);
    assert_eq!(r.report["verdict"], "error");
    assert!(
        r.exit.stderr.contains("NOT EVERY FAULT WAS REVERTED"),
        "{}",
        r.exit.stderr
    );
    assert!(
        r.exit
            .stderr
            .contains("sh -c 'echo cannot restart >&2; exit 1'"),
        "manual command: {}",
        r.exit.stderr
    );
    let revert = &r.report["reverts"][0];
    assert_eq!(revert["outcome"], "failed");
    assert!(revert["error"].as_str().unwrap().contains("cannot restart"));
    assert_eq!(
        r.report["faults"][0]["revert"], "failed",
        "the fault is shown as still in place"
    );
}

#[test]
fn heal_step_reverts_before_the_end_and_recovery_is_measured_from_it() {
    let dir = temp_dir();
    let flag = dir.path().join("down");
    let r = run(
        dir.path(),
        &format!(
            r#"metadata: {{ name: heal }}
settings: {{ stable-window: 300ms }}
probes:
  - name: up
    interval: 100ms
    command: {{ argv: [sh, -c, "! test -e {flag}"] }}
steps:
  - id: f
    fault:
      command: {{ inject: [touch, "{flag}"], revert: [rm, "{flag}"] }}
  - wait: 1s
  - heal: f
  - wait-until: {{ healthy: [up], stable-for: 300ms, timeout: 10s }}
expect:
  - {{ probe: up, recovery: "<= 1s", max-outage: "<= 2s" }}
"#,
            flag = flag.display()
        ),
    );
    r.exit.assert_code(0);
    let fault = &r.report["faults"][0];
    let healed = fault["reverted_at_ms"].as_f64().unwrap();
    let heal_step_started = r.report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "step-started" && t["step"] == 2)
        .unwrap()["offset_ms"]
        .as_f64()
        .unwrap();
    assert!(
        healed >= heal_step_started,
        "reverted by the heal step, not at the end"
    );
    let reverts = r.report["reverts"].as_array().unwrap();
    assert_eq!(reverts.len(), 1, "reverted exactly once: {reverts:?}");
}

#[test]
fn wait_until_needs_fresh_healthy_samples_not_the_baseline() {
    let dir = temp_dir();
    let flag = dir.path().join("down");
    let r = run(
        dir.path(),
        &format!(
            r#"metadata: {{ name: fresh }}
probes:
  - name: up
    interval: 100ms
    command: {{ argv: [sh, -c, "! test -e {flag}"] }}
steps:
  - wait: 1s
  - fault:
      command: {{ inject: [touch, "{flag}"], revert: [rm, "{flag}"] }}
  - wait-until: {{ healthy: [up], stable-for: 500ms, timeout: 2s }}
"#,
            flag = flag.display()
        ),
    );
    assert_eq!(
        r.exit.code,
        Some(1),
        "the probe is down for the whole wait: {}",
        r.exit.stderr
    );
    assert!(r.report["reason"]
        .as_str()
        .unwrap()
        .contains("not healthy for 500ms within 2s"));
    assert!(!flag.exists(), "reverted at the end");
}

#[test]
fn first_sigint_during_the_final_rollback_lets_it_finish_and_exits_3() {
    let dir = temp_dir();
    let flag = dir.path().join("down");
    let text = format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: slow-revert }}
steps:
  - fault:
      command: {{ inject: [touch, "{flag}"], revert: [sh, -c, "sleep 1; rm {flag}"] }}
"#,
        flag = flag.display()
    );
    let file = write(dir.path(), "s.yaml", &text);
    let reports = dir.path().join("reports");
    let run = SpawnedRun::start(&file, &reports, &[]);
    run.wait_for_journal(
        std::time::Duration::from_secs(20),
        "the final rollback to start",
        REVERTING,
    );
    run.sigint();
    run.finish().assert_code(3);
    assert!(!flag.exists(), "the rollback finished");
    let r = only_report(&reports);
    assert_eq!(r["reverts"][0]["outcome"], "reverted");
}

/// A network namespace for the test, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Self {
        let name = format!("kd{tag}{}", std::process::id());
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add {name}");
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

#[test]
fn max_unavailable_counts_nodes_of_faults_still_in_place() {
    let ns = Netns::new("mu");
    let dir = temp_dir();
    let marks = dir.path();
    let r = run(
        dir.path(),
        &format!(
            r#"metadata: {{ name: blast-radius }}
target:
  nodes:
    - {{ name: a, access: {{ local: {{ netns: {ns} }} }} }}
    - {{ name: b, access: {{ local: {{ netns: {ns} }} }} }}
steps:
  - fault:
      node-command: {{ nodes: [a], inject: [touch, "{m}/a-down"], revert: [rm, "{m}/a-down"] }}
  - fault:
      node-command: {{ nodes: [b], inject: [touch, "{m}/b-down"], revert: [rm, "{m}/b-down"] }}
"#,
            ns = ns.0,
            m = marks.display()
        ),
    );
    r.exit.assert_code(3);
    let reason = r.report["reason"].as_str().unwrap();
    assert!(
        reason.contains("would make 2 node(s) unavailable at once")
            && reason.contains("already down: a"),
        "{reason}"
    );
    assert!(
        !marks.join("b-down").exists(),
        "the second fault was never injected"
    );
    assert!(!marks.join("a-down").exists(), "the first one was reverted");
    assert_eq!(r.report["faults"].as_array().unwrap().len(), 1);
}
