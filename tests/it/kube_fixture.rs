//! What the Kubernetes tests do with a cluster (the shared real lab, or the tiny fake for
//! a server that never answers): run a scenario through the engine, or prepare and inject
//! one fault directly.
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

use crate::support::kube_lab::OwnNodes;

/// The lab's context.
pub const LAB_CONTEXT: &str = "kubedrill-lab";

/// A kubeconfig and context to run against, with a temporary directory for runs.
pub struct Target {
    pub kubeconfig: PathBuf,
    pub context: String,
    pub dir: TempDir,
}

impl Target {
    /// The shared lab, through the admin kubeconfig.
    pub fn lab(own: &OwnNodes) -> Self {
        Self {
            kubeconfig: own.lab.kubeconfig(),
            context: LAB_CONTEXT.into(),
            dir: TempDir::new().expect("temp dir"),
        }
    }

    /// A run context allowed to touch the target's context.
    pub fn ctx(&self) -> Arc<RunContext> {
        Arc::new(RunContext {
            nodes: NodePool::new(Vec::new()),
            cluster: Cluster::new(ClusterSettings {
                kubeconfig: Some(self.kubeconfig.clone()),
                context: Some(self.context.clone()),
                allowed: vec![self.context.clone()],
                ..Default::default()
            }),
            run_dir: self.dir.path().to_path_buf(),
            revert_timeout: Duration::from_secs(30),
        })
    }

    /// Runs a scenario (YAML text) through the engine.
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

/// Polls `cond` every 100 ms until it holds; panics naming `what` after `limit`.
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A scenario's head: name and target context `context`.
pub fn scenario_head_in(name: &str, context: &str) -> String {
    format!("apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: {name} }}\ntarget: {{ context: {context} }}\n")
}

/// A scenario's head for the lab.
pub fn scenario_head(name: &str) -> String {
    scenario_head_in(name, LAB_CONTEXT)
}

/// A scenario (head as `scenario_head`) with the single step `fault` held for `hold`.
pub fn one_fault_scenario(name: &str, fault: &str, hold: &str) -> String {
    format!(
        "{}steps:\n  - fault:\n      {fault}\n    for: {hold}\n",
        scenario_head(name)
    )
}

/// The drain scene on the test's own nodes: node A (`nodes[0]`) holds a DaemonSet pod
/// (`logs`), a mirror pod (`static-a`), a StatefulSet pod with an emptyDir (`cache-0`), an
/// unmanaged pod (`lonely`) and both pods of Deployment `web`, whose PodDisruptionBudget
/// (minAvailable 2) the disruption controller keeps exhausted until `allow_web_eviction`.
/// Node B (`nodes[1]`) holds the other DaemonSet pod and takes the replacements.
pub fn seed_drain(own: &OwnNodes) {
    let (a, b) = (&own.nodes[0], &own.nodes[1]);
    own.lab.kubectl(&["cordon", b]);
    let place = own.placement();
    let ns = &own.id;
    let container = "containers: [{ name: c, image: fake }]";
    own.lab.apply(&format!(
        r#"apiVersion: apps/v1
kind: DaemonSet
metadata: {{ name: logs, namespace: {ns} }}
spec:
  selector: {{ matchLabels: {{ app: logs }} }}
  template:
    metadata: {{ labels: {{ app: logs }} }}
    spec:
      {place}
      {container}
---
apiVersion: v1
kind: Pod
metadata:
  name: static-a
  namespace: {ns}
  annotations: {{ kubernetes.io/config.mirror: "0123456789abcdef", kubernetes.io/config.source: file }}
spec:
  nodeName: {a}
  tolerations: [{{ operator: Exists }}]
  {container}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{ name: cache, namespace: {ns} }}
spec:
  serviceName: cache
  replicas: 1
  selector: {{ matchLabels: {{ app: cache }} }}
  template:
    metadata: {{ labels: {{ app: cache }} }}
    spec:
      {place}
      containers: [{{ name: c, image: fake, volumeMounts: [{{ name: scratch, mountPath: /scratch }}] }}]
      volumes: [{{ name: scratch, emptyDir: {{}} }}]
---
apiVersion: v1
kind: Pod
metadata: {{ name: lonely, namespace: {ns} }}
spec:
  nodeName: {a}
  tolerations: [{{ key: kubedrill.io/owner, operator: Exists }}]
  {container}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{ name: web, namespace: {ns} }}
spec:
  replicas: 2
  selector: {{ matchLabels: {{ app: web }} }}
  template:
    metadata: {{ labels: {{ app: web }} }}
    spec:
      {place}
      {container}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{ name: web, namespace: {ns} }}
spec:
  minAvailable: 2
  selector: {{ matchLabels: {{ app: web }} }}
"#
    ));
    let settled = crate::support::poll_until(Duration::from_secs(60), || {
        let on_a = own.pods_on(a);
        on_a.len() == 6 && own.pods_on(b).len() == 1 && own.all_ready()
    });
    assert!(
        settled,
        "the drain scene settled: A {:?}, B {:?}",
        own.pods_on(a),
        own.pods_on(b)
    );
    let healthy = crate::support::poll_until(Duration::from_secs(30), || {
        own.kubectl(&[
            "get",
            "pdb",
            "web",
            "-o",
            "jsonpath={.status.currentHealthy}/{.status.disruptionsAllowed}",
        ])
        .trim()
            == "2/0"
    });
    assert!(healthy, "the disruption controller counted web");
    own.lab.kubectl(&["uncordon", b]);
}

/// Lets the budget allow evictions: a third web replica (on B, A being cordoned).
pub fn allow_web_eviction(own: &OwnNodes) {
    own.kubectl(&["scale", "deployment", "web", "--replicas=3"]);
}
