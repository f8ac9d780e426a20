//! Signals during a run: the first SIGINT reverts everything and exits 3; a second one
//! exits at once, exit 4, listing what was NOT reverted.

use std::process::Stdio;
use std::time::Duration;

use crate::common::{kubedrill, process_state, temp_dir, wait_for, write, Dnsmasq};

fn journal_has(dir: &std::path::Path, needle: &str) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|run| {
            std::fs::read_to_string(run.path().join("journal.jsonl"))
                .is_ok_and(|j| j.contains(needle))
        })
}

fn sigint(pid: u32) {
    // SAFETY: sending a signal to a child we spawned.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
}

fn scenario(dns: &Dnsmasq, revert: &str) -> String {
    format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: freeze-dns }}
probes:
  - name: dns
    interval: 200ms
    timeout: 150ms
    dns: {{ server: "{}", name: a.example.test }}
steps:
  - fault:
      command: {{ inject: [kill, -STOP, "{pid}"], revert: {revert} }}
    for: 60s
"#,
        dns.server(),
        pid = dns.pid(),
    )
}

#[test]
fn sigint_mid_fault_reverts_and_exits_3() {
    let dns = Dnsmasq::start();
    let dir = temp_dir();
    let file = write(
        dir.path(),
        "s.yaml",
        &scenario(&dns, &format!("[kill, -CONT, \"{}\"]", dns.pid())),
    );
    let reports = dir.path().join("reports");
    let child = kubedrill()
        .args(["run", file.to_str().unwrap(), "--report-dir"])
        .arg(&reports)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(20), "the fault to be injected", || {
        journal_has(&reports, "\"entry\":\"injected\"")
    });
    assert_eq!(
        process_state(dns.pid()),
        Some('T'),
        "dnsmasq is frozen by the fault"
    );
    sigint(child.id());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(
        process_state(dns.pid()),
        Some('T'),
        "the revert thawed dnsmasq"
    );
    assert!(dns.answers(), "dnsmasq answers again");
    assert!(
        journal_has(&reports, "\"entry\":\"reverted\",\"seq\":1,\"ok\":true"),
        "journal records the revert"
    );
    let run = crate::common::only_run_dir(&reports);
    let r = crate::common::read_report(&run);
    assert_eq!(r["verdict"], "aborted");
    assert!(r["reason"].as_str().unwrap().contains("SIGINT"));
}

#[test]
fn second_sigint_exits_at_once_and_lists_what_was_not_reverted() {
    let dns = Dnsmasq::start();
    let dir = temp_dir();
    // A revert that hangs, so the second signal arrives during the rollback.
    let pidfile = dir.path().join("revert.pid");
    let revert = format!(
        "[sh, -c, \"echo $$ > {}; exec sleep 300\"]",
        pidfile.display()
    );
    let file = write(dir.path(), "s.yaml", &scenario(&dns, &revert));
    let reports = dir.path().join("reports");
    let child = kubedrill()
        .args(["run", file.to_str().unwrap(), "--report-dir"])
        .arg(&reports)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(20), "the fault to be injected", || {
        journal_has(&reports, "\"entry\":\"injected\"")
    });
    sigint(child.id());
    wait_for(
        Duration::from_secs(10),
        "the hanging revert to start",
        || pidfile.exists(),
    );
    sigint(child.id());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "stderr: {stderr}");
    assert!(stderr.contains("NOT EVERY FAULT WAS REVERTED"), "{stderr}");
    assert!(
        stderr.contains("exec sleep 300"),
        "names the revert to run by hand: {stderr}"
    );
    assert!(stderr.contains("kubedrill recover"), "{stderr}");
    assert_eq!(process_state(dns.pid()), Some('T'), "really not reverted");
    // The abandoned revert did not outlive kubedrill (zombies count as gone: PID 1 here
    // does not reap).
    let revert_pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for(
        Duration::from_secs(10),
        "the abandoned revert to be killed",
        || matches!(process_state(revert_pid), None | Some('Z')),
    );
    // `recover` would run the same hanging revert; thaw by hand for the cleanup.
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &dns.pid().to_string()])
        .status();
}

#[test]
fn recover_runs_what_the_journal_left_pending() {
    let dns = Dnsmasq::start();
    let dir = temp_dir();
    let file = write(
        dir.path(),
        "s.yaml",
        &scenario(&dns, &format!("[kill, -CONT, \"{}\"]", dns.pid())),
    );
    let reports = dir.path().join("reports");
    let mut child = kubedrill()
        .args(["run", file.to_str().unwrap(), "--report-dir"])
        .arg(&reports)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(20), "the fault to be injected", || {
        journal_has(&reports, "\"entry\":\"injected\"")
    });
    let run = crate::common::only_run_dir(&reports);
    let busy = kubedrill().arg("recover").arg(&run).output().unwrap();
    assert_eq!(
        busy.status.code(),
        Some(2),
        "recover refuses a run that is still going"
    );
    assert!(String::from_utf8_lossy(&busy.stderr).contains("another kubedrill process"));
    assert_eq!(process_state(dns.pid()), Some('T'), "and reverted nothing");
    // A crash: SIGKILL leaves no chance to revert.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(process_state(dns.pid()), Some('T'));
    let out = kubedrill().arg("recover").arg(&run).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dns.answers(), "recover thawed dnsmasq");
    let again = kubedrill().arg("recover").arg(&run).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to revert"));
}
