//! `kill-process` against the plain lab's real etcd: with `lab up --supervise`, the
//! supervisor starts the killed process again after its delay and the fault measures it;
//! without, kubedrill starts it after `restart-timeout` and the run fails (exit 3).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kubedrill::lab::{self, LabConfig};

use crate::common::{only_report, temp_dir, write};
use crate::lab_fixture::{block_on, config, LabKey};
use crate::run_binary::run_to_end;

/// A one-node lab of this test's own (prefix and subnet from the pid and `variant`), torn
/// down on drop.
struct OwnLab {
    cfg: LabConfig,
    _tmp: tempfile::TempDir,
}

impl OwnLab {
    fn up(variant: u32, supervise: Option<Duration>) -> Self {
        let tmp = temp_dir();
        let pid = std::process::id();
        let mut cfg = config(LabKey::Etcd, 1, &tmp.path().join("lab"));
        cfg.name_prefix = format!("kp{}{variant}", pid % 1_000_000);
        cfg.subnet = format!("10.216.{}.0/24", (pid % 120) * 2 + variant);
        block_on(lab::down(&cfg)).expect("clean up leftovers");
        if let Err(e) = block_on(lab::up_supervised(&cfg, supervise)) {
            let _ = block_on(lab::down(&cfg));
            panic!("lab up: {e}");
        }
        Self { cfg, _tmp: tmp }
    }

    fn run_dir(&self) -> PathBuf {
        self.cfg.dir.join("nodes/n0/run")
    }

    fn pid_of(&self, file: &str) -> Option<u32> {
        std::fs::read_to_string(self.run_dir().join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// `ctl ACTION etcd` in n0's namespace; true when it exits 0.
    fn ctl(&self, action: &str) -> bool {
        std::process::Command::new("ip")
            .args(["netns", "exec", &format!("{}-n0", self.cfg.name_prefix)])
            .arg(self.cfg.dir.join("nodes/n0/ctl"))
            .args([action, "etcd"])
            .status()
            .expect("ctl")
            .success()
    }

    fn scenario(&self, dir: &Path, restart_timeout: &str) -> PathBuf {
        let text = format!(
            "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: kill-etcd }}\n\
             target: {{ inventory: {inv} }}\n\
             probes:\n  - {{ name: etcd, interval: 200ms, timeout: 1s, etcd: {{}} }}\n\
             steps:\n  - id: kill\n    fault:\n      kill-process: {{ nodes: [n0], pidfile: {pidfile}, service: etcd, restart-timeout: {restart_timeout} }}\n",
            inv = self.cfg.dir.join("inventory.yaml").display(),
            pidfile = self.run_dir().join("etcd.pid").display(),
        );
        write(dir, "kill-etcd.yaml", &text)
    }
}

impl Drop for OwnLab {
    fn drop(&mut self) {
        if let Err(e) = block_on(lab::down(&self.cfg)) {
            eprintln!("lab down {}: {e}", self.cfg.name_prefix);
        }
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(") ").next().is_some_and(|r| !r.starts_with('Z')))
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(") ")
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn a_supervised_process_comes_back_by_itself_and_the_restart_is_measured() {
    const DELAY: Duration = Duration::from_secs(2);
    let lab = OwnLab::up(0, Some(DELAY));
    let before = lab.pid_of("etcd.pid").expect("etcd pid");
    let supervisor = lab.pid_of("etcd.supervisor.pid").expect("supervisor pid");
    assert_eq!(
        parent_of(before),
        Some(supervisor),
        "etcd runs under its supervisor"
    );

    let tmp = temp_dir();
    let reports = tmp.path().join("reports");
    let exit = run_to_end(&lab.scenario(tmp.path(), "20s"), &reports);
    exit.assert_code(0);
    let report = only_report(&reports);
    let fault = &report["faults"][0];
    assert_eq!(fault["injection"], "injected", "{fault}");
    let details = &fault["details"];
    assert_eq!(details["restarted_by"], "supervisor", "{details}");
    let node = &details["nodes"][0];
    assert_eq!(
        node["killed"][0].as_u64(),
        Some(u64::from(before)),
        "{node}"
    );
    let new = node["new"][0].as_u64().expect("a new pid") as u32;
    assert_ne!(new, before);
    // The supervisor waits its delay before starting it again: the measured restart is at
    // least the delay, and not much more.
    let restart = node["restart_ms"].as_f64().expect("restart_ms");
    assert!(
        restart >= DELAY.as_millis() as f64
            && restart < (DELAY + Duration::from_secs(3)).as_millis() as f64,
        "restart {restart} ms with a {DELAY:?} supervisor delay: {node}"
    );
    assert!(!alive(before), "the killed etcd is gone");
    // Started by the supervisor, not by kubedrill: its parent is the same supervisor, and
    // the journaled start found it running and did nothing.
    assert_eq!(lab.pid_of("etcd.pid"), Some(new));
    assert!(alive(new));
    assert_eq!(
        parent_of(new),
        Some(supervisor),
        "restarted by the supervisor"
    );
    let text = report.to_string();
    assert!(
        text.contains("already running"),
        "the revert did not start it: {text}"
    );

    // `ctl stop` stops the supervisor too: the service stays down past the delay.
    assert!(lab.ctl("stop"));
    assert!(!alive(supervisor), "the supervisor is gone");
    let until = Instant::now() + DELAY * 2;
    while Instant::now() < until {
        assert!(!lab.ctl("status"), "a stopped service came back");
        assert!(!alive(new));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(lab.ctl("start"));
    let again = lab.pid_of("etcd.pid").expect("started again");
    assert!(alive(again));
    let new_supervisor = lab.pid_of("etcd.supervisor.pid").expect("a new supervisor");
    assert_eq!(parent_of(again), Some(new_supervisor));
}

#[test]
fn an_unsupervised_process_is_started_by_kubedrill_and_the_run_fails() {
    let lab = OwnLab::up(1, None);
    let before = lab.pid_of("etcd.pid").expect("etcd pid");
    assert_eq!(lab.pid_of("etcd.supervisor.pid"), None, "no supervisor");

    let tmp = temp_dir();
    let reports = tmp.path().join("reports");
    let started = Instant::now();
    let exit = run_to_end(&lab.scenario(tmp.path(), "3s"), &reports);
    exit.assert_code(3);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "waited for restart-timeout"
    );
    let report = only_report(&reports);
    let fault = &report["faults"][0];
    assert_eq!(fault["injection"], "failed", "{fault}");
    let error = fault["error"].as_str().expect("error");
    assert!(
        error.contains("not back 3s after SIGKILL") && error.contains("restarted_by: kubedrill"),
        "{error}"
    );
    assert!(!alive(before), "the killed etcd is gone");
    // The journaled revert started it again.
    let after = lab.pid_of("etcd.pid").expect("etcd started again");
    assert_ne!(after, before);
    assert!(alive(after), "etcd runs after the run");
    assert!(lab.ctl("status"));
}

#[test]
fn lab_up_refuses_a_supervisor_for_the_kubernetes_lab_as_a_usage_error() {
    let tmp = temp_dir();
    let out = crate::common::kubedrill()
        .args(["lab", "up", "--kubernetes", "--supervise=1s", "--dir"])
        .arg(tmp.path().join("lab"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--supervise is for the plain lab"), "{err}");
    assert!(!tmp.path().join("lab").exists(), "nothing was built");
}
