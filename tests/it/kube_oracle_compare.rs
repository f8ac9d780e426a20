//! kubedrill's drain against the real `kubectl drain` (the lab's built v1.37.2 and the
//! preinstalled one) on identical scenes (`seed_drain`) in the real lab: the same pods
//! evicted, skipped and refused, the same nodes cordoned, the same pods on the same nodes
//! afterwards.

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Duration;

use crate::kube_fixture::{allow_web_eviction, fault, inject, seed_drain, Target};
use crate::support::kube_lab::OwnNodes;
use crate::support::poll_until;

fn preinstalled_kubectl() -> String {
    ["/usr/bin/kubectl", "/usr/local/bin/kubectl"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect("a preinstalled kubectl")
        .to_string()
}

fn kubectl_drain(own: &OwnNodes, kubectl: &str, extra: &[&str]) -> std::process::Child {
    let mut args = vec!["drain", own.nodes[0].as_str(), "--ignore-daemonsets"];
    args.extend(extra);
    args.extend(["--timeout=90s", "--request-timeout=10s"]);
    own.lab
        .kubectl_with(kubectl, &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl runs")
}

/// The end state of a scene: A cordoned?, the pods on A and on B (by owner).
fn end_state(own: &OwnNodes) -> (bool, Vec<String>, Vec<String>) {
    (
        own.cordoned(&own.nodes[0]),
        own.pods_on(&own.nodes[0]),
        own.pods_on(&own.nodes[1]),
    )
}

fn settled(own: &OwnNodes) -> bool {
    own.all_ready() && own.pods_on(&own.nodes[1]).len() == 5
}

#[tokio::test(flavor = "multi_thread")]
async fn kubedrill_drain_ends_where_kubectl_drain_ends() {
    let scenes: Vec<OwnNodes> = ["cmp-ours", "cmp-built", "cmp-pre"]
        .into_iter()
        .map(|n| OwnNodes::new(n, 2))
        .collect();
    for s in &scenes {
        seed_drain(s);
    }
    let start = end_state(&scenes[0]);
    for s in &scenes[1..] {
        assert_eq!(end_state(s), start, "identical scenes");
    }
    let full = ["--delete-emptydir-data", "--force"];
    let built = kubectl_drain(&scenes[1], &scenes[1].lab.built_kubectl(), &full);
    let pre = kubectl_drain(&scenes[2], &preinstalled_kubectl(), &full);
    let ctx = Target::lab(&scenes[0]).ctx();
    let spec = fault(&format!("drain: {{ nodes: {{ names: [{}] }}, force: true, delete-emptydir-data: true, retry-interval: 1s, replacement-timeout: 0s, timeout: 90s }}", scenes[0].nodes[0]));
    let ours = tokio::spawn(async move { inject(&ctx, &spec).await });
    // Everyone meets the budget's 429s first, then the third web replica lets them through.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for s in &scenes {
        allow_web_eviction(s);
    }
    let (ours, _) = ours.await.unwrap();
    ours.expect("kubedrill drain");
    for (what, child) in [("built kubectl", built), ("preinstalled kubectl", pre)] {
        let out: Output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "{what} drain: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for s in &scenes {
        assert!(
            poll_until(Duration::from_secs(30), || settled(s)),
            "{} settled: {:?}",
            s.id,
            end_state(s)
        );
    }
    let end = end_state(&scenes[0]);
    for s in &scenes[1..] {
        assert_eq!(end_state(s), end, "{} vs kubedrill", s.id);
    }
    assert!(end.0, "A stays cordoned after a drain");
    assert_eq!(end.1, ["DaemonSet/logs", "Mirror/static-a"]);
    assert!(!end.2.contains(&"Pod/lonely".to_string()));
}

/// The pods of namespace `ns` that kubectl names in `stderr` (`ns/name`), by name.
fn named_pods(stderr: &str, ns: &str) -> BTreeSet<String> {
    let prefix = format!("{ns}/");
    stderr
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '/'))
        .filter_map(|w| w.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kubedrill_refuses_the_pods_kubectl_refuses() {
    let scenes: Vec<OwnNodes> = ["ref-ours", "ref-built", "ref-pre"]
        .into_iter()
        .map(|n| OwnNodes::new(n, 2))
        .collect();
    for s in &scenes {
        seed_drain(s);
    }
    let spec = fault(&format!(
        "drain: {{ nodes: {{ names: [{}] }} }}",
        scenes[0].nodes[0]
    ));
    let err = match spec.prepare(Target::lab(&scenes[0]).ctx()).await {
        Ok(p) => panic!("prepared: {}", p.describe()),
        Err(e) => e.to_string(),
    };
    let ours: BTreeSet<String> = ["lonely", "cache-0"]
        .into_iter()
        .filter(|p| err.contains(&format!("{}/{p}", scenes[0].id)))
        .map(str::to_string)
        .collect();
    assert_eq!(ours.len(), 2, "{err}");
    for (s, kubectl) in [
        (&scenes[1], scenes[1].lab.built_kubectl()),
        (&scenes[2], preinstalled_kubectl()),
    ] {
        let out = kubectl_drain(s, &kubectl, &[]).wait_with_output().unwrap();
        assert!(!out.status.success(), "{kubectl} refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let theirs = named_pods(&stderr, &s.id);
        assert_eq!(theirs, ours, "{kubectl}: {stderr}");
        // kubectl cordons before it looks; kubedrill refuses before touching anything.
        assert!(s.cordoned(&s.nodes[0]), "{kubectl} cordoned first");
    }
    assert!(!scenes[0].cordoned(&scenes[0].nodes[0]));
    let untouched = scenes[0].pods_on(&scenes[0].nodes[0]);
    for s in &scenes[1..] {
        assert_eq!(
            s.pods_on(&s.nodes[0]),
            untouched,
            "nothing evicted by {}",
            s.id
        );
    }
}
