//! Kubernetes probes against the fake API server: outages and recoveries measured against
//! ground truth the test controls (an outage it drives, controller delays it configures).

use std::sync::Arc;
use std::time::{Duration, Instant};

use kubedrill::probes::{ProbeSpec, Sampler};
use kubedrill::report::ProbeRecord;

use crate::kube_fixture::{scenario_head, FakeCluster};
use crate::support::fake_kube::{ControllerTiming, LeaseSeed, NodeSeed, WorkloadSeed};
use crate::support::poll_until;

fn probe(yaml: &str) -> ProbeSpec {
    let value: serde_json::Value = serde_yaml::from_str(yaml).expect("YAML");
    serde_json::from_value(value).unwrap_or_else(|e| panic!("probe spec: {e}"))
}

fn sampler(c: &FakeCluster, yaml: &str, timeout: Duration) -> Box<dyn Sampler> {
    probe(yaml).build(&c.ctx(), timeout).expect("probe builds")
}

fn only_outage_ms(p: &ProbeRecord) -> f64 {
    let outages = &p.measurements.outages;
    assert_eq!(outages.len(), 1, "one outage: {outages:?}");
    assert!(outages[0].end_ms.is_some(), "the outage ended: {outages:?}");
    outages[0].length_ms
}

#[tokio::test(flavor = "multi_thread")]
async fn api_probe_measures_an_outage_within_one_interval() {
    let c = FakeCluster::start();
    c.fake.add_node(NodeSeed::worker("w-1"));
    let yaml = format!(
        "{}probes:\n  - name: api\n    interval: 100ms\n    timeout: 500ms\n    api: {{ list-latency: true }}\nsteps:\n  - wait: 2500ms\n",
        scenario_head("api-outage")
    );
    let outage = Duration::from_millis(1000);
    let fake = &c.fake;
    let (out, _) = tokio::join!(c.run(&yaml, &[]), async {
        let probing = || {
            fake.requests()
                .iter()
                .any(|r| r.path == "/readyz" && r.status == Some(200))
        };
        let fake_ref = fake;
        tokio::task::block_in_place(|| {
            assert!(
                poll_until(Duration::from_secs(5), probing),
                "the probe started"
            );
            std::thread::sleep(Duration::from_millis(300));
            fake_ref.set_unavailable(true);
            std::thread::sleep(outage); // the outage itself: its length is the ground truth
            fake_ref.set_unavailable(false);
        });
    });
    let api = &out.report.probes[0];
    let measured = only_outage_ms(api);
    let truth = outage.as_millis() as f64;
    // Sampling every 100 ms bounds the error by one interval (plus scheduling jitter).
    assert!(
        (measured - truth).abs() <= 100.0 + 30.0,
        "measured {measured} ms for a {truth} ms outage"
    );
    let ok = api.samples.iter().find(|s| s.ok).expect("healthy samples");
    let detail = ok.detail.as_ref().expect("detail");
    assert!(
        detail["latency_ms"].is_u64() && detail["list_ms"].is_u64(),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_api_is_bounded_by_the_probe_timeout() {
    let c = FakeCluster::start();
    let api = sampler(&c, "api: {}", Duration::from_millis(400));
    api.sample().await.expect("healthy before the hang");
    c.fake.set_hang(true);
    let started = Instant::now();
    let err = api
        .sample()
        .await
        .expect_err("a hanging API is not healthy");
    let elapsed = started.elapsed();
    assert!(
        err.contains("timed out") || err.contains("timeout"),
        "{err}"
    );
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_millis(900),
        "bounded by the 400ms timeout: {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn workload_probe_measures_replica_recovery_against_the_controller_delay() {
    let c = FakeCluster::start();
    for n in ["w-1", "w-2", "w-3"] {
        c.fake.add_node(NodeSeed::worker(n));
    }
    c.fake.add_workload_with_pods(
        &WorkloadSeed::deployment("default", "web", 3),
        &["w-1", "w-2", "w-3"],
    );
    let (recreate, ready) = (Duration::from_millis(500), Duration::from_millis(500));
    c.fake.set_timing(ControllerTiming {
        recreate_delay: recreate,
        ready_delay: ready,
        ..ControllerTiming::default()
    });
    let yaml = format!(
        "{}probes:\n  - name: web\n    interval: 50ms\n    timeout: 500ms\n    workload: {{ kind: deployment, namespace: default, name: web, spread: node }}\nsteps:\n  - wait: 300ms\n  - fault:\n      pod-delete: {{ namespace: default, selector: app=web, count: 1, grace-period: 0s }}\n    for: 10ms\n  - wait-until: {{ healthy: [web], stable-for: 300ms, timeout: 10s }}\n",
        scenario_head("web-recovery")
    );
    let out = c.run(&yaml, &[]).await;
    assert_eq!(out.report.exit_code, 0, "{:?}", out.report.reason);
    let web = &out.report.probes[0];
    let measured = only_outage_ms(web);
    let truth = (recreate + ready).as_millis() as f64;
    // One probe interval (50 ms) plus two ticks of the fake's controllers (25 ms each).
    assert!(
        (measured - truth).abs() <= 100.0,
        "measured {measured} ms, controller delay {truth} ms"
    );
    let failed = web.samples.iter().find(|s| !s.ok).unwrap();
    assert_eq!(failed.error.as_deref(), Some("2/3 replicas Ready"));
    assert!(
        web.measurements
            .time_to_detect_ms
            .is_some_and(|t| t <= 100.0),
        "{:?}",
        web.measurements.time_to_detect_ms
    );
    assert_eq!(
        out.report.reverts[0].outcome, "reverted",
        "the revert waited until 3 pods were Ready"
    );
}

/// A fake with one worker `w-1` running both Ready pods of Deployment `default/web`.
fn web_twice_on_w1() -> FakeCluster {
    let c = FakeCluster::start();
    c.fake.add_node(NodeSeed::worker("w-1"));
    c.fake.add_workload_with_pods(
        &WorkloadSeed::deployment("default", "web", 2),
        &["w-1", "w-1"],
    );
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn workload_spread_check_names_two_replicas_on_one_node() {
    let c = web_twice_on_w1();
    let yaml = "workload: { kind: deployment, namespace: default, name: web, spread: node }";
    let err = sampler(&c, yaml, Duration::from_secs(2))
        .sample()
        .await
        .unwrap_err();
    assert!(err.contains("share node w-1"), "{err}");
    let no_spread = "workload: { kind: deployment, namespace: default, name: web }";
    sampler(&c, no_spread, Duration::from_secs(2))
        .sample()
        .await
        .expect("2/2 Ready");
}

#[tokio::test(flavor = "multi_thread")]
async fn pods_running_is_never_healthy_on_an_empty_match() {
    let c = web_twice_on_w1();
    let none = sampler(
        &c,
        "pods-running: { namespace: default, selector: app=nope }",
        Duration::from_secs(2),
    );
    assert!(none
        .sample()
        .await
        .unwrap_err()
        .contains("no pod matches app=nope"));
    let two = sampler(
        &c,
        "pods-running: { namespace: default, selector: app=web, min: 2 }",
        Duration::from_secs(2),
    );
    two.sample().await.expect("2 running");
    let three = sampler(
        &c,
        "pods-running: { namespace: default, selector: app=web, min: 3 }",
        Duration::from_secs(2),
    );
    assert!(three.sample().await.unwrap_err().contains("2 of 2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn node_ready_names_the_nodes_that_are_not_ready() {
    let c = FakeCluster::start();
    c.fake.add_node(NodeSeed::control_plane("cp-1"));
    c.fake.add_node(NodeSeed::worker("w-1"));
    c.fake.add_node(NodeSeed::worker("w-2"));
    let workers = sampler(
        &c,
        "node-ready: { nodes: { role: worker } }",
        Duration::from_secs(2),
    );
    workers.sample().await.expect("all Ready");
    c.fake.set_node_ready("w-2", false);
    let err = workers.sample().await.unwrap_err();
    assert!(err.contains("1/2") && err.contains("w-2"), "{err}");
    let one = sampler(
        &c,
        "node-ready: { nodes: { role: worker }, min-ready: 1 }",
        Duration::from_secs(2),
    );
    one.sample().await.expect("one Ready is enough");
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_probe_reports_the_holder_and_the_failover_time() {
    let c = FakeCluster::start();
    c.fake.add_lease(LeaseSeed::new(
        "kube-system",
        "kube-controller-manager",
        "cp-1",
    ));
    let lease: Arc<dyn Sampler> = sampler(
        &c,
        "lease: { name: kube-controller-manager }",
        Duration::from_secs(2),
    )
    .into();
    let first = lease.sample().await.expect("held").unwrap();
    assert_eq!(first["holder"], "cp-1");
    assert!(first.get("failover").is_none());
    c.fake.renew_lease("kube-system", "kube-controller-manager");
    lease.sample().await.expect("still held");
    let renewed = Instant::now();
    let gap = Duration::from_millis(400);
    tokio::time::sleep(gap).await; // leaderless on purpose: the failover's ground truth
    c.fake
        .set_lease_holder("kube-system", "kube-controller-manager", "cp-2");
    let truth = renewed.elapsed().as_millis() as i64;
    let changed = lease.sample().await.expect("new holder").unwrap();
    assert_eq!(changed["holder"], "cp-2");
    assert_eq!(changed["failover"]["from"], "cp-1");
    let failover = changed["failover"]["failover_ms"].as_i64().unwrap();
    assert!(
        (failover - truth).abs() <= 20,
        "failover {failover} ms, truth {truth} ms"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_freshness_follows_renewals_not_the_holders_clock() {
    let c = FakeCluster::start();
    let mut seed = LeaseSeed::new("kube-system", "scheduler", "cp-1");
    seed.duration_seconds = 1;
    c.fake.add_lease(seed);
    let lease = sampler(&c, "lease: { name: scheduler }", Duration::from_secs(2));
    // The holder's clock is an hour behind: still healthy while it keeps renewing.
    let skew = chrono::Duration::hours(-1);
    for _ in 0..4 {
        c.fake.renew_lease_skewed("kube-system", "scheduler", skew);
        let ok = lease
            .sample()
            .await
            .expect("renewed, whatever its clock says");
        assert_eq!(ok.unwrap()["holder"], "cp-1");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // Renewals stop: unhealthy once a full lease duration passes without one.
    let stopped = Instant::now();
    lease.sample().await.expect("not overdue yet");
    let err = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Err(e) = lease.sample().await {
            break e;
        }
        assert!(stopped.elapsed() < Duration::from_secs(3), "never overdue");
    };
    assert!(
        stopped.elapsed() >= Duration::from_millis(1000 - 400),
        "overdue only after the 1s duration: {:?}",
        stopped.elapsed()
    );
    assert!(err.contains("not renewed"), "{err}");
    // A new holder is a renewal: healthy again, with the failover.
    c.fake.set_lease_holder("kube-system", "scheduler", "cp-2");
    let back = lease.sample().await.expect("new holder").unwrap();
    assert_eq!(back["failover"]["from"], "cp-1");
    assert_eq!(back["failover"]["to"], "cp-2");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kubeconfig_token_never_reaches_the_run_directory() {
    let c = FakeCluster::start();
    let token = "kubedrill-test-s3cret-token";
    c.fake.write_kubeconfig_with_token(c.dir.path(), token);
    c.fake.add_node(NodeSeed::worker("w-1"));
    c.fake.set_unavailable(true);
    let yaml = format!(
        "{}probes:\n  - name: api\n    interval: 50ms\n    timeout: 500ms\n    api: {{}}\nsteps:\n  - fault:\n      cordon: {{ nodes: {{ names: [w-1] }} }}\n    for: 10ms\n",
        scenario_head("token")
    );
    let out = c.run(&yaml, &[]).await;
    assert_eq!(out.report.exit_code, 3, "the API is down: the cordon fails");
    assert!(
        c.fake.requests().iter().all(|r| r.authorization_present),
        "the token was used"
    );
    for entry in std::fs::read_dir(&out.run_dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        assert!(
            !text.contains(token),
            "{} holds the token",
            entry.path().display()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pod_delete_by_name_waits_for_the_replacement_to_be_ready() {
    let c = FakeCluster::start();
    for n in ["w-1", "w-2", "w-3"] {
        c.fake.add_node(NodeSeed::worker(n));
    }
    let pods = c.fake.add_workload_with_pods(
        &WorkloadSeed::deployment("default", "web", 3),
        &["w-1", "w-2", "w-3"],
    );
    let recreate = Duration::from_secs(1);
    c.fake.set_timing(ControllerTiming {
        recreate_delay: recreate,
        ..ControllerTiming::default()
    });
    let victim = pods[0].metadata.name.clone().expect("named");
    let ctx = c.ctx();
    let spec = crate::kube_fixture::fault(&format!(
        "pod-delete: {{ namespace: default, name: {victim}, grace-period: 0s }}"
    ));
    let started = Instant::now();
    let (injected, reverts) = crate::kube_fixture::inject(&ctx, &spec).await;
    injected.expect("deleted");
    crate::kube_fixture::revert_all(&ctx, &reverts).await;
    let waited = started.elapsed();
    let ready = c.fake.pods().iter().filter(|p| is_ready(p)).count();
    assert_eq!(ready, 3, "the revert ended with the replacement Ready");
    assert!(
        waited >= recreate,
        "the revert waited for the controller ({recreate:?}), not {waited:?}"
    );
}

fn is_ready(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    pod.metadata.deletion_timestamp.is_none()
        && conditions
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}
