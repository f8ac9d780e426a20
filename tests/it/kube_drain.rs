//! The drain fault against the real lab (`seed_drain`): node A holds a DaemonSet pod, a
//! mirror pod, a StatefulSet pod with an emptyDir, an unmanaged pod and the Deployment pods
//! whose PodDisruptionBudget the real disruption controller keeps exhausted (real 429s)
//! until the test adds a replica; the real ReplicaSet and StatefulSet controllers and the
//! scheduler place the replacements on node B.

use std::time::Duration;

use serde_json::Value;

use crate::common::{kubedrill, only_run_dir, write};
use crate::kube_fixture::{
    allow_web_eviction, fault, inject, one_fault_scenario, revert_all, seed_drain, Target,
};
use crate::run_binary::{Exit, SpawnedRun};
use crate::support::kube_lab::OwnNodes;
use crate::support::poll_until;

fn seeded(name: &str) -> (OwnNodes, Target) {
    let own = OwnNodes::new(name, 2);
    seed_drain(&own);
    let target = Target::lab(&own);
    (own, target)
}

fn pods(details: &Value) -> &Vec<Value> {
    details["nodes"][0]["pods"].as_array().expect("pods")
}

fn pod<'a>(details: &'a Value, ns: &str, name: &str) -> &'a Value {
    pods(details)
        .iter()
        .find(|p| p["pod"] == format!("{ns}/{name}"))
        .unwrap_or_else(|| panic!("{name} not in {details}"))
}

/// The web pods on node A, by name.
fn web_pods(own: &OwnNodes) -> Vec<String> {
    let field = format!("spec.nodeName={}", own.nodes[0]);
    own.kubectl(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "--field-selector",
        &field,
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ])
    .split_whitespace()
    .map(str::to_string)
    .collect()
}

fn full_drain(node: &str) -> String {
    format!("drain: {{ nodes: {{ names: [{node}] }}, force: true, delete-emptydir-data: true, grace-period: 3s, retry-interval: 200ms, timeout: 60s, replacement-timeout: 30s }}")
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_skips_daemonset_and_mirror_pods_retries_real_429s_and_finds_replacements() {
    let (own, target) = seeded("drain-full");
    let (a, b) = (own.nodes[0].clone(), own.nodes[1].clone());
    let ns = own.id.clone();
    let web = web_pods(&own);
    let ctx = target.ctx();
    let spec = fault(&full_drain(&a));
    // The budget refuses for ~3 s (about 15 retries at 200 ms), then a third replica
    // becomes Ready on B and the disruption controller allows one eviction at a time.
    let drain = tokio::spawn(async move { inject(&ctx, &spec).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(own.cordoned(&a), "A is really unschedulable mid-drain");
    allow_web_eviction(&own);
    let (result, reverts) = drain.await.unwrap();
    let details = result.expect("drain succeeds");

    assert_eq!(
        own.pods_on(&a),
        ["DaemonSet/logs", "Mirror/static-a"],
        "only the DaemonSet and mirror pods stay: {details}"
    );
    let skipped: Vec<(String, String)> = details["nodes"][0]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["pod"].as_str().unwrap_or_default().to_string(),
                s["skipped"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        skipped.iter().any(|(_, why)| why == "DaemonSet-managed"),
        "{skipped:?}"
    );
    assert!(
        skipped.iter().any(|(_, why)| why == "mirror pod"),
        "{skipped:?}"
    );
    // The first web pod met the real disruption controller's 429s until the third replica
    // was Ready; every refusal names the budget.
    let retries: Vec<u64> = web
        .iter()
        .map(|w| pod(&details, &ns, w)["retries"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        retries.iter().max().copied().unwrap_or(0) >= 3,
        "refused several times: {retries:?}: {details}"
    );
    for w in &web {
        let p = pod(&details, &ns, w);
        if p["retries"].as_u64().unwrap_or(0) > 0 {
            assert!(
                p["last_refusal"]
                    .as_str()
                    .unwrap()
                    .contains("disruption budget"),
                "{p}"
            );
        }
    }
    // Replacements from the real controllers, on B, Ready; none for the unmanaged pod.
    for name in web.iter().map(String::as_str).chain(["cache-0"]) {
        let p = pod(&details, &ns, name);
        let replacement = &p["replacement"];
        assert_eq!(replacement["node"], b.as_str(), "{p}");
        let full_name = replacement["pod"].as_str().expect("replacement pod");
        let (_, rname) = full_name.split_once('/').unwrap();
        // The reported Ready time is the server's (the Ready condition's transition,
        // which has second precision), within one poll.
        let reported: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(replacement["ready_at"].clone()).expect("ready_at");
        let truth = own.kubectl(&[
            "get",
            "pod",
            rname,
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="Ready")].lastTransitionTime}"#,
        ]);
        let truth: chrono::DateTime<chrono::Utc> = truth.trim().parse().expect("Ready time");
        let off = (reported - truth).num_milliseconds();
        assert!(
            (-200..=1200).contains(&off),
            "ready_at {reported} vs server {truth}: {p}"
        );
        assert!(
            p["gone_at"].is_string() && p["eviction_requested_at"].is_string(),
            "{p}"
        );
    }
    assert_eq!(
        pod(&details, &ns, "cache-0")["replacement"]["pod"],
        format!("{ns}/cache-0")
    );
    assert!(pod(&details, &ns, "lonely")["replacement"].is_null());
    assert!(own.pods_on(&b).contains(&"StatefulSet/cache".to_string()));

    revert_all(&target.ctx(), &reverts).await;
    assert!(!own.cordoned(&a), "the revert uncordoned A");
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_refuses_unmanaged_and_emptydir_pods_before_touching_anything() {
    let (own, target) = seeded("drain-refuse");
    let a = &own.nodes[0];
    let before = own
        .lab
        .kubectl(&["get", "node", a, "-o", "jsonpath={.spec}"]);
    let pods_before = own.pods_on(a);
    let spec = fault(&format!("drain: {{ nodes: {{ names: [{a}] }} }}"));
    let err = match spec.prepare(target.ctx()).await {
        Ok(p) => panic!("prepared: {}", p.describe()),
        Err(e) => e.to_string(),
    };
    let ns = &own.id;
    assert!(
        err.contains(&format!("{ns}/lonely")) && err.contains("`force: true`"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{ns}/cache-0")) && err.contains("`delete-emptydir-data: true`"),
        "{err}"
    );
    // prepare is read-only: the node's spec is unchanged, every pod still there.
    let after = own
        .lab
        .kubectl(&["get", "node", a, "-o", "jsonpath={.spec}"]);
    assert_eq!(before, after, "the node's spec is unchanged");
    assert_eq!(own.pods_on(a), pods_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn disable_eviction_deletes_and_ignores_the_budget() {
    let (own, target) = seeded("drain-delete");
    let a = own.nodes[0].clone();
    let spec = fault(&format!("drain: {{ nodes: {{ names: [{a}] }}, force: true, delete-emptydir-data: true, disable-eviction: true, grace-period: 4s, replacement-timeout: 0s }}"));
    let (result, reverts) = inject(&target.ctx(), &spec).await;
    let details = result.expect("drain");
    for p in pods(&details) {
        assert_eq!(
            p["retries"].as_u64().unwrap_or(0),
            0,
            "no 429 on delete: {p}"
        );
    }
    assert!(poll_until(Duration::from_secs(20), || own.pods_on(&a)
        == ["DaemonSet/logs", "Mirror/static-a"]));
    revert_all(&target.ctx(), &reverts).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drain_timeout_fails_the_run_and_the_rollback_uncordons() {
    let (own, target) = seeded("drain-timeout");
    let a = own.nodes[0].clone();
    let ns = own.id.clone();
    let yaml = one_fault_scenario(
        "drain-timeout",
        &format!("drain: {{ nodes: {{ names: [{a}] }}, force: true, delete-emptydir-data: true, timeout: 3s, retry-interval: 200ms }}"),
        "10s",
    );
    let out = target.run(&yaml, &[]).await;
    assert_eq!(out.report.exit_code, 3);
    let reason = out.report.reason.clone().unwrap_or_default();
    assert!(reason.contains("did not finish within 3s"), "{reason}");
    let per_pod = |name: &str| {
        reason
            .split("; ")
            .find(|p| p.starts_with(&format!("{ns}/{name}")))
            .unwrap_or_else(|| panic!("{name} not reported: {reason}"))
            .to_string()
    };
    // The budget (real 429s) kept the web pods; the others are gone.
    for w in web_pods(&own) {
        let web = per_pod(&w);
        assert!(
            web.contains("refused ")
                && web.contains("disruption budget")
                && web.ends_with("still there"),
            "{web}"
        );
    }
    for name in ["cache-0", "lonely"] {
        let p = per_pod(name);
        assert!(
            p.contains("eviction requested ") && p.contains("gone after "),
            "{p}"
        );
    }
    assert!(reason.contains("2 of 4 pod(s) still there"), "{reason}");
    assert!(!own.cordoned(&a), "the rollback uncordoned A");
    assert_eq!(out.report.reverts.len(), 1);
    assert_eq!(out.report.reverts[0].outcome, "reverted");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_mid_drain_uncordons_and_exits_3() {
    let (own, target) = seeded("drain-sigint");
    let a = own.nodes[0].clone();
    let scenario = one_fault_scenario(
        "drain-sigint",
        &format!("drain: {{ nodes: {{ names: [{a}] }}, force: true, delete-emptydir-data: true, timeout: 60s, retry-interval: 200ms }}"),
        "60s",
    );
    let file = write(target.dir.path(), "s.yaml", &scenario);
    let reports = target.dir.path().join("reports");
    let run = SpawnedRun::start(
        &file,
        &reports,
        &["--kubeconfig", target.kubeconfig.to_str().unwrap()],
    );
    // Mid-drain: A cordoned and the budget keeping the web pods (the others gone).
    let mid = poll_until(Duration::from_secs(30), || {
        own.cordoned(&a) && !own.pods_on(&a).contains(&"Pod/lonely".to_string())
    });
    assert!(mid, "the drain started: {:?}", own.pods_on(&a));
    run.sigint();
    let exit = tokio::task::spawn_blocking(|| run.finish()).await.unwrap();
    exit.assert_code(3);
    assert!(!own.cordoned(&a), "the rollback uncordoned A");
    assert!(only_run_dir(&reports).join("report.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_lists_the_pods_a_drain_would_touch_and_changes_nothing() {
    let (own, target) = seeded("drain-plan");
    let a = own.nodes[0].clone();
    let before = own.pods_on(&a);
    let scenario = one_fault_scenario(
        "drain-plan",
        &format!("drain: {{ nodes: {{ names: [{a}] }}, force: true, delete-emptydir-data: true }}"),
        "10s",
    );
    let file = write(target.dir.path(), "s.yaml", &scenario);
    let kubeconfig = target.kubeconfig.clone();
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
    let ns = &own.id;
    for expected in [
        format!("{ns}/web-"),
        format!("{ns}/cache-0"),
        format!("{ns}/lonely"),
        "mirror pod".into(),
        "DaemonSet-managed".into(),
        format!("uncordon node {a}"),
    ] {
        assert!(text.contains(&expected), "plan lacks {expected}:\n{text}");
    }
    assert!(!own.cordoned(&a), "plan is read-only");
    assert_eq!(own.pods_on(&a), before);
}
