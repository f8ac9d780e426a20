//! The drain fault against the fake API server, seeded with `seed_drain_scenario`: node-a
//! holds a DaemonSet pod, a mirror pod, a StatefulSet pod with an emptyDir, an unmanaged pod
//! and a Deployment pod whose disruption budget is exhausted for `WEB_READY_AFTER`.

use std::time::Duration;

use serde_json::Value;

use crate::common::{kubedrill, only_run_dir, wait_for, write};
use crate::kube_fixture::{
    cordoned, eventually, fault, inject, one_fault_scenario, revert_all, writes, FakeCluster,
};
use crate::run_binary::{Exit, SpawnedRun};
use crate::support::scenarios::seed_drain_scenario;

fn seeded() -> FakeCluster {
    let c = FakeCluster::start();
    seed_drain_scenario(&c.fake);
    c
}

/// The pods left on `node`, named by owner (as `EndState` does).
fn left_on(c: &FakeCluster, node: &str) -> Vec<String> {
    c.fake.end_state().pods_by_node[node].clone()
}

fn pod<'a>(details: &'a Value, name: &str) -> &'a Value {
    let pods = details["nodes"][0]["pods"].as_array().expect("pods");
    pods.iter()
        .find(|p| p["pod"] == format!("default/{name}"))
        .unwrap_or_else(|| panic!("{name} not in {pods:?}"))
}

const FULL_DRAIN: &str = "drain: { nodes: { names: [node-a] }, force: true, delete-emptydir-data: true, grace-period: 3s, retry-interval: 200ms, timeout: 30s, replacement-timeout: 10s }";

#[tokio::test(flavor = "multi_thread")]
async fn drain_skips_daemonset_and_mirror_pods_retries_the_budget_and_sends_the_grace_period() {
    let c = seeded();
    let ctx = c.ctx();
    let (result, reverts) = inject(&ctx, &fault(FULL_DRAIN)).await;
    let details = result.expect("drain succeeds");
    assert!(cordoned(&c.fake, "node-a"));
    assert_eq!(left_on(&c, "node-a"), ["DaemonSet/logs", "Node/node-a"]);

    let skipped: Vec<(String, String)> = details["nodes"][0]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["owner"].as_str().unwrap().to_string(),
                s["skipped"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        skipped.contains(&("DaemonSet/logs".into(), "DaemonSet-managed".into())),
        "{skipped:?}"
    );
    assert!(
        skipped.contains(&("Node/node-a".into(), "mirror pod".into())),
        "{skipped:?}"
    );

    // Retries counted by kubedrill are exactly the 429s the server answered.
    let evictions = c.fake.evictions();
    let refused = evictions
        .iter()
        .filter(|e| e.pod == "web-on-a" && e.code == 429)
        .count();
    let web = pod(&details, "web-on-a");
    assert!(refused >= 3, "the budget refused several times: {refused}");
    assert_eq!(web["retries"].as_u64(), Some(refused as u64));
    assert!(
        web["last_refusal"]
            .as_str()
            .unwrap()
            .contains("disruption budget"),
        "{web}"
    );
    // The grace period reached the server where policy/v1 reads it, in every eviction.
    for e in &evictions {
        assert!(e.delete_options_present, "{e:?}");
        assert_eq!(e.grace_period_seconds, Some(3), "{e:?}");
        assert!(e.misplaced_grace_keys.is_empty(), "{e:?}");
    }
    // Replacements: where and when, never on the drained node; none for the unmanaged pod.
    for name in ["web-on-a", "cache-0"] {
        let p = pod(&details, name);
        let replacement = &p["replacement"];
        assert!(
            replacement["node"].is_string() && replacement["node"] != "node-a",
            "{p}"
        );
        // The reported Ready time is the server's, within one poll (200 ms) of the truth.
        let reported: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(replacement["ready_at"].clone()).expect("ready_at");
        let full_name = replacement["pod"].as_str().expect("replacement pod");
        let truth = c
            .fake
            .became_ready(full_name)
            .expect("the fake made it Ready");
        let off = (reported - truth).num_milliseconds().abs();
        assert!(off <= 200 + 50, "ready_at {reported} vs truth {truth}: {p}");
        assert!(
            p["gone_at"].is_string() && p["eviction_requested_at"].is_string(),
            "{p}"
        );
    }
    assert_eq!(
        pod(&details, "cache-0")["replacement"]["pod"],
        "default/cache-0"
    );
    assert!(pod(&details, "lonely")["replacement"].is_null());

    revert_all(&ctx, &reverts).await;
    assert!(!cordoned(&c.fake, "node-a"));
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_refuses_unmanaged_and_emptydir_pods_before_touching_anything() {
    let c = seeded();
    let spec = fault("drain: { nodes: { names: [node-a] } }");
    let err = match spec.prepare(c.ctx()).await {
        Ok(p) => panic!("prepared: {}", p.describe()),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("default/lonely") && err.contains("`force: true`"),
        "{err}"
    );
    assert!(
        err.contains("default/cache-0") && err.contains("`delete-emptydir-data: true`"),
        "{err}"
    );
    assert_eq!(
        writes(&c.fake),
        Vec::<String>::new(),
        "prepare is read-only"
    );
    assert!(!cordoned(&c.fake, "node-a"));
}

#[tokio::test(flavor = "multi_thread")]
async fn disable_eviction_deletes_with_the_grace_period_and_ignores_the_budget() {
    let c = seeded();
    let spec = fault("drain: { nodes: { names: [node-a] }, force: true, delete-emptydir-data: true, disable-eviction: true, grace-period: 4s, replacement-timeout: 0s }");
    let (result, _) = inject(&c.ctx(), &spec).await;
    result.expect("drain");
    assert!(c.fake.evictions().is_empty());
    let deletions = c.fake.deletions();
    assert_eq!(deletions.len(), 3, "{deletions:?}");
    assert!(deletions
        .iter()
        .all(|d| d.grace_period_seconds() == Some(4) && !d.via_eviction));
    assert_eq!(left_on(&c, "node-a"), ["DaemonSet/logs", "Node/node-a"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drain_timeout_fails_the_run_and_the_rollback_uncordons() {
    let c = seeded();
    let yaml = one_fault_scenario(
        "drain-timeout",
        "drain: { nodes: { names: [node-a] }, force: true, delete-emptydir-data: true, timeout: 1s, retry-interval: 100ms }",
        "10s",
    );
    let out = c.run(&yaml, &[]).await;
    assert_eq!(out.report.exit_code, 3);
    let reason = out.report.reason.clone().unwrap_or_default();
    assert!(reason.contains("did not finish within 1s"), "{reason}");
    // Every evicted pod's outcome so far is in the reason: the budget kept web-on-a, the
    // others are gone.
    let per_pod = |name: &str| {
        reason
            .split("; ")
            .find(|p| p.starts_with(&format!("default/{name}: ")))
            .unwrap_or_else(|| panic!("{name} not reported: {reason}"))
            .to_string()
    };
    let web = per_pod("web-on-a");
    assert!(
        web.contains("eviction requested ")
            && web.contains("refused ")
            && web.contains("last refusal: ")
            && web.contains("disruption budget")
            && web.ends_with("still there"),
        "{web}"
    );
    // Each counted refusal is a 429 the server sent (one more may have been in flight
    // when the drain gave up).
    let refused = c
        .fake
        .evictions()
        .iter()
        .filter(|e| e.pod == "web-on-a" && e.code == 429)
        .count();
    let counted: usize = web
        .split("refused ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no refusal count: {web}"));
    assert!(
        counted >= 1 && counted <= refused,
        "{counted} of {refused}: {web}"
    );
    for name in ["cache-0", "lonely"] {
        let p = per_pod(name);
        assert!(
            p.contains("eviction requested ") && p.contains("gone after "),
            "{p}"
        );
    }
    assert!(reason.contains("1 of 3 pod(s) still there"), "{reason}");
    assert!(
        !cordoned(&c.fake, "node-a"),
        "the rollback uncordoned node-a"
    );
    assert_eq!(out.report.reverts.len(), 1);
    assert_eq!(out.report.reverts[0].outcome, "reverted");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_mid_drain_uncordons_and_exits_3() {
    let c = seeded();
    let scenario = one_fault_scenario(
        "drain-sigint",
        "drain: { nodes: { names: [node-a] }, force: true, delete-emptydir-data: true, timeout: 60s, retry-interval: 100ms }",
        "60s",
    );
    let file = write(c.dir.path(), "s.yaml", &scenario);
    let reports = c.dir.path().join("reports");
    let run = SpawnedRun::start(
        &file,
        &reports,
        &["--kubeconfig", c.kubeconfig.to_str().unwrap()],
    );
    // Mid-drain: node-a cordoned and the budget refusing web-on-a.
    let fake = &c.fake;
    eventually(
        Duration::from_secs(20),
        "the drain to be refused by the budget",
        || async { fake.evictions().iter().any(|e| e.code == 429) },
    )
    .await;
    assert!(cordoned(fake, "node-a"));
    run.sigint();
    let exit = tokio::task::spawn_blocking(|| run.finish()).await.unwrap();
    exit.assert_code(3);
    assert!(!cordoned(fake, "node-a"), "the rollback uncordoned node-a");
    wait_for(Duration::from_secs(1), "the report", || {
        only_run_dir(&reports).join("report.json").exists()
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_lists_the_pods_a_drain_would_touch_and_changes_nothing() {
    let c = seeded();
    let scenario = one_fault_scenario(
        "drain-plan",
        "drain: { nodes: { names: [node-a] }, force: true, delete-emptydir-data: true }",
        "10s",
    );
    let file = write(c.dir.path(), "s.yaml", &scenario);
    let kubeconfig = c.kubeconfig.clone();
    let out = tokio::task::spawn_blocking(move || {
        Exit::of(
            kubedrill()
                .args(["plan", file.to_str().unwrap(), "--kubeconfig"])
                .arg(kubeconfig),
        )
    })
    .await
    .unwrap();
    out.assert_code(0);
    let text = out.stdout + &out.stderr;
    for expected in [
        "default/web-on-a",
        "default/cache-0",
        "default/lonely",
        "mirror pod",
        "DaemonSet-managed",
        "uncordon node node-a",
    ] {
        assert!(text.contains(expected), "plan lacks {expected}:\n{text}");
    }
    assert_eq!(writes(&c.fake), Vec::<String>::new(), "plan is read-only");
}
