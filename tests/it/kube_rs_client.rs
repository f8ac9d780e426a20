//! kube-rs (kubedrill's own client) against the fake: the calls kubedrill makes work, and
//! what kube-rs puts on the wire is visible in the fake's logs.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, EvictParams, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::json;
use tempfile::TempDir;

use crate::support::fake_kube::{FakeKube, NodeSeed, PodSeed, WorkloadSeed};

async fn client(fake: &FakeKube, token: &str) -> Client {
    let dir = TempDir::new().expect("temp dir");
    let path = fake.write_kubeconfig_with_token(dir.path(), token);
    let kubeconfig = Kubeconfig::read_from(path).expect("kubeconfig parses");
    let options = KubeConfigOptions::default();
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

#[tokio::test]
async fn kube_rs_lists_patches_and_sends_its_token() {
    let fake = FakeKube::start().await;
    fake.add_node(NodeSeed::worker("node-a"));
    fake.add_workload_with_pods(&WorkloadSeed::deployment("default", "web", 1), &["node-a"]);
    let client = client(&fake, "s3cret-token").await;

    let nodes: Api<Node> = Api::all(client.clone());
    let cordon = Patch::Merge(json!({"spec": {"unschedulable": true}}));
    nodes
        .patch("node-a", &PatchParams::default(), &cordon)
        .await
        .expect("cordon");
    let pods: Api<Pod> = Api::all(client);
    let on_node = ListParams::default().fields("spec.nodeName=node-a");
    assert_eq!(pods.list(&on_node).await.expect("list pods").items.len(), 1);

    let node = fake.node("node-a").expect("node");
    assert_eq!(node.spec.and_then(|s| s.unschedulable), Some(true));
    assert!(fake.requests().iter().all(|r| r.authorization_present));
}

/// kube-rs 5's `evict()` serialises the options as `delete_options` (not `deleteOptions`), so
/// the grace period never reaches the API server; `delete()` carries it correctly.
#[tokio::test]
async fn kube_rs_evict_puts_the_grace_period_under_the_wrong_key() {
    let fake = FakeKube::start().await;
    fake.add_node(NodeSeed::worker("node-a"));
    for name in ["evicted", "deleted"] {
        fake.add_pod(PodSeed::new("default", name, "node-a"));
    }
    let pods: Api<Pod> = Api::namespaced(client(&fake, "t").await, "default");
    let delete = DeleteParams::default().grace_period(7);
    let evict = EvictParams {
        delete_options: Some(delete.clone()),
        ..EvictParams::default()
    };
    pods.evict("evicted", &evict).await.expect("evict");
    pods.delete("deleted", &delete).await.expect("delete");

    let eviction = &fake.evictions()[0];
    assert_eq!(eviction.code, 201);
    assert!(!eviction.delete_options_present);
    assert_eq!(eviction.grace_period_seconds, None);
    assert_eq!(
        eviction.misplaced_grace_keys,
        ["delete_options.gracePeriodSeconds"]
    );
    let deletion = fake
        .deletions()
        .into_iter()
        .find(|d| d.pod == "deleted")
        .expect("deleted");
    assert_eq!(deletion.grace_period_seconds(), Some(7));
    assert!(fake.pod("default", "evicted").is_none() && fake.pod("default", "deleted").is_none());
}
