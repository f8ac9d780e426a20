//! kubedrill's drain against the real `kubectl drain` on two identically seeded fakes:
//! the same nodes cordoned and the same pods, by owner, on the same nodes afterwards.

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use crate::kube_fixture::{eventually, fault, inject, FakeCluster};
use crate::support::fake_kube::FakeKube;
use crate::support::scenarios::seed_drain_scenario;

/// Every live pod bound and Ready, and the controllers back to full strength.
fn settled(fake: &FakeKube) -> bool {
    let ready = |p: &Pod| {
        let conditions = p.status.as_ref().and_then(|s| s.conditions.as_ref());
        conditions
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    };
    let live: Vec<Pod> = fake
        .pods()
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let web = live
        .iter()
        .filter(|p| {
            p.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("web-"))
        })
        .count();
    let cache = live
        .iter()
        .any(|p| p.metadata.name.as_deref() == Some("cache-0"));
    web == 3 && cache && live.iter().all(ready)
}

#[tokio::test(flavor = "multi_thread")]
async fn kubedrill_drain_ends_where_kubectl_drain_ends() {
    let with_kubectl = FakeCluster::start();
    let with_kubedrill = FakeCluster::start();
    seed_drain_scenario(&with_kubectl.fake);
    seed_drain_scenario(&with_kubedrill.fake);
    assert_eq!(
        with_kubectl.fake.end_state(),
        with_kubedrill.fake.end_state()
    );

    let kubeconfig = with_kubectl.kubeconfig.clone();
    let cache = with_kubectl.dir.path().join("kubectl-cache");
    let kubectl = tokio::task::spawn_blocking(move || {
        Command::new("kubectl")
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .args([
                "drain",
                "node-a",
                "--ignore-daemonsets",
                "--delete-emptydir-data",
                "--force",
            ])
            .args(["--timeout=60s", "--request-timeout=10s"])
            .output()
            .expect("kubectl runs")
    });
    let spec = fault("drain: { nodes: { names: [node-a] }, force: true, delete-emptydir-data: true, retry-interval: 1s, replacement-timeout: 0s }");
    let (ours, _) = inject(&with_kubedrill.ctx(), &spec).await;
    ours.expect("kubedrill drain");
    let theirs = kubectl.await.unwrap();
    assert!(
        theirs.status.success(),
        "kubectl drain: {}",
        String::from_utf8_lossy(&theirs.stderr)
    );

    let (a, b) = (&with_kubectl.fake, &with_kubedrill.fake);
    eventually(
        Duration::from_secs(15),
        "both clusters to settle",
        || async { settled(a) && settled(b) },
    )
    .await;
    let end = b.end_state();
    assert_eq!(a.end_state(), end);
    assert!(end.unschedulable["node-a"]);
    assert_eq!(
        end.pods_by_node["node-a"],
        ["DaemonSet/logs", "Node/node-a"]
    );
    assert!(!end
        .pods_by_node
        .values()
        .flatten()
        .any(|p| p == "Pod/lonely"));
}
