//! Kubernetes probes against the real lab: the api probe per apiserver endpoint (found from
//! the real control-plane nodes, through the lab CA) while the test cuts one endpoint,
//! node-ready while a node's kubelet (its kwok) is stopped, workload and pods-running on
//! pods the real controllers run (and through a rollout), the lease probe on the real
//! controller-manager's Lease and on a Lease the test renews itself (failover timed on
//! kubedrill's clock, releases), and pod-delete waiting for the real ReplicaSet
//! controller's replacement.

use std::process::Command;
use std::time::{Duration, Instant};

use kubedrill::probes::{ProbeSpec, Sampler};
use kubedrill::report::ProbeRecord;

use crate::kube_fixture::{fault, inject, revert_all, scenario_head, Target};
use crate::support::kube_lab::OwnNodes;
use crate::support::poll_until;

fn probe(yaml: &str) -> ProbeSpec {
    let value: serde_json::Value = serde_yaml::from_str(yaml).expect("YAML");
    serde_json::from_value(value).unwrap_or_else(|e| panic!("probe spec: {e}"))
}

fn sampler(t: &Target, yaml: &str, timeout: Duration) -> Box<dyn Sampler> {
    probe(yaml).build(&t.ctx(), timeout).expect("probe builds")
}

fn only_outage_ms(p: &ProbeRecord) -> f64 {
    let outages = &p.measurements.outages;
    assert_eq!(outages.len(), 1, "one outage: {outages:?}");
    assert!(outages[0].end_ms.is_some(), "the outage ended: {outages:?}");
    outages[0].length_ms
}

/// Deployment `web` with `replicas` pods on the test's nodes.
fn web(own: &OwnNodes, replicas: usize) {
    own.lab.apply(&format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: web, namespace: {ns} }}\nspec:\n  replicas: {replicas}\n  selector: {{ matchLabels: {{ app: web }} }}\n  template:\n    metadata: {{ labels: {{ app: web }} }}\n    spec:\n      {place}\n      containers: [{{ name: c, image: fake }}]\n",
        ns = own.id,
        place = own.placement()
    ));
    let ready = poll_until(Duration::from_secs(30), || {
        own.kubectl(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ])
        .trim()
            == replicas.to_string()
    });
    assert!(ready, "web has {replicas} Ready replicas");
}

/// `iptables` in the network namespace of lab node `node`.
fn iptables_in(own: &OwnNodes, node: &str, args: &[&str]) {
    let ns = own.lab.var(&format!("{node}_netns"));
    let ok = Command::new("ip")
        .args(["netns", "exec", ns, "iptables"])
        .args(args)
        .status()
        .unwrap()
        .success();
    assert!(ok, "iptables {args:?} in {ns}");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_probe_per_endpoint_measures_a_cut_apiserver_within_one_interval() {
    let own = OwnNodes::new("probe-api", 0);
    let t = Target::lab(&own);
    let n0 = own.lab.var("n0_addr").to_string();
    // The host's address towards n0: the cut drops only the test's own connections, so the
    // load balancer and the controllers keep using n0's apiserver.
    let route = Command::new("ip")
        .args(["-o", "route", "get", &n0])
        .output()
        .unwrap();
    let route = String::from_utf8_lossy(&route.stdout).into_owned();
    let host = route
        .split_whitespace()
        .skip_while(|w| *w != "src")
        .nth(1)
        .expect("src address")
        .to_string();
    let rule = [
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        "6443",
        "-s",
        &host,
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ];
    let yaml = format!(
        "{}probes:\n  - name: api\n    interval: 100ms\n    timeout: 1s\n    api: {{ discover-endpoints: true }}\n  - name: lb\n    interval: 100ms\n    timeout: 1s\n    api: {{ list-latency: true }}\nsteps:\n  - wait: 4s\n",
        scenario_head("api-outage")
    );
    let outage = Duration::from_millis(1500);
    let (out, _) = tokio::join!(t.run(&yaml, &[]), async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut insert = vec!["-I"];
        insert.extend(rule);
        iptables_in(&own, "n0", &insert);
        tokio::time::sleep(outage).await; // the cut itself: its length is the ground truth
        let mut delete = vec!["-D"];
        delete.extend(rule);
        iptables_in(&own, "n0", &delete);
    });
    let api = out.report.probes.iter().find(|p| p.name == "api").unwrap();
    let measured = only_outage_ms(api);
    let truth = outage.as_millis() as f64;
    // Sampling every 100 ms bounds the error by one interval, plus iptables' own time
    // and a TLS handshake after the heal.
    assert!(
        (measured - truth).abs() <= 100.0 + 150.0,
        "measured {measured} ms for a {truth} ms cut"
    );
    let failed = api.samples.iter().find(|s| !s.ok).expect("failed samples");
    let error = failed.error.clone().unwrap_or_default();
    assert!(error.contains(&n0), "names the cut endpoint: {error}");
    let ok = api.samples.iter().find(|s| s.ok).expect("healthy samples");
    let detail = ok.detail.as_ref().expect("detail").to_string();
    for n in ["n0", "n1", "n2"] {
        let addr = own.lab.var(&format!("{n}_addr"));
        assert!(detail.contains(addr), "all three apiservers: {detail}");
    }
    // Through the load balancer the API stayed up: HAProxy's other backends answered.
    let lb = out.report.probes.iter().find(|p| p.name == "lb").unwrap();
    assert!(lb.measurements.outages.is_empty(), "{:?}", lb.measurements);
    let ok = lb.samples.iter().find(|s| s.ok).expect("healthy samples");
    let detail = ok.detail.as_ref().expect("detail");
    assert!(
        detail["latency_ms"].is_u64() && detail["list_ms"].is_u64(),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn node_ready_names_the_node_whose_kubelet_stopped() {
    let mut own = OwnNodes::new("probe-node", 2);
    let t = Target::lab(&own);
    let selector = format!(
        "node-ready: {{ nodes: {{ selector: kubedrill.io/owner={} }} }}",
        own.id
    );
    let nodes = sampler(&t, &selector, Duration::from_secs(2));
    nodes.sample().await.expect("all Ready");
    own.stop_kubelet(1);
    let stopped = Instant::now();
    // NotReady once the controller-manager's node-monitor grace period (20 s in the lab)
    // passes without a heartbeat.
    let err = loop {
        if let Err(e) = nodes.sample().await {
            break e;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(40),
            "never NotReady"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        stopped.elapsed() >= Duration::from_secs(15),
        "not before the grace period: {:?}",
        stopped.elapsed()
    );
    let down = &own.nodes[1];
    assert!(err.contains("1/2") && err.contains(down.as_str()), "{err}");
    let one = sampler(
        &t,
        &selector.replace(" } }", " }, min-ready: 1 }"),
        Duration::from_secs(2),
    );
    one.sample().await.expect("one Ready is enough");
    own.start_kubelet(1);
    let started = Instant::now();
    while nodes.sample().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never Ready again"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn workload_probe_sees_a_deleted_replica_come_back_from_the_controller() {
    // kwok makes a pod Ready 1 s after it starts: the ground truth of the outage, plus
    // the real controllers' and scheduler's reaction.
    let ready_after = Duration::from_secs(1);
    let own = OwnNodes::with_ready_delay("probe-workload", 3, Some(ready_after));
    web(&own, 3);
    let t = Target::lab(&own);
    let ns = &own.id;
    let yaml = format!(
        "{}probes:\n  - name: web\n    interval: 50ms\n    timeout: 1s\n    workload: {{ kind: deployment, namespace: {ns}, name: web }}\nsteps:\n  - wait: 500ms\n  - fault:\n      pod-delete: {{ namespace: {ns}, selector: app=web, count: 1, grace-period: 0s }}\n    for: 10ms\n  - wait-until: {{ healthy: [web], stable-for: 300ms, timeout: 30s }}\n",
        scenario_head("web-recovery")
    );
    let out = t.run(&yaml, &[]).await;
    assert_eq!(out.report.exit_code, 0, "{:?}", out.report.reason);
    let web = &out.report.probes[0];
    let measured = only_outage_ms(web);
    let truth = ready_after.as_millis() as f64;
    assert!(
        measured >= truth - 100.0 && measured <= truth + 1000.0,
        "measured {measured} ms, kwok's Ready delay {truth} ms"
    );
    assert!(
        web.measurements
            .time_to_detect_ms
            .is_some_and(|t| t <= 300.0),
        "{:?}",
        web.measurements.time_to_detect_ms
    );
    let failed = web.samples.iter().find(|s| !s.ok).unwrap();
    assert_eq!(failed.error.as_deref(), Some("2/3 replicas Ready"));
    assert_eq!(
        out.report.reverts[0].outcome, "reverted",
        "the revert waited until 3 pods were Ready"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn workload_spread_and_pods_running_on_real_pods() {
    let own = OwnNodes::new("probe-spread", 1);
    web(&own, 2);
    let t = Target::lab(&own);
    let ns = &own.id;
    let node = &own.nodes[0];
    let spread =
        format!("workload: {{ kind: deployment, namespace: {ns}, name: web, spread: node }}");
    let err = sampler(&t, &spread, Duration::from_secs(2))
        .sample()
        .await
        .unwrap_err();
    assert!(err.contains(&format!("share node {node}")), "{err}");
    let no_spread = format!("workload: {{ kind: deployment, namespace: {ns}, name: web }}");
    sampler(&t, &no_spread, Duration::from_secs(2))
        .sample()
        .await
        .expect("2/2 Ready");

    let running = |selector: &str, min: usize| {
        sampler(
            &t,
            &format!("pods-running: {{ namespace: {ns}, selector: {selector}, min: {min} }}"),
            Duration::from_secs(2),
        )
    };
    let none = running("app=nope", 1).sample().await.unwrap_err();
    assert!(none.contains("no pod matches app=nope"), "{none}");
    running("app=web", 2).sample().await.expect("2 running");
    let three = running("app=web", 3).sample().await.unwrap_err();
    assert!(three.contains("2 of 2"), "{three}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_probe_reads_the_real_controller_manager_lease() {
    let own = OwnNodes::new("probe-lease", 0);
    let t = Target::lab(&own);
    let lease = sampler(
        &t,
        "lease: { name: kube-controller-manager }",
        Duration::from_secs(2),
    );
    let held = lease.sample().await.expect("held and renewed").unwrap();
    let holder = held["holder"].as_str().unwrap().to_string();
    assert!(
        ["n0", "n1", "n2"].iter().any(|n| holder.starts_with(n)),
        "a control-plane node holds it: {holder}"
    );
    // Renewed every 2 s (retry period) within a 15 s lease: still healthy, same holder.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = lease.sample().await.expect("still renewed").unwrap();
    assert_eq!(again["holder"], holder.as_str());
    assert!(again.get("failover").is_none());
}

/// Writes Lease `NS/sched` held by `holder`, renewed now shifted by `skew`.
fn renew(own: &OwnNodes, holder: &str, skew: chrono::Duration) {
    let at = (chrono::Utc::now() + skew).format("%Y-%m-%dT%H:%M:%S%.6fZ");
    own.lab.apply(&format!(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{ name: sched, namespace: {ns} }}\nspec: {{ holderIdentity: {holder}, leaseDurationSeconds: 2, renewTime: \"{at}\" }}\n",
        ns = own.id
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_freshness_follows_renewals_not_the_holders_clock() {
    let own = OwnNodes::new("probe-fresh", 0);
    let t = Target::lab(&own);
    let lease = sampler(
        &t,
        &format!("lease: {{ namespace: {}, name: sched }}", own.id),
        Duration::from_secs(2),
    );
    // The holder's clock is an hour behind: still healthy while it keeps renewing.
    let skew = chrono::Duration::hours(-1);
    for _ in 0..4 {
        renew(&own, "cp-1", skew);
        let ok = lease
            .sample()
            .await
            .expect("renewed, whatever its clock says");
        assert_eq!(ok.unwrap()["holder"], "cp-1");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Renewals stop: unhealthy once a full lease duration passes without one.
    let stopped = Instant::now();
    lease.sample().await.expect("not overdue yet");
    let err = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Err(e) = lease.sample().await {
            break e;
        }
        assert!(stopped.elapsed() < Duration::from_secs(5), "never overdue");
    };
    assert!(
        stopped.elapsed() >= Duration::from_millis(2000 - 800),
        "overdue only after the 2s duration: {:?}",
        stopped.elapsed()
    );
    assert!(err.contains("not renewed"), "{err}");
    // A new holder is a renewal: healthy again, with the failover.
    renew(&own, "cp-2", chrono::Duration::zero());
    let back = lease.sample().await.expect("new holder").unwrap();
    assert_eq!(back["failover"]["from"], "cp-1");
    assert_eq!(back["failover"]["to"], "cp-2");
}

/// Writes Lease `NS/elect`: `holder` ("" when released), with the holder's own
/// acquireTime and renewTime (its clock), lasting `duration_s`.
fn write_lease(
    own: &OwnNodes,
    holder: &str,
    acquired: chrono::DateTime<chrono::Utc>,
    renewed: chrono::DateTime<chrono::Utc>,
    duration_s: u32,
) {
    let f = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    own.lab.apply(&format!(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{ name: elect, namespace: {ns} }}\nspec: {{ holderIdentity: \"{holder}\", leaseDurationSeconds: {duration_s}, acquireTime: \"{a}\", renewTime: \"{r}\" }}\n",
        ns = own.id,
        a = f(acquired),
        r = f(renewed),
    ));
}

/// Parses an RFC 3339 time of a sample's detail.
fn time_of(v: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a time: {v}")))
        .unwrap()
        .to_utc()
}

#[tokio::test(flavor = "multi_thread")]
async fn lease_failover_is_timed_on_kubedrills_clock_and_a_release_is_a_handover() {
    let own = OwnNodes::new("probe-failover", 0);
    let t = Target::lab(&own);
    let lease = sampler(
        &t,
        &format!("lease: {{ namespace: {}, name: elect }}", own.id),
        Duration::from_secs(2),
    );
    let micros = |t: chrono::DateTime<chrono::Utc>| t.timestamp_micros();
    // cp-1's clock is an hour behind, cp-2's an hour ahead: subtracting one holder's time
    // from the other's would read two hours.
    let hour = chrono::Duration::hours(1);
    let cp1_acquired = chrono::Utc::now() - hour;
    let mut cp1_renewed = cp1_acquired;
    let mut last_cp1 = (Instant::now(), Instant::now());
    for _ in 0..3 {
        cp1_renewed = chrono::Utc::now() - hour;
        write_lease(&own, "cp-1", cp1_acquired, cp1_renewed, 2);
        let before = Instant::now();
        let seen = lease.sample().await.expect("cp-1 holds it").unwrap();
        last_cp1 = (before, Instant::now());
        assert_eq!(seen["holder"], "cp-1");
    }
    // cp-1 stops renewing; the failover counts from the sample that saw its last renewal,
    // not from the later samples that still see it (within its 2s duration).
    let gap = Duration::from_millis(1200);
    while last_cp1.1.elapsed() < gap {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let still = lease
            .sample()
            .await
            .expect("cp-1 within its duration")
            .unwrap();
        assert_eq!(still["holder"], "cp-1");
    }
    let cp2_acquired = chrono::Utc::now() + hour;
    write_lease(&own, "cp-2", cp2_acquired, cp2_acquired, 2);
    let before = Instant::now();
    let took = lease.sample().await.expect("cp-2 holds it").unwrap();
    let after = Instant::now();
    let f = &took["failover"];
    assert_eq!(
        (f["from"].as_str(), f["to"].as_str()),
        (Some("cp-1"), Some("cp-2"))
    );
    assert_eq!(f["released"], false);
    let ms = f["failover_ms"].as_u64().expect("failover_ms");
    let (least, most) = (before - last_cp1.1, after - last_cp1.0);
    assert!(
        ms >= least.as_millis() as u64 && ms <= most.as_millis() as u64 && ms >= 1200,
        "failover {ms}ms: from the last renewal seen, within {least:?}..{most:?}, at least the {gap:?} gap"
    );
    // The holders' own times are reported as written, from their own clocks.
    let times = &f["holder_times"];
    assert_eq!(micros(time_of(&times["old_renew"])), micros(cp1_renewed));
    assert_eq!(micros(time_of(&times["new_acquire"])), micros(cp2_acquired));

    // cp-2 lets go (client-go's ReleaseOnCancel: empty holder, 1s): a handover, healthy.
    let last_cp2 = Instant::now();
    let now = chrono::Utc::now() + hour;
    write_lease(&own, "", now, now, 1);
    let released = lease
        .sample()
        .await
        .expect("a release is not an outage")
        .unwrap();
    assert_eq!(released["holder"], serde_json::Value::Null);
    assert_eq!(released["released_by"], "cp-2");
    let now = chrono::Utc::now();
    write_lease(&own, "cp-3", now, now, 2);
    let before = Instant::now();
    let took = lease.sample().await.expect("cp-3 holds it").unwrap();
    let f = &took["failover"];
    assert_eq!(
        (f["from"].as_str(), f["to"].as_str()),
        (Some("cp-2"), Some("cp-3"))
    );
    assert_eq!(f["released"], true);
    assert!(
        f["failover_ms"].as_u64().unwrap() >= (before - last_cp2).as_millis() as u64,
        "from cp-2's last sample: {f}"
    );

    // Released and never taken: an outage once cp-3's 2s duration has passed.
    let now = chrono::Utc::now();
    write_lease(&own, "", now, now, 1);
    let let_go = Instant::now();
    let err = loop {
        if let Err(e) = lease.sample().await {
            break e;
        }
        assert!(let_go.elapsed() < Duration::from_secs(6), "never an outage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        let_go.elapsed() >= Duration::from_secs(2),
        "{:?}",
        let_go.elapsed()
    );
    assert!(
        err.contains("released by cp-3") && err.contains("not taken"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn workload_probe_waits_for_the_rollout_not_only_ready_replicas() {
    // New pods become Ready 4s after they start, so the rollout (one surge pod at a time)
    // is in progress for seconds while both old pods stay Ready.
    let own = OwnNodes::with_ready_delay("probe-rollout", 2, Some(Duration::from_secs(4)));
    web(&own, 2);
    let t = Target::lab(&own);
    let ns = &own.id;
    let web = sampler(
        &t,
        &format!("workload: {{ kind: deployment, namespace: {ns}, name: web }}"),
        Duration::from_secs(2),
    );
    let done = web.sample().await.expect("rolled out").unwrap();
    assert_eq!(
        (done["updated"].as_i64(), done["available"].as_i64()),
        (Some(2), Some(2))
    );
    let status = |path: &str| {
        own.kubectl(&[
            "get",
            "deployment",
            "web",
            "-o",
            &format!("jsonpath={path}"),
        ])
        .trim()
        .to_string()
    };
    own.kubectl(&[
        "patch",
        "deployment",
        "web",
        "-p",
        r#"{"spec":{"template":{"metadata":{"annotations":{"rev":"2"}}}}}"#,
    ]);
    let surged = crate::support::poll_until(Duration::from_secs(10), || {
        status("{.status.observedGeneration} {.status.updatedReplicas}") == "2 1"
    });
    assert!(surged, "the controller started the rollout");
    let err = web
        .sample()
        .await
        .expect_err("a rollout in progress is not healthy");
    // Both old replicas are still Ready: counting Ready replicas alone said healthy.
    assert_eq!(status("{.status.readyReplicas}"), "2");
    assert_eq!(err, "rollout in progress: 1/2 replicas updated");
    let started = Instant::now();
    let detail = loop {
        if let Ok(d) = web.sample().await {
            break d.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "never rolled out"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(detail["updated"], 2);
    assert_eq!(detail["available"], 2);
    assert_eq!(detail["observed_generation"], detail["generation"]);
    assert_eq!(
        status("{.status.updatedReplicas} {.status.availableReplicas}"),
        "2 2"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pod_delete_by_name_waits_for_the_replacement_to_be_ready() {
    let ready_after = Duration::from_secs(1);
    let own = OwnNodes::with_ready_delay("pod-delete", 3, Some(ready_after));
    web(&own, 3);
    let t = Target::lab(&own);
    let before = own.kubectl(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    let victim = before.split_whitespace().next().unwrap().to_string();
    let ctx = t.ctx();
    let spec = fault(&format!(
        "pod-delete: {{ namespace: {}, name: {victim}, grace-period: 0s }}",
        own.id
    ));
    let started = Instant::now();
    let (injected, reverts) = inject(&ctx, &spec).await;
    injected.expect("deleted");
    revert_all(&ctx, &reverts).await;
    let waited = started.elapsed();
    assert!(
        waited >= ready_after,
        "the revert waited for the replacement ({ready_after:?} to Ready), not {waited:?}"
    );
    // When the revert returns, the ReplicaSet controller's replacement is already Ready.
    let after = own.kubectl(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{" "}{end}"#,
    ]);
    let ready: Vec<&str> = after
        .split_whitespace()
        .filter_map(|p| p.strip_suffix("=True"))
        .collect();
    assert_eq!(ready.len(), 3, "{after}");
    assert!(
        !ready.contains(&victim.as_str()),
        "a new pod replaced {victim}: {after}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kubeconfig_token_never_reaches_the_run_directory() {
    let own = OwnNodes::new("probe-token", 1);
    let ns = own.id.clone();
    own.kubectl(&["create", "serviceaccount", "drill"]);
    let binding = format!("{ns}-drill");
    own.lab.kubectl(&[
        "create",
        "clusterrolebinding",
        &binding,
        "--clusterrole=cluster-admin",
        &format!("--serviceaccount={ns}:drill"),
    ]);
    let token = own
        .kubectl(&["create", "token", "drill"])
        .trim()
        .to_string();
    let dir = tempfile::TempDir::new().unwrap();
    let kubeconfig = dir.path().join("token.conf");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{ name: lab, cluster: {{ server: \"{}\", certificate-authority: \"{}\" }} }}]\nusers: [{{ name: drill, user: {{ token: \"{token}\" }} }}]\ncontexts: [{{ name: kubedrill-lab, context: {{ cluster: lab, user: drill }} }}]\ncurrent-context: kubedrill-lab\n",
            own.lab.var("api_server"),
            own.lab.var("ca_cert"),
        ),
    )
    .unwrap();
    let t = Target {
        kubeconfig,
        ..Target::lab(&own)
    };
    let node = &own.nodes[0];
    let yaml = format!(
        "{}probes:\n  - name: api\n    interval: 50ms\n    timeout: 1s\n    api: {{ list-latency: true }}\nsteps:\n  - fault:\n      cordon: {{ nodes: {{ names: [{node}] }} }}\n    for: 300ms\n",
        scenario_head("token")
    );
    let out = t.run(&yaml, &[]).await;
    own.lab.kubectl(&["delete", "clusterrolebinding", &binding]);
    assert_eq!(
        out.report.exit_code, 0,
        "the token works: {:?}",
        out.report.reason
    );
    assert!(!own.cordoned(node));
    for entry in std::fs::read_dir(&out.run_dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        assert!(
            !text.contains(&token),
            "{} holds the token",
            entry.path().display()
        );
    }
}

/// A real apiserver cannot be made to accept a connection and never answer on demand, so
/// this one runs against the fake (`support/fake_kube.rs`).
#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_api_is_bounded_by_the_probe_timeout() {
    let fake = crate::support::fake_kube::FakeKube::start().await;
    let dir = tempfile::TempDir::new().unwrap();
    let t = Target {
        kubeconfig: fake.write_kubeconfig(dir.path()),
        context: "fake".into(),
        dir,
    };
    let api = sampler(&t, "api: {}", Duration::from_millis(400));
    api.sample().await.expect("healthy before the hang");
    fake.set_hang(true);
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
