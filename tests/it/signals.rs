//! Signals during a run: the first SIGINT reverts everything and exits 3; a second one
//! exits at once, exit 4, listing what was NOT reverted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{
    journal_has, kubedrill, only_report, only_run_dir, process_state, temp_dir, wait_for, write,
    Dnsmasq,
};
use crate::run_binary::{Exit, SpawnedRun, INJECTED};

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

/// The revert that thaws dnsmasq.
fn thaw(dns: &Dnsmasq) -> String {
    format!("[kill, -CONT, \"{}\"]", dns.pid())
}

/// Spawns the freeze with `revert` (through `spawn`) and waits until it is injected;
/// returns the run and its report root.
fn start_freeze(
    dns: &Dnsmasq,
    dir: &Path,
    revert: &str,
    spawn: fn(&Path, &Path, &[&str]) -> SpawnedRun,
) -> (SpawnedRun, PathBuf) {
    let file = write(dir, "s.yaml", &scenario(dns, revert));
    let reports = dir.join("reports");
    let run = spawn(&file, &reports, &[]);
    run.wait_for_journal(
        Duration::from_secs(20),
        "the fault to be injected",
        INJECTED,
    );
    (run, reports)
}

#[test]
fn sigint_mid_fault_reverts_and_exits_3() {
    let dns = Dnsmasq::start();
    let dir = temp_dir();
    let (run, reports) = start_freeze(&dns, dir.path(), &thaw(&dns), SpawnedRun::start);
    assert_eq!(
        process_state(dns.pid()),
        Some('T'),
        "dnsmasq is frozen by the fault"
    );
    run.sigint();
    run.finish().assert_code(3);
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
    let r = only_report(&reports);
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
    let (run, _) = start_freeze(&dns, dir.path(), &revert, SpawnedRun::start);
    run.sigint();
    wait_for(
        Duration::from_secs(10),
        "the hanging revert to start",
        || pidfile.exists(),
    );
    run.sigint();
    let out = run.finish();
    let stderr = &out.assert_code(4).stderr;
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
    let (child, reports) = start_freeze(&dns, dir.path(), &thaw(&dns), SpawnedRun::start_unread);
    let run = only_run_dir(&reports);
    let recover = || Exit::of(kubedrill().arg("recover").arg(&run));
    let busy = recover();
    assert_eq!(
        busy.code,
        Some(2),
        "recover refuses a run that is still going"
    );
    assert!(busy.stderr.contains("another kubedrill process"));
    assert_eq!(process_state(dns.pid()), Some('T'), "and reverted nothing");
    // The probe has seen the freeze, and its samples are on disk as the run goes.
    let samples = run.join("samples.jsonl");
    wait_for(Duration::from_secs(10), "failed samples on disk", || {
        std::fs::read_to_string(&samples).is_ok_and(|t| t.contains("\"ok\":false"))
    });
    // A crash: SIGKILL leaves no chance to revert, nor to write a report.
    child.kill();
    assert_eq!(process_state(dns.pid()), Some('T'));
    assert!(!run.join("report.json").exists());
    let recovered = recover();
    recovered.assert_code(0);
    assert!(dns.answers(), "recover thawed dnsmasq");
    // ... and wrote the report the run could not, from its samples.
    assert!(
        recovered.stdout.contains("wrote the report"),
        "{}",
        recovered.stdout
    );
    let r = crate::common::read_report(&run);
    assert_eq!(r["verdict"], "aborted");
    let m = &r["probes"][0]["measurements"];
    assert!(m["failed_samples"].as_u64().unwrap() > 0, "{m}");
    let outage = &m["outages"][0];
    assert!(
        outage["end_ms"].is_null(),
        "still down when the run died: {outage}"
    );
    assert!(run.join("report.html").exists() && run.join("junit.xml").exists());
    // What it reverted, the state now, and the outcome in the journal and the report.
    assert!(
        recovered.stdout.contains("reverted: ") && recovered.stdout.contains("kill -CONT"),
        "{}",
        recovered.stdout
    );
    assert!(
        recovered
            .stdout
            .contains("state now: every fault of the run is reverted"),
        "{}",
        recovered.stdout
    );
    let journal = std::fs::read_to_string(run.join("journal.jsonl")).unwrap();
    let last = journal.lines().last().unwrap();
    assert!(
        last.contains("\"entry\":\"recovered\"") && last.contains("\"all_reverted\":true"),
        "{journal}"
    );
    let timeline = r["timeline"].as_array().unwrap();
    let kinds: Vec<&str> = timeline
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.ends_with(&["recover-reverted", "recovered"]),
        "{kinds:?}"
    );
    assert!(std::fs::read_to_string(run.join("report.md"))
        .unwrap()
        .contains("kubedrill recover: every fault of the run is reverted"));
    assert!(recover().stdout.contains("nothing to revert"));
}

#[test]
fn recover_skips_a_torn_last_journal_line() {
    let dns = Dnsmasq::start();
    let dir = temp_dir();
    let (child, reports) = start_freeze(&dns, dir.path(), &thaw(&dns), SpawnedRun::start_unread);
    let run = only_run_dir(&reports);
    child.kill();
    // A full disk cut the last entry short, as a crash mid-write would.
    let journal = run.join("journal.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    std::io::Write::write_all(
        &mut f,
        b"{\"crc\":\"0badf00d\",\"entry\":\"reverting\",\"se",
    )
    .unwrap();
    drop(f);
    let out = Exit::of(kubedrill().arg("recover").arg(&run));
    out.assert_code(0);
    assert!(
        out.stderr.contains("journal.jsonl:") && out.stderr.contains("torn last line"),
        "{}",
        out.stderr
    );
    assert!(dns.answers(), "recover thawed dnsmasq");
    // The torn line was cut off, so what recover appended reads back whole.
    let again = Exit::of(kubedrill().arg("recover").arg(&run));
    again.assert_code(0);
    assert!(
        again.stdout.contains("nothing to revert"),
        "{}",
        again.stdout
    );
    assert!(!again.stderr.contains("torn"), "{}", again.stderr);
}
