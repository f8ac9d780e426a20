//! SIGKILL of `kubedrill run` mid-fault leaves its SSH master connections behind (nothing
//! runs to close them); `kubedrill recover` ends the ones the journal records, by pid, so
//! afterwards no process of the run is left. Checked by scanning /proc.

use std::path::Path;
use std::time::Duration;

use crate::common::{kubedrill, only_run_dir, temp_dir, wait_for, write};
use crate::lab_fixture::{LabFixture, LabKey};
use crate::run_binary::{Exit, SpawnedRun, INJECTED};

/// Every live process as (pid, command line with spaces between the arguments); zombies
/// (no command line) are left out.
fn processes() -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            (!args.is_empty()).then(|| (pid, args.join(" ")))
        })
        .collect()
}

/// Live processes whose command line mentions `needle`.
fn naming(needle: &str) -> Vec<(u32, String)> {
    processes()
        .into_iter()
        .filter(|(_, cmd)| cmd.contains(needle))
        .collect()
}

/// (node, pid, control socket) of every `ssh-master` entry of the run's journal.
fn journaled_masters(run_dir: &Path) -> Vec<(String, u32, String)> {
    std::fs::read_to_string(run_dir.join("journal.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["entry"] == "ssh-master")
        .map(|e| {
            (
                e["node"].as_str().unwrap().to_string(),
                e["pid"].as_u64().expect("the master's pid is recorded") as u32,
                e["control-socket"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn healthy(url: &str) -> bool {
    std::process::Command::new("curl")
        .args(["-sf", "--max-time", "1", url])
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout == b"ok")
}

#[test]
fn recover_ends_the_ssh_masters_a_killed_run_left_behind() {
    let lab = LabFixture::shared(LabKey::Kubelet);
    let kubedrill::access::AccessSpec::Ssh(ssh) = &lab.node("n1").access else {
        panic!("lab nodes use ssh")
    };
    // The lab's client key is this test's own: every ssh process naming it is ours.
    let lab_key = ssh.identity_file.clone().unwrap().display().to_string();
    let n1 = lab.node("n1").services["kubelet"].endpoints["healthz"].clone();
    let dir = temp_dir();
    let scenario = format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata: {{ name: killed-over-ssh }}
target: {{ inventory: "{}" }}
probes:
  - name: n1
    interval: 200ms
    timeout: 500ms
    http: {{ url: "{n1}" }}
steps:
  - fault:
      stop-kubelet: {{ nodes: [n1], timeout: 15s }}
    for: 120s
"#,
        lab.lab.inventory_file.display()
    );
    let file = write(dir.path(), "s.yaml", &scenario);
    let reports = dir.path().join("reports");
    let run = SpawnedRun::start_unread(&file, &reports, &[]);
    run.wait_for_journal(
        Duration::from_secs(60),
        "the kubelet on n1 to be stopped over ssh",
        INJECTED,
    );
    let run_dir = only_run_dir(&reports);
    let masters = journaled_masters(&run_dir);
    assert!(
        masters.iter().any(|(node, _, _)| node == "n1"),
        "{masters:?}"
    );
    // The master the fault went through is alive and is the one recorded.
    let live: Vec<(String, u32, String)> = masters
        .iter()
        .filter(|(_, pid, socket)| {
            naming(socket)
                .iter()
                .any(|(p, cmd)| p == pid && cmd.starts_with("ssh ") && cmd.contains(" -M "))
        })
        .cloned()
        .collect();
    assert!(
        !live.is_empty(),
        "recorded {masters:?}; ssh: {:?}",
        naming(&lab_key)
    );

    run.kill();
    assert!(!healthy(&n1), "the kill left the fault in place");
    // What the issue saw: the masters outlive the killed run.
    // The last one is the fault's (the access check's own may still be exiting).
    let (_, pid, socket) = live.last().unwrap();
    assert!(
        naming(socket).iter().any(|(p, _)| p == pid),
        "the master lives on after SIGKILL"
    );

    let out = Exit::of(kubedrill().arg("recover").arg(&run_dir));
    out.assert_code(0);
    assert!(
        out.stdout.contains(&format!(
            "ended the run's ssh master connection to node n1 (pid {pid})"
        )),
        "{}",
        out.stdout
    );
    assert!(healthy(&n1), "recover restarted the kubelet stand-in");
    // No process of the run is left: no ssh naming a control directory the run used or
    // this lab's key (recover's own master is closed too), no kubedrill of this run.
    let control_dirs: Vec<String> = masters
        .iter()
        .map(|(_, _, s)| Path::new(s).parent().unwrap().display().to_string())
        .collect();
    let left = || {
        let mut left: Vec<(u32, String)> = control_dirs.iter().flat_map(|d| naming(d)).collect();
        left.extend(naming(&lab_key));
        left.extend(naming(&reports.display().to_string()));
        left
    };
    wait_for(Duration::from_secs(5), "no process of the run", || {
        left().is_empty()
    });
    for d in &control_dirs {
        assert!(!Path::new(d).exists(), "control directory {d} is removed");
    }
}
