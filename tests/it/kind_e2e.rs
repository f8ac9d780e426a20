//! End to end on a real kind cluster (`kind create cluster --config kind-config.yaml`):
//! run with `KUBEDRILL_E2E_CONTEXT=kind-drill cargo test -- --ignored kind_e2e`. Each test
//! returns early, saying so, when the variable is unset.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kubedrill::engine::{self, ClusterOverrides, EventSink, RunOptions};

use crate::common::probe;

/// The kind context to drill, or `None` (with a message) when not configured.
fn kind_context() -> Option<String> {
    let context = std::env::var("KUBEDRILL_E2E_CONTEXT")
        .ok()
        .filter(|c| !c.is_empty());
    if context.is_none() {
        eprintln!("skipped: set KUBEDRILL_E2E_CONTEXT to a kind context (e.g. kind-drill) to run");
    }
    context
}

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs a shipped kind scenario against the configured context and asserts it passed;
/// `None` (with a message) when no context is configured.
async fn passing_run(file: &str) -> Option<(String, kubedrill::report::RunReport)> {
    let context = kind_context()?;
    let scenario = kubedrill::scenario::load_file(&repo_file(file), &Default::default())
        .unwrap_or_else(|e| panic!("{file}: {e:?}"));
    let options = RunOptions {
        report_root: repo_file("reports"),
        cluster: ClusterOverrides {
            kubeconfig: None,
            context: Some(context.clone()),
            allow_contexts: vec![context.clone()],
        },
        events: EventSink::new(1024),
        handle_signals: false,
    };
    let report = engine::run(&scenario, &options)
        .await
        .expect("run starts")
        .report;
    assert_eq!(report.exit_code, 0, "{:?}", report.reason);
    Some((context, report))
}

async fn client(context: &str) -> kube::Client {
    let options = kube::config::KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let config = kube::Config::from_kubeconfig(&options)
        .await
        .expect("kubeconfig");
    kube::Client::try_from(config).expect("client")
}

async fn all_schedulable(context: &str) -> bool {
    let nodes = Api::<Node>::all(client(context).await)
        .list(&Default::default())
        .await
        .expect("nodes");
    nodes
        .items
        .iter()
        .all(|n| n.spec.as_ref().and_then(|s| s.unschedulable) != Some(true))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a kind cluster"]
async fn kind_cordon_worker_passes_and_leaves_every_node_schedulable() {
    let Some((context, _)) = passing_run("scenarios/kind/cordon-worker.yaml").await else {
        return;
    };
    assert!(all_schedulable(&context).await);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a kind cluster"]
async fn kind_drain_with_pdb_keeps_two_replicas_and_replaces_the_evicted_one() {
    let Some((context, report)) = passing_run("scenarios/kind/drain-with-pdb.yaml").await else {
        return;
    };
    assert!(
        all_schedulable(&context).await,
        "the drained worker was uncordoned"
    );
    let details = &report.faults[0].details;
    let pods = details["nodes"][0]["pods"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for p in pods.iter().filter(|p| {
        p["owner"]
            .as_str()
            .is_some_and(|o| o.starts_with("ReplicaSet/web"))
    }) {
        assert!(
            p["replacement"]["node"].is_string(),
            "replacement seen Ready: {p}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a kind cluster"]
async fn kind_api_survives_one_control_plane_node_down() {
    let Some((_, report)) = passing_run("scenarios/kind/control-plane-down.yaml").await else {
        return;
    };
    let endpoints = probe(&report, "api-endpoints");
    let saw_one_down = endpoints.samples.iter().any(|s| {
        s.detail
            .as_ref()
            .is_some_and(|d| d.to_string().contains("error") || d.to_string().contains("timed out"))
    });
    assert!(
        saw_one_down,
        "the stopped control-plane endpoint was seen down on its own"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a kind cluster"]
async fn kind_coredns_replica_loss_recovers() {
    passing_run("scenarios/kind/coredns-replica-loss.yaml").await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a kind cluster"]
async fn kind_stop_kubelet_is_detected_and_recovers() {
    let Some((_, report)) = passing_run("scenarios/kind/stop-kubelet.yaml").await else {
        return;
    };
    let ready = probe(&report, "worker3-ready");
    assert!(ready.measurements.failed_samples > 0, "NotReady was seen");
}
