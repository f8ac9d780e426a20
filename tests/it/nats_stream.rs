//! The lab's JetStream stream (`DRILL`, 3 replicas, made by `lab up`) and the publish
//! probe: acknowledged publishes pause while the stream elects a new leader after a
//! SIGKILL of its old one, for a bounded time, then go on. Shares the NATS lab of
//! `nats_leader.rs` and takes turns with its tests.

use std::time::Duration;

use kubedrill::nats::{stream_status, StreamStatus};
use kubedrill::report::ProbeRecord;

use crate::common::temp_dir;
use crate::drill_lab::{run_file, shipped, until};
use crate::lab_fixture::LabFixture;
use crate::nats_leader::LAB;

/// The longest publish outage the shipped scenarios allow (NATS elects after 4-9 s).
pub const PUBLISH_OUTAGE_LIMIT_MS: f64 = 12_000.0;

fn client_urls(lab: &LabFixture) -> Vec<String> {
    lab.lab.vars["nats_servers"]
        .split(',')
        .map(String::from)
        .collect()
}

/// The lab's stream once its leader counts all three replicas current (a server killed
/// by an earlier test may still be catching up).
async fn stream_whole(lab: &LabFixture) -> StreamStatus {
    let urls = client_urls(lab);
    let name = &lab.lab.vars["nats_stream"];
    until(
        Duration::from_secs(60),
        "stream with 3 current replicas",
        || async {
            stream_status(&urls, name, Duration::from_secs(2))
                .await
                .ok()
                .filter(|s| s.current == 3)
        },
    )
    .await
}

/// A publish probe's record: healthy before the fault, then at most one outage, closed
/// within `PUBLISH_OUTAGE_LIMIT_MS` (its upper bound), healthy to the end; returns the
/// outage's length, if there was one.
pub fn assert_publishes_paused_and_came_back(p: &ProbeRecord) -> Option<f64> {
    let (first, last) = (p.samples.first().unwrap(), p.samples.last().unwrap());
    assert!(
        first.ok,
        "a publish was acknowledged before the kill: {first:?}"
    );
    assert!(last.ok, "publishes acknowledged again at the end: {last:?}");
    let m = &p.measurements;
    assert!(m.outages.len() <= 1, "{:?}", m.outages);
    let w = m.outages.first()?;
    let longest = w.length_max_ms.expect("the outage ended");
    assert!(
        longest <= PUBLISH_OUTAGE_LIMIT_MS,
        "publishes failed for up to {longest} ms: {w:?}"
    );
    let errors: Vec<&str> = p
        .samples
        .iter()
        .filter_map(|s| s.error.as_deref())
        .collect();
    assert!(
        errors.iter().all(|e| e.contains("publish drill.probe")),
        "only publishes failed (no $JS.API.INFO): {errors:?}"
    );
    Some(w.length_ms)
}

#[tokio::test]
async fn the_lab_stream_has_three_replicas_and_publishes_survive_its_leaders_sigkill() {
    let (_turn, lab) = LAB.turn().await;
    assert_eq!(lab.lab.vars["nats_stream"], "DRILL");
    assert_eq!(lab.lab.vars["nats_publish_subject"], "drill.probe");
    let before = stream_whole(lab).await;
    assert_eq!(
        (before.replicas, before.subjects.as_slice(), before.max_msgs),
        (3, ["drill.>".to_string()].as_slice(), 100_000),
        "{before}"
    );
    let old = before.leader.clone().expect("the stream has a leader");

    let reports = temp_dir();
    let file = shipped("lab/nats-stream-leader-kill.yaml");
    let outcome = run_file(&file, lab, reports.path()).await;
    let r = &outcome.report;
    let p = &r.probes[0];
    assert_eq!(p.name, "nats-publish");
    assert_eq!(
        r.exit_code, 0,
        "{:?}: {:?}; {:?}",
        r.verdict, r.reason, p.samples
    );
    let d = &r.faults[0].details;
    assert_eq!(d["leader_of"], "stream DRILL", "{d}");
    assert_eq!(
        d["old_leader"],
        old.as_str(),
        "the stream's leader was killed: {d}"
    );
    let new = d["new_leader"]
        .as_str()
        .expect("the stream elected a leader");
    assert_ne!(new, old);

    let paused = assert_publishes_paused_and_came_back(p)
        .expect("publishes paused: the killed server led the stream");
    eprintln!(
        "stream failover {} ms, publishes paused {paused} ms",
        d["failover_ms"]
    );

    // The acknowledged publishes are in the stream; the killed server caught up.
    let after = stream_whole(lab).await;
    let acked = p.samples.iter().filter(|s| s.ok).count() as u64;
    assert!(
        after.last_seq >= before.last_seq + acked,
        "{acked} acknowledged publishes stored: {before} → {after}"
    );
}
