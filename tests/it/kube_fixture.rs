//! A fake cluster plus what the Kubernetes tests do with it: run a scenario through the
//! engine, or prepare and inject one fault directly.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubedrill::access::NodePool;
use kubedrill::cluster::{Cluster, ClusterSettings};
use kubedrill::engine::{self, ClusterOverrides, EventSink, RunContext, RunOptions, RunOutcome};
use kubedrill::faults::FaultSpec;
use kubedrill::revert::RevertAction;
use tempfile::TempDir;

use crate::support::fake_kube::FakeKube;

/// A started fake API server with a kubeconfig (context `fake`) in a temporary directory.
pub struct FakeCluster {
    pub fake: FakeKube,
    pub dir: TempDir,
    pub kubeconfig: PathBuf,
}

impl FakeCluster {
    pub fn start() -> Self {
        let fake = FakeKube::start_sync();
        let dir = TempDir::new().expect("temp dir");
        let kubeconfig = fake.write_kubeconfig(dir.path());
        Self {
            fake,
            dir,
            kubeconfig,
        }
    }

    /// A run context allowed to touch context `fake`.
    pub fn ctx(&self) -> Arc<RunContext> {
        Arc::new(RunContext {
            nodes: NodePool::new(Vec::new()),
            cluster: Cluster::new(ClusterSettings {
                kubeconfig: Some(self.kubeconfig.clone()),
                context: Some("fake".into()),
                allowed: vec!["fake".into()],
                ..Default::default()
            }),
            run_dir: self.dir.path().to_path_buf(),
            revert_timeout: Duration::from_secs(10),
        })
    }

    /// Runs a scenario (YAML text) through the engine against this fake.
    pub async fn run(&self, yaml: &str, allow: &[&str]) -> RunOutcome {
        self.run_in_context(yaml, None, allow).await
    }

    /// Like `run`, with `--context` given on the command line.
    pub async fn run_in_context(
        &self,
        yaml: &str,
        context: Option<&str>,
        allow: &[&str],
    ) -> RunOutcome {
        let file = self.dir.path().join("scenario.yaml");
        let scenario = kubedrill::scenario::load_str(&file, yaml, &Default::default())
            .unwrap_or_else(|e| panic!("scenario does not load: {e:?}"));
        let options = RunOptions {
            report_root: self.dir.path().join("reports"),
            cluster: ClusterOverrides {
                kubeconfig: Some(self.kubeconfig.clone()),
                context: context.map(str::to_string),
                allow_contexts: allow.iter().map(|s| s.to_string()).collect(),
            },
            events: EventSink::new(1024),
            handle_signals: false,
        };
        engine::run(&scenario, &options).await.expect("run starts")
    }
}

/// A fault spec from YAML (`drain: {...}`).
pub fn fault(yaml: &str) -> FaultSpec {
    let value: serde_json::Value = serde_yaml::from_str(yaml).expect("YAML");
    serde_json::from_value(value).unwrap_or_else(|e| panic!("fault spec: {e}"))
}

/// Prepares and injects `spec`; returns the inject result and the reverts it registered.
pub async fn inject(
    ctx: &Arc<RunContext>,
    spec: &FaultSpec,
) -> (Result<serde_json::Value, String>, Vec<RevertAction>) {
    let prepared = spec.prepare(ctx.clone()).await.expect("prepare");
    let reverts = prepared.reverts();
    let result = prepared.inject().await.map_err(|e| e.to_string());
    (result, reverts)
}

/// Runs every revert, newest first, as the engine's rollback does.
pub async fn revert_all(ctx: &Arc<RunContext>, reverts: &[RevertAction]) {
    for r in reverts.iter().rev() {
        r.run(ctx).await.expect("revert");
    }
}

/// Polls `cond` every 20 ms until it holds; panics naming `what` after `limit`.
pub async fn eventually<F: Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut cond: impl FnMut() -> F,
) {
    let deadline = Instant::now() + limit;
    while !cond().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Is the node cordoned in the fake?
pub fn cordoned(fake: &FakeKube, node: &str) -> bool {
    let n = fake.node(node).expect("node exists");
    n.spec.and_then(|s| s.unschedulable) == Some(true)
}

/// The methods of the requests that could change the fake (all but GET), in order.
pub fn writes(fake: &FakeKube) -> Vec<String> {
    fake.requests()
        .into_iter()
        .map(|r| r.method)
        .filter(|m| m != "GET")
        .collect()
}

/// A scenario's head: name and target context `fake`.
pub fn scenario_head(name: &str) -> String {
    format!("apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: {name} }}\ntarget: {{ context: fake }}\n")
}

/// A scenario (head as `scenario_head`) with the single step `fault` held for `hold`.
pub fn one_fault_scenario(name: &str, fault: &str, hold: &str) -> String {
    format!(
        "{}steps:\n  - fault:\n      {fault}\n    for: {hold}\n",
        scenario_head(name)
    )
}
