//! A refused host key is not a degraded system: the run checks every node it will touch
//! before its baseline and refuses with exit 2 and one line (node, address, known_hosts
//! file), injecting nothing; a fault whose injection never reached its node needs no
//! revert, so the run does not report "NOT EVERY FAULT WAS REVERTED".

use std::path::{Path, PathBuf};

use crate::common::{journal_has, only_report, temp_dir, write};
use crate::lab_fixture::{LabFixture, LabKey};
use crate::run_binary::run_to_end;

/// ssh's banner for a changed host key.
const BANNER: &str = "REMOTE HOST IDENTIFICATION HAS CHANGED";

fn healthz(lab: &LabFixture, node: &str) -> String {
    lab.node(node).services["kubelet"].endpoints["healthz"].clone()
}

fn healthy(url: &str) -> bool {
    std::process::Command::new("curl")
        .args(["-sf", "--max-time", "1", url])
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout == b"ok")
}

fn lab_known_hosts(lab: &LabFixture) -> PathBuf {
    let kubedrill::access::AccessSpec::Ssh(ssh) = &lab.node("n1").access else {
        panic!("lab nodes use ssh")
    };
    ssh.known_hosts_file
        .clone()
        .expect("the lab has a known_hosts file")
}

/// The lab's known_hosts with `node`'s entry holding a key of the same type that is not
/// the node's (a freshly generated one).
fn with_wrong_key(lab: &LabFixture, dir: &Path, node: &str) -> String {
    let key = dir.join("not-the-host-key");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let wrong: Vec<&str> = public.split_whitespace().take(2).collect();
    let addr = &lab.lab.vars[&format!("{node}_addr")];
    let original = std::fs::read_to_string(lab_known_hosts(lab)).unwrap();
    assert!(
        original.lines().any(|l| l.starts_with(&format!("{addr} "))),
        "{original}"
    );
    original
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{addr} ")) {
                format!("{addr} {}\n", wrong.join(" "))
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// The lab's inventory with every node checked against `known_hosts` instead.
fn inventory_using(lab: &LabFixture, dir: &Path, known_hosts: &Path) -> PathBuf {
    let text = std::fs::read_to_string(&lab.lab.inventory_file).unwrap();
    let original = lab_known_hosts(lab).display().to_string();
    assert!(text.contains(&original), "{text}");
    let text = text.replace(&original, &known_hosts.display().to_string());
    write(dir, "inventory.yaml", &text)
}

fn header(inventory: &Path, n1: &str) -> String {
    format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: host-key }}
target: {{ inventory: "{}" }}
settings: {{ stable-window: 400ms, recovery-timeout: 5s }}
probes:
  - name: n1
    interval: 200ms
    timeout: 500ms
    http: {{ url: "{n1}" }}
"#,
        inventory.display()
    )
}

#[test]
fn a_wrong_host_key_refuses_the_run_with_one_line_and_injects_nothing() {
    let lab = LabFixture::shared(LabKey::Kubelet);
    let dir = temp_dir();
    let known_hosts = write(
        dir.path(),
        "known_hosts",
        &with_wrong_key(&lab, dir.path(), "n1"),
    );
    let inventory = inventory_using(&lab, dir.path(), &known_hosts);
    let n1 = healthz(&lab, "n1");
    let scenario = header(&inventory, &n1)
        + "steps:\n  - wait: 1s\n  - fault:\n      stop-kubelet: { nodes: [n1], timeout: 10s }\n    for: 2s\n";
    let file = write(dir.path(), "s.yaml", &scenario);
    let reports = dir.path().join("reports");

    let out = run_to_end(&file, &reports);
    out.assert_code(2);
    let all = format!("{}\n{}", out.stdout, out.stderr);
    // One line says it all: the node, its address and the known_hosts file that refused it.
    let naming: Vec<&str> = all
        .lines()
        .filter(|l| l.contains(&known_hosts.display().to_string()))
        .collect();
    assert_eq!(naming.len(), 1, "{all}");
    let line = naming[0];
    let addr = &lab.lab.vars["n1_addr"];
    assert!(
        line.contains("node n1") && line.contains(addr.as_str()),
        "{line}"
    );
    assert!(line.contains("Host key verification failed"), "{line}");
    assert!(all.matches(BANNER).count() <= 1, "{all}");
    assert!(!all.contains("NOT EVERY FAULT WAS REVERTED"), "{all}");

    // Nothing was injected: no revert registered, no injection started, kubelet runs.
    for entry in ["registered", "injecting", "injected", "reverting"] {
        assert!(
            !journal_has(&reports, &format!("\"entry\":\"{entry}\"")),
            "journal has {entry}"
        );
    }
    assert!(healthy(&n1), "the kubelet stand-in on n1 still runs");
    let r = only_report(&reports);
    assert_eq!(r["exit_code"], 2);
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("node n1") && !reason.contains('\n'),
        "{reason}"
    );
    assert!(r.to_string().matches(BANNER).count() <= 1, "{r}");
    assert!(r["reverts"].as_array().unwrap().is_empty(), "{r}");
}

#[test]
fn a_fault_that_never_reached_its_node_needs_no_revert() {
    let lab = LabFixture::shared(LabKey::Kubelet);
    let dir = temp_dir();
    let right = lab_known_hosts(&lab);
    let wrong = write(
        dir.path(),
        "known_hosts.wrong",
        &with_wrong_key(&lab, dir.path(), "n1"),
    );
    // The run checks hosts against this copy; the first fault swaps n1's key in it for a
    // wrong one after the access check passed, so the second fault cannot reach n1.
    let known_hosts = dir.path().join("known_hosts");
    std::fs::copy(&right, &known_hosts).unwrap();
    let inventory = inventory_using(&lab, dir.path(), &known_hosts);
    let n1 = healthz(&lab, "n1");
    let scenario = header(&inventory, &n1)
        + &format!(
            r#"steps:
  - id: swap-key
    fault:
      command: {{ inject: [cp, "{wrong}", "{kh}"], revert: [cp, "{right}", "{kh}"] }}
  - id: stop
    fault:
      stop-kubelet: {{ nodes: [n1], timeout: 10s }}
    for: 2s
"#,
            wrong = wrong.display(),
            kh = known_hosts.display(),
            right = right.display(),
        );
    let file = write(dir.path(), "s.yaml", &scenario);
    let reports = dir.path().join("reports");

    let out = run_to_end(&file, &reports);
    // The injection failed (exit 3), but nothing is left to undo: not exit 4.
    out.assert_code(3);
    let all = format!("{}\n{}", out.stdout, out.stderr);
    assert!(!all.contains("NOT EVERY FAULT WAS REVERTED"), "{all}");
    assert!(all.matches(BANNER).count() <= 1, "{all}");
    assert!(journal_has(
        &reports,
        "\"entry\":\"injecting\",\"fault_id\":\"stop\""
    ));
    assert!(journal_has(&reports, "\"entry\":\"not-needed\""));
    assert!(journal_has(
        &reports,
        "\"entry\":\"injected\",\"fault_id\":\"stop\",\"ok\":false"
    ));

    let r = only_report(&reports);
    let reverts = r["reverts"].as_array().unwrap();
    let outcome = |id: &str| {
        reverts
            .iter()
            .find(|x| x["fault_id"] == id)
            .unwrap_or_else(|| panic!("no revert of {id}: {r}"))["outcome"]
            .clone()
    };
    assert_eq!(outcome("stop"), "not-needed", "{r}");
    assert_eq!(outcome("swap-key"), "reverted", "{r}");
    let stop = r["faults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "stop")
        .unwrap();
    assert_eq!(stop["injection"], "failed");
    assert_eq!(stop["revert"], "not-needed");
    assert!(
        stop["error"]
            .as_str()
            .unwrap()
            .contains("Host key verification failed"),
        "{stop}"
    );
    // The kubelet never stopped, and the swapped key is back.
    let probe = &r["probes"][0]["measurements"];
    assert_eq!(probe["failed_samples"], 0, "{probe}");
    assert!(healthy(&n1));
    assert_eq!(
        std::fs::read(&known_hosts).unwrap(),
        std::fs::read(&right).unwrap()
    );
}
