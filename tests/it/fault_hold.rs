//! `for` counts from the moment a fault took effect (issue 10 item 18): a stop-service
//! whose down verification takes 2 s and `for: 3s` keeps the service down about 3 s, not
//! 3 s + the verification; a NATS leader kill with `for: 3s` restarts the server about 3 s
//! after the kill, not 3 s after the failover.

use crate::common::{ms, only_report, temp_dir, write};
use crate::lab_fixture::{LabFixture, LabKey};
use crate::run_binary::run_to_end;

const INTERVAL_MS: f64 = 200.0;
const HOLD_MS: f64 = 3000.0;
/// How long the status command takes before it answers: the wait inside the injection.
const VERIFY_DELAY_S: u64 = 2;

#[test]
fn for_counts_from_the_stop_not_from_the_end_of_the_down_verification() {
    let lab = LabFixture::shared(LabKey::Kubelet);
    let n1 = lab.node("n1");
    let kubelet = &n1.services["kubelet"];
    let url = kubelet.endpoints["healthz"].clone();
    // The inventory's status command, answered only after a delay (the fault polls it
    // until it fails, so the injection returns at least VERIFY_DELAY_S after the stop).
    let mut status = vec![
        "sh".to_string(),
        "-c".to_string(),
        format!("sleep {VERIFY_DELAY_S}; exec \"$@\""),
        "status".to_string(),
    ];
    status.extend(
        kubelet
            .status
            .clone()
            .expect("the lab's kubelet status command"),
    );
    let dir = temp_dir();
    let file = write(
        dir.path(),
        "s.yaml",
        &format!(
            r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: hold-from-effect }}
target: {{ inventory: "{inventory}" }}
settings: {{ stable-window: 600ms }}
probes:
  - name: n1
    interval: {INTERVAL_MS}ms
    timeout: 500ms
    http: {{ url: "{url}" }}
steps:
  - wait: 1s
  - fault:
      stop-kubelet: {{ nodes: [n1], timeout: 15s, status: {status} }}
    for: {HOLD_MS}ms
  - wait-until: {{ stable-for: 600ms, timeout: 30s }}
"#,
            inventory = lab.lab.inventory_file.display(),
            status = serde_json::to_string(&status).unwrap(),
        ),
    );
    let reports = dir.path().join("reports");
    run_to_end(&file, &reports).assert_code(0);
    let r = only_report(&reports);
    let fault = &r["faults"][0];
    let in_effect = ms(&fault["in_effect_at_ms"]);
    let healed = ms(&fault["reverted_at_ms"]);
    assert_eq!(ms(&fault["hold_ms"]), HOLD_MS, "{fault}");
    // The verification really waited, inside the hold.
    let injected_event = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "fault-injected")
        .expect("fault-injected on the timeline");
    let inject_returned = ms(&injected_event["offset_ms"]);
    assert!(
        inject_returned - in_effect >= VERIFY_DELAY_S as f64 * 1000.0,
        "the down verification took its {VERIFY_DELAY_S}s: in effect {in_effect}, injection returned {inject_returned}"
    );
    // Held `for` from the stop: the revert starts 3 s after it, not 3 s after the wait.
    assert!(
        (HOLD_MS..=HOLD_MS + INTERVAL_MS).contains(&(healed - in_effect)),
        "revert at {healed}, {} ms after the fault took effect at {in_effect}",
        healed - in_effect
    );
    // The probe agrees: one outage of about the hold (the stop and the start over SSH
    // add a few hundred ms), far from hold + verification.
    let outages = r["probes"][0]["measurements"]["outages"]
        .as_array()
        .unwrap();
    assert_eq!(outages.len(), 1, "{outages:?}");
    let length = ms(&outages[0]["end_ms"]) - ms(&outages[0]["start_ms"]);
    assert!(
        (HOLD_MS - INTERVAL_MS..HOLD_MS + 1000.0).contains(&length),
        "n1 was down {length} ms for a {HOLD_MS} ms hold (a {VERIFY_DELAY_S}s verification must not add to it)"
    );
    // The plan says what the hold means.
    let planned = r["plan"][1]["action"].as_str().unwrap();
    assert!(
        planned.contains("for 3s (from when it takes effect)"),
        "{planned}"
    );
}

#[test]
fn a_nats_leader_kill_is_held_from_the_kill_not_from_the_failover() {
    let lab = LabFixture::shared(LabKey::Nats);
    let dir = temp_dir();
    let interval_ms = 250.0;
    let file = write(
        dir.path(),
        "s.yaml",
        &format!(
            r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: nats-hold }}
target: {{ inventory: "{inventory}" }}
settings: {{ stable-window: 1s, revert-timeout: 60s }}
probes:
  - name: nats
    interval: {interval_ms}ms
    timeout: 1s
    nats: {{ healthz: js-enabled-only, meta-leader: true }}
steps:
  - wait-until: {{ healthy: [nats], stable-for: 1s, timeout: 60s }}
  - fault:
      nats-leader-kill: {{ kill: exec, failover-timeout: 30s }}
    for: {HOLD_MS}ms
  - wait-until: {{ healthy: [nats], stable-for: 1s, timeout: 60s }}
"#,
            inventory = lab.lab.inventory_file.display(),
        ),
    );
    let reports = dir.path().join("reports");
    run_to_end(&file, &reports).assert_code(0);
    let r = only_report(&reports);
    let fault = &r["faults"][0];
    let d = &fault["details"];
    let (injected, in_effect, healed) = (
        ms(&fault["injected_at_ms"]),
        ms(&fault["in_effect_at_ms"]),
        ms(&fault["reverted_at_ms"]),
    );
    let (kill_ms, failover_ms) = (ms(&d["kill_ms"]), ms(&d["failover_ms"]));
    eprintln!("injected {injected}, in effect {in_effect}, healed {healed}, kill {kill_ms} ms, failover {failover_ms} ms");
    // The restart (the revert) starts `for` after the kill returned...
    assert!(
        (HOLD_MS..=HOLD_MS + interval_ms).contains(&(healed - in_effect)),
        "revert {} ms after the kill took effect",
        healed - in_effect
    );
    // ... so the server is down about `for` plus the kill's own round trip, however long
    // the failover watch took inside the hold.
    assert!(
        healed - injected <= HOLD_MS + kill_ms + interval_ms,
        "the killed server was down {} ms (kill {kill_ms} ms, failover {failover_ms} ms, hold {HOLD_MS} ms)",
        healed - injected
    );
}
