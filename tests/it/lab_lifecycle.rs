//! `lab up` twice, `lab status`, `lab down` twice, and nothing left behind.

use std::process::Command;
use std::time::Duration;

use kubedrill::lab;

use crate::lab_fixture::{block_on, eventually, LabFixture, LabKey};

fn stdout(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn lab_up_is_idempotent_status_reports_and_down_leaves_nothing() {
    let fixture = LabFixture::up(LabKey::Lifecycle, 3);
    let cfg = fixture.cfg.clone();
    let prefix = cfg.name_prefix.clone();

    // Second `up`: same inventory, same files.
    let inventory_text = std::fs::read_to_string(&fixture.lab.inventory_file).unwrap();
    let again = block_on(lab::up(&cfg)).expect("second lab up");
    assert_eq!(again, fixture.lab);
    assert_eq!(
        std::fs::read_to_string(&again.inventory_file).unwrap(),
        inventory_text
    );
    let vars = std::fs::read_to_string(&again.vars_file).unwrap();
    assert!(
        vars.contains("etcd_endpoints:") && vars.contains("kubelet_healthz_n2:"),
        "{vars}"
    );
    assert!(
        vars.contains("nats_stream: DRILL") && vars.contains("nats_publish_subject: drill.probe"),
        "{vars}"
    );

    // Status: every service of every node answers; stopping one shows it down.
    let status = block_on(lab::status(&cfg)).unwrap();
    assert!(status.all_up(), "{status}\n{:?}", status.problems());
    assert_eq!(status.nodes.len(), 3);
    // The stream the first `up` made is still there after the second, replicated thrice.
    let stream = status.nats_stream.clone().expect("NATS answers").unwrap();
    assert_eq!(
        (stream.name.as_str(), stream.replicas),
        ("DRILL", 3),
        "{stream}"
    );
    assert!(stream.leader.is_some(), "{stream}");
    let n1 = fixture.lab.inventory.node("n1").unwrap();
    let kubelet = &n1.services["kubelet"];
    let run_in_n1 = |argv: &[String]| {
        let out = Command::new("ip")
            .args(["netns", "exec", &format!("{prefix}-n1")])
            .args(argv)
            .output()
            .unwrap();
        out.status.code()
    };
    assert_eq!(run_in_n1(kubelet.stop.as_ref().unwrap()), Some(0));
    assert_eq!(run_in_n1(kubelet.status.as_ref().unwrap()), Some(3));
    let status = block_on(lab::status(&cfg)).unwrap();
    assert!(status.nodes[1].services["kubelet"].is_err(), "{status}");
    assert!(status.nodes[0].services["kubelet"].is_ok(), "{status}");
    assert_eq!(run_in_n1(kubelet.start.as_ref().unwrap()), Some(0));

    // An etcd member restarted from its data dir rejoins; the lab is whole again.
    let etcd = &n1.services["etcd"];
    assert_eq!(run_in_n1(etcd.stop.as_ref().unwrap()), Some(0));
    assert_eq!(run_in_n1(etcd.start.as_ref().unwrap()), Some(0));
    let whole = block_on(eventually(Duration::from_secs(60), || async {
        lab::status(&cfg).await.unwrap().all_up()
    }));
    assert!(whole, "{}", block_on(lab::status(&cfg)).unwrap());

    // Down twice; then no trace.
    let marker = format!("KUBEDRILL_LAB_DIR={}", cfg.dir.display());
    assert!(!lab::pids_with_env(&marker).is_empty());
    block_on(lab::down(&cfg)).expect("lab down");
    block_on(lab::down(&cfg)).expect("second lab down");
    assert!(
        lab::pids_with_env(&marker).is_empty(),
        "lab processes survived down"
    );
    assert!(!stdout("ip", &["netns", "list"]).contains(&format!("{prefix}-")));
    assert!(!stdout("ip", &["-o", "link", "show"]).contains(&format!("{prefix}-")));
    assert!(!stdout("iptables", &["-S"]).contains(&format!("kubedrill-lab:{prefix}")));
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(
        !mounts.contains(&format!("/run/netns/{prefix}-")),
        "{mounts}"
    );
    assert!(!std::path::Path::new(&format!("/run/netns/{prefix}-n0")).exists());
    assert!(!cfg.dir.exists(), "lab dir kept");
    let status = block_on(lab::status(&cfg)).unwrap();
    assert!(status.nodes.iter().all(|n| !n.netns), "{status}");
    assert_eq!(status.nats_stream, None, "no NATS server to ask");
}

#[test]
fn lab_refuses_bad_configs_before_touching_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = crate::lab_fixture::config(LabKey::Lifecycle, 3, &tmp.path().join("lab"));
    cfg.name_prefix = "much-too-long-prefix".into();
    let err = block_on(lab::up(&cfg)).unwrap_err().to_string();
    assert!(err.contains("name prefix"), "{err}");

    // A missing program is named, with where to get it.
    let mut cfg = crate::lab_fixture::config(LabKey::Lifecycle, 3, &tmp.path().join("lab"));
    cfg.kubelet_standin = vec!["/nonexistent/kubelet-standin".into()];
    let err = block_on(lab::up(&cfg)).unwrap_err().to_string();
    assert!(
        err.contains("missing programs") && err.contains("/nonexistent/kubelet-standin"),
        "{err}"
    );

    // A non-empty directory that is not a lab is never used (nor deleted by down).
    let mut cfg = crate::lab_fixture::config(LabKey::Lifecycle, 3, tmp.path());
    cfg.name_prefix = "ktrefuse".into();
    std::fs::write(tmp.path().join("precious"), "keep me").unwrap();
    let err = block_on(lab::up(&cfg)).unwrap_err().to_string();
    assert!(err.contains("not empty"), "{err}");
    block_on(lab::down(&cfg)).unwrap();
    assert!(tmp.path().join("precious").exists());
}
