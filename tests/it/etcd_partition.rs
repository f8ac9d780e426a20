//! `etcd-partition` and the `etcd` probe against the lab's real 3-member etcd 3.4 cluster.

use std::time::Duration;

use kubedrill::etcd::{inventory_members, ClusterView, EtcdMember, Gateway};

use crate::common::{journal_has, only_report, only_run_dir, read_report, temp_dir, write};
use crate::drill_lab::{
    iptables_state, pool, run_file, shipped, spawn_shipped_injected, until, DrillLab,
};
use crate::lab_fixture::{LabFixture, LabKey};
use crate::run_binary::{run_to_end, INJECTED};

static LAB: DrillLab = DrillLab::new(LabKey::Etcd);
const NODES: [&str; 3] = ["n0", "n1", "n2"];

fn members(lab: &LabFixture) -> Vec<EtcdMember> {
    inventory_members(&pool(lab))
}

async fn view(lab: &LabFixture) -> ClusterView {
    let gw = Gateway::new(None, Duration::from_millis(800)).unwrap();
    ClusterView::gather(&gw, &members(lab)).await
}

/// The agreed leader's member name and term, once the cluster has one.
async fn healthy_leader(lab: &LabFixture) -> (String, u64) {
    until(Duration::from_secs(60), "an etcd leader", || async {
        let v = view(lab).await;
        let name = v
            .leader()
            .and_then(|id| v.name_of(id))
            .map(str::to_string)?;
        Some((name, v.term()?))
    })
    .await
}

fn iptables_all(lab: &LabFixture) -> Vec<String> {
    NODES.iter().map(|n| iptables_state(lab, n)).collect()
}

#[tokio::test]
async fn partitioning_the_leader_elects_a_new_one_and_heal_restores_iptables_exactly() {
    let (_turn, lab) = LAB.turn().await;
    let before = iptables_all(lab);
    let (old, term) = healthy_leader(lab).await;
    let reports = temp_dir();
    let file = shipped("lab/etcd-partition-leader.yaml");
    let run = tokio::spawn(async move { run_file(&file, lab, reports.path()).await });

    // While the fault holds: the isolated old leader knows no leader, the other two agree
    // on a new one in a higher term.
    let (new, new_term) = until(
        Duration::from_secs(30),
        "a new leader without the old one",
        || async {
            let v = view(lab).await;
            let isolated = v.status_of(&old)?;
            let new = v.leader().and_then(|id| v.name_of(id))?.to_string();
            (isolated.leader == 0 && new != old).then(|| (new, v.term().unwrap_or(0)))
        },
    )
    .await;
    assert!(
        new_term > term,
        "new leader {new}: term {term} → {new_term}"
    );

    let outcome = run.await.unwrap();
    let r = &outcome.report;
    assert_eq!(r.exit_code, 0, "verdict {:?}: {:?}", r.verdict, r.reason);
    let details = &r.faults[0].details;
    assert_eq!(details["leader_before"], old.as_str());
    assert_eq!(details["isolated"][0]["member"], old.as_str());
    let chain = details["chain"].as_str().unwrap();
    assert!(chain.starts_with("KUBEDRILL-PART-"));
    // The fault itself watched the election, timed from just before the rules went in.
    let change = details["leader_change_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("leader_change_ms measured: {details}"));
    let limit = details["failover_timeout_ms"].as_f64().unwrap();
    assert_eq!(limit, 30_000.0, "the default failover timeout");
    assert!(
        change > 0.0 && change < limit,
        "leader change {change} ms: {details}"
    );
    assert_eq!(details["leader_change"], "new leader", "{details}");
    assert_ne!(details["leader_after"], old.as_str(), "{details}");
    let term_before = details["term_before"].as_u64().unwrap();
    let term_after = details["term_after"].as_u64().unwrap();
    assert!(
        term_after > term_before && term_before >= term,
        "term {term_before} → {term_after}: {details}"
    );
    let samples = &r.probes[0].samples;
    assert!(samples.iter().any(|s| !s.ok), "the probe saw the election");
    assert!(
        samples.iter().any(|s| s
            .detail
            .as_ref()
            .is_some_and(|d| d["leader_changes"].as_u64() >= Some(1))),
        "the probe counted the leader change"
    );
    assert_eq!(
        iptables_all(lab),
        before,
        "heal left iptables exactly as before"
    );
    healthy_leader(lab).await;
}

#[tokio::test]
async fn partitioning_a_follower_keeps_the_leader() {
    let (_turn, lab) = LAB.turn().await;
    let before = iptables_all(lab);
    let (leader, _) = healthy_leader(lab).await;
    let reports = temp_dir();
    let root = reports.path().to_path_buf();
    let file = shipped("lab/etcd-partition-follower.yaml");
    let run = tokio::spawn(async move { run_file(&file, lab, &root).await });

    until(
        Duration::from_secs(20),
        "the fault to be injected",
        || async { journal_has(reports.path(), INJECTED).then_some(()) },
    )
    .await;
    // Cut off and past an election timeout, the follower has lost its leader; the
    // other two still agree on the same leader as before.
    until(
        Duration::from_secs(8),
        "the isolated follower to lose its leader",
        || async {
            let v = view(lab).await;
            let lost = v
                .members
                .iter()
                .any(|(_, s)| s.as_ref().is_ok_and(|s| s.leader == 0));
            lost.then_some(())
        },
    )
    .await;
    let v = view(lab).await;
    let kept = v.leader().and_then(|id| v.name_of(id)).map(str::to_string);
    assert_eq!(
        kept.as_deref(),
        Some(leader.as_str()),
        "the leader stayed during the partition"
    );

    let outcome = run.await.unwrap();
    let r = &outcome.report;
    assert_eq!(r.exit_code, 0, "verdict {:?}: {:?}", r.verdict, r.reason);
    assert_eq!(r.faults[0].details["leader_before"], leader.as_str());
    assert_ne!(
        r.faults[0].details["isolated"][0]["member"],
        leader.as_str()
    );
    let details = &r.faults[0].details;
    assert_eq!(details["leader_change"], "no change", "{details}");
    assert_eq!(details["leader_after"], leader.as_str(), "{details}");
    assert!(details["leader_change_ms"].is_null(), "{details}");
    assert_eq!(iptables_all(lab), before);
}

fn two_members_scenario(lab: &LabFixture, extra: &str) -> String {
    format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: two-of-three }}\n\
         target: {{ inventory: {}/inventory.yaml }}\n\
         steps:\n  - fault:\n      etcd-partition: {{ members: [n0, n1]{extra} }}\n    for: 5s\n",
        lab.cfg.dir.display()
    )
}

/// Runs the binary on `file` and checks it stopped at a refused fault with `code`: 2 when
/// refused before the run started, 3 when refused at its step.
fn run_refused(file: &std::path::Path, reports: &std::path::Path, code: i32) {
    run_to_end(file, reports).assert_code(code);
}

#[test]
fn the_quorum_guard_refuses_two_of_three_when_validating() {
    let text = "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: q }\n\
                steps:\n  - fault:\n      etcd-partition: { members: [n0, n1], etcd-nodes: [n0, n1, n2] }\n    for: 5s\n";
    let errs =
        kubedrill::scenario::load_str(std::path::Path::new("q.yaml"), text, &Default::default())
            .expect_err("refused");
    let text = format!("{errs:?}");
    assert!(
        text.contains("leaves 1 connected, but quorum needs 2"),
        "{text}"
    );
    let ok = "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: q }\n\
              steps:\n  - fault:\n      etcd-partition: { members: [n0, n1], etcd-nodes: [n0, n1, n2], allow-quorum-loss: true }\n    for: 5s\n";
    kubedrill::scenario::load_str(std::path::Path::new("q.yaml"), ok, &Default::default())
        .expect("allowed explicitly");
}

#[tokio::test]
async fn the_quorum_guard_refuses_two_of_three_at_prepare_and_injects_nothing() {
    let (_turn, lab) = LAB.turn().await;
    let before = iptables_all(lab);
    let dir = temp_dir();
    let file = write(dir.path(), "two.yaml", &two_members_scenario(lab, ""));
    let reports = dir.path().join("reports");
    // Refused before the run started (plan time), not after the baseline.
    run_refused(&file, &reports, 2);
    assert!(
        !journal_has(&reports, "\"entry\":\"injecting\""),
        "nothing was injected"
    );
    let report = only_report(&reports);
    assert!(
        report["reason"].as_str().unwrap().contains("quorum"),
        "{report}"
    );
    assert_eq!(iptables_all(lab), before, "iptables untouched");
}

#[tokio::test]
async fn a_partition_left_in_place_counts_against_quorum_for_the_next_one() {
    let (_turn, lab) = LAB.turn().await;
    let before = iptables_all(lab);
    healthy_leader(lab).await;
    let dir = temp_dir();
    // The first partition has no `for`: it stays until the end of the run. Each fault
    // alone isolates 1 of 3, which the static guard allows; the plan cannot tell which
    // member the second `leader` will be (node names are counted at plan time:
    // plan_etcd.rs), so the guard at the step refuses it.
    let text = format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: one-then-another }}\n\
         target: {{ inventory: {}/inventory.yaml }}\n\
         steps:\n  - id: first\n    fault:\n      etcd-partition: {{ member: leader }}\n\
         \x20 - id: second\n    fault:\n      etcd-partition: {{ member: leader }}\n    for: 5s\n",
        lab.cfg.dir.display()
    );
    let file = write(dir.path(), "two-steps.yaml", &text);
    let reports = dir.path().join("reports");
    run_refused(&file, &reports, 3);
    let run_dir = only_run_dir(&reports);
    let journal = std::fs::read_to_string(run_dir.join("journal.jsonl")).unwrap();
    let injecting: Vec<&str> = journal
        .lines()
        .filter(|l| l.contains("\"entry\":\"injecting\""))
        .collect();
    assert_eq!(injecting.len(), 1, "only the first was injected: {journal}");
    assert!(injecting[0].contains("first"), "{journal}");
    let report = read_report(&run_dir);
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.contains("quorum") && reason.contains(": partition KUBEDRILL-PART-"),
        "{reason}"
    );
    let reverts = report["reverts"].as_array().unwrap();
    assert_eq!(reverts.len(), 1, "{reverts:?}");
    assert_eq!(reverts[0]["outcome"], "reverted", "{reverts:?}");
    assert_eq!(
        iptables_all(lab),
        before,
        "the second leader never touched and the first partition healed"
    );
    healthy_leader(lab).await;
}

#[tokio::test]
async fn sigint_mid_partition_heals() {
    let (_turn, lab) = LAB.turn().await;
    let before = iptables_all(lab);
    healthy_leader(lab).await;
    let dir = temp_dir();
    let reports = dir.path().join("reports");
    let run = spawn_shipped_injected(
        "lab/etcd-partition-leader.yaml",
        lab,
        &reports,
        Duration::from_secs(30),
        "the partition to be injected",
    )
    .await;
    assert_ne!(iptables_all(lab), before, "the partition is in place");
    run.sigint();
    run.finish().assert_code(3);
    assert!(journal_has(&reports, "\"ok\":true"), "the revert ran");
    assert_eq!(iptables_all(lab), before, "healed after Ctrl-C");
    healthy_leader(lab).await;
}

#[tokio::test]
async fn a_probe_of_a_partitioned_member_is_bounded_by_its_timeout() {
    let (_turn, lab) = LAB.turn().await;
    let before = iptables_all(lab);
    healthy_leader(lab).await;
    let n2 = members(lab).into_iter().find(|m| m.node == "n2").unwrap();
    let dir = temp_dir();
    let text = format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: bounded }}\n\
         target: {{ inventory: {}/inventory.yaml }}\n\
         probes:\n  - name: n2\n    interval: 200ms\n    timeout: 400ms\n    etcd: {{ endpoints: [\"{}\"] }}\n\
         steps:\n  - wait: 1s\n  - fault:\n      etcd-partition: {{ member: n2, client-traffic: true }}\n    for: 3s\n",
        lab.cfg.dir.display(),
        n2.client
    );
    let file = write(dir.path(), "bounded.yaml", &text);
    let outcome = run_file(&file, lab, &dir.path().join("reports")).await;
    let samples = &outcome.report.probes[0].samples;
    let failed: Vec<_> = samples.iter().filter(|s| !s.ok).collect();
    assert!(failed.len() >= 3, "the cut-off member fails: {samples:?}");
    for s in samples {
        assert!(
            s.latency_ms < 500.0,
            "sample took {} ms (timeout 400ms): {:?}",
            s.latency_ms,
            s.error
        );
    }
    assert!(
        failed
            .iter()
            .any(|s| s.error.as_deref().unwrap_or("").contains("timed out")),
        "{failed:?}"
    );
    assert_eq!(iptables_all(lab), before);
}
