//! `nats-leader-kill` and the `nats` probe against the lab's real 3-server JetStream cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use kubedrill::nats::{agreed_leader, inventory_servers, LeaderOf, Monitor, MonitorEndpoint};

use crate::common::temp_dir;
use crate::drill_lab::{pool, run_file, shipped, spawn_shipped_injected, until, DrillLab};
use crate::lab_fixture::{LabFixture, LabKey};

/// The NATS lab, shared with `nats_stream.rs`.
pub static LAB: DrillLab = DrillLab::new(LabKey::Nats);

fn monitors(lab: &LabFixture) -> BTreeMap<String, MonitorEndpoint> {
    inventory_servers(&pool(lab))
        .into_iter()
        .map(|s| (s.name, s.monitor))
        .collect()
}

fn monitor() -> Monitor {
    Monitor::new(Duration::from_millis(800), None).unwrap()
}

/// The meta leader a majority of all three servers agrees on, once there is one.
async fn meta_leader(lab: &LabFixture) -> String {
    let eps = monitors(lab);
    until(
        Duration::from_secs(60),
        "a JetStream meta leader",
        || async {
            let m = monitor();
            let reports =
                futures::future::join_all(eps.values().map(|ep| m.leader_of(ep, &LeaderOf::Meta)))
                    .await;
            let names: Vec<Option<&str>> = reports
                .iter()
                .map(|r| r.as_ref().ok().and_then(|n| n.as_deref()))
                .collect();
            agreed_leader(names, eps.len())
        },
    )
    .await
}

#[tokio::test]
async fn sigkill_of_the_meta_leader_fails_over_and_the_server_rejoins() {
    let (_turn, lab) = LAB.turn().await;
    let old = meta_leader(lab).await;
    let reports = temp_dir();
    let outcome = run_file(&shipped("lab/nats-leader-kill.yaml"), lab, reports.path()).await;
    let r = &outcome.report;
    let errors: std::collections::BTreeSet<_> = r.probes[0]
        .samples
        .iter()
        .filter_map(|s| s.error.clone())
        .collect();
    assert_eq!(
        r.exit_code, 0,
        "verdict {:?}: {:?}; sample errors {errors:?}",
        r.verdict, r.reason
    );

    let d = &r.faults[0].details;
    assert_eq!(d["old_leader"], old.as_str());
    eprintln!("fault details: {d}");
    let new = d["new_leader"].as_str().expect("a new leader was elected");
    assert_ne!(new, old);
    let failover = d["failover_ms"].as_f64().expect("failover time measured");
    assert!(
        failover > 0.0 && failover < 30_000.0,
        "failover {failover} ms"
    );
    assert!(
        d["kill"].as_str().unwrap().starts_with("kill -KILL "),
        "{d}"
    );
    kubedrill::report::write_reports(r, &outcome.run_dir, &[]).unwrap();
    let on_disk = std::fs::read_to_string(outcome.run_dir.join("report.json")).unwrap();
    assert!(
        on_disk.contains("\"failover_ms\""),
        "failover time is in report.json"
    );

    let samples = &r.probes[0].samples;
    assert!(samples.iter().any(|s| !s.ok), "the probe saw the election");
    // Publishing, measured on its own, pauses only if the killed server led the stream.
    let publish = &r.probes[1];
    assert_eq!(publish.name, "nats-publish");
    let paused = crate::nats_stream::assert_publishes_paused_and_came_back(publish);
    eprintln!("publishes paused: {paused:?} ms");
    assert!(
        samples
            .iter()
            .any(|s| s.detail.as_ref().is_some_and(|d| d["leader"] == new)),
        "samples name the new leader"
    );
    assert!(
        r.reverts.iter().all(|v| v.outcome == "reverted"),
        "{:?}",
        r.reverts
    );
    // The revert waited for it; the killed server is back and current in the meta group.
    let leader = monitor()
        .rejoined(&old, &monitors(lab))
        .await
        .expect("rejoined");
    assert!(!leader.is_empty());
}

#[tokio::test]
async fn sigint_mid_nats_kill_restarts_the_killed_server() {
    let (_turn, lab) = LAB.turn().await;
    let old = meta_leader(lab).await;
    let eps = monitors(lab);
    let dir = temp_dir();
    let reports = dir.path().join("reports");
    let run = spawn_shipped_injected(
        "lab/nats-leader-kill.yaml",
        lab,
        &reports,
        Duration::from_secs(60),
        "the kill to be injected",
    )
    .await;
    assert!(
        monitor().jsz(&eps[&old], "").await.is_err(),
        "{old} is down"
    );
    run.sigint();
    run.finish().assert_code(3);
    monitor()
        .rejoined(&old, &eps)
        .await
        .expect("restarted and rejoined after Ctrl-C");
}

/// A TCP listener that accepts connections and never answers; kept open until dropped.
struct SilentServer {
    port: u16,
}

impl SilentServer {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            // Held, never read from or written to, so every request hangs.
            let mut held = Vec::new();
            for conn in listener.incoming().flatten() {
                held.push(conn);
            }
        });
        Self { port }
    }
}

#[test]
fn a_hanging_server_fails_the_sample_within_its_timeout_and_is_named() {
    let silent = SilentServer::start();
    let monitor = format!("http://127.0.0.1:{}", silent.port);
    let client = format!("nats://127.0.0.1:{}", silent.port);
    let dir = temp_dir();
    let text = format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: nats-hang }}\n\
         probes:\n  - name: nats\n    interval: 200ms\n    timeout: 600ms\n\
         \x20   nats: {{ monitors: [\"{monitor}\"], jetstream: {{ servers: [\"{client}\"] }} }}\n\
         steps:\n  - wait: 1500ms\n"
    );
    let file = crate::common::write(dir.path(), "hang.yaml", &text);
    let reports = dir.path().join("reports");
    crate::run_binary::run_to_end(&file, &reports);
    let r = crate::common::only_report(&reports);
    let samples = r["probes"][0]["samples"].as_array().unwrap();
    assert!(samples.len() >= 2, "{samples:?}");
    for s in samples {
        assert_eq!(s["ok"], false, "{s}");
        let latency = s["latency_ms"].as_f64().unwrap();
        assert!(
            latency < 600.0,
            "sample took {latency} ms (timeout 600ms): {s}"
        );
        let error = s["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("{monitor}: healthz: ")),
            "the hanging monitor is named: {error}"
        );
        assert!(
            error.contains(&format!("JetStream via {client}")),
            "the JetStream check is named: {error}"
        );
    }
}
