//! The drain meets API priority and fairness (APF) on the real lab. A priority level that
//! admits nothing beside a request already executing (`nominalConcurrencyShares: 0`,
//! nothing lent or borrowed, `Reject`), a FlowSchema sending it only the evictions a
//! dedicated ServiceAccount makes in the test's namespace, and one never-finished request
//! per API server keeping that level busy: the real servers answer the drain's evictions
//! 429 (plain text, not a Status) until the test deletes the FlowSchema. The report counts
//! them as throttling, apart from disruption-budget refusals, as many as the servers
//! rejected.
//!
//! A level with zero shares alone is not enough: an API server dispatches a request that
//! asks for more seats than the level's limit when nothing of that level is executing
//! (`canAccommodateSeatsLocked`), so one eviction at a time would still get through.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kubedrill::cluster::pods::{classify_eviction_error, Evicted};
use serde_json::Value;
use tempfile::TempDir;

use crate::common::{wait_for, write};
use crate::kube_fixture::{fault, inject, revert_all, Target};
use crate::support::apiserver_metrics::{endpoints, per_server, total};
use crate::support::held_request::{header, ApiServer};
use crate::support::kube_lab::{OwnNodes, SharedLab};

/// The context of the ServiceAccount's kubeconfig.
const CONTEXT: &str = "apf-drainer";

/// APF's rejections counted by the servers for priority level `level`.
const REJECTED: &str = "apiserver_flowcontrol_rejected_requests_total";

/// The flowcontrol objects and the ServiceAccount's cluster binding, all named after the
/// test's id; deleted when dropped, also when the test panics (the namespace, with the
/// ServiceAccount, goes with `OwnNodes`).
struct ApfScene<'a> {
    lab: &'a SharedLab,
    name: String,
}

impl<'a> ApfScene<'a> {
    /// ServiceAccount `drainer` in the test's namespace with deploy/'s ClusterRole, the
    /// level and the FlowSchema (precedence 100: before every suggested schema but
    /// `exempt`, `probes` and `system-leader-election`, none of which matches it).
    fn new(own: &'a OwnNodes) -> Self {
        let (lab, name) = (own.lab, own.id.clone());
        let scene = Self {
            lab,
            name: name.clone(),
        };
        lab.apply(&deploy_cluster_role());
        lab.apply(&format!(
            r#"apiVersion: v1
kind: ServiceAccount
metadata: {{ name: drainer, namespace: {name} }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{ name: {name} }}
roleRef: {{ apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubedrill }}
subjects: [{{ kind: ServiceAccount, name: drainer, namespace: {name} }}]
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {{ name: {name} }}
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 0
    lendablePercent: 0
    borrowingLimitPercent: 0
    limitResponse: {{ type: Reject }}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {{ name: {name} }}
spec:
  priorityLevelConfiguration: {{ name: {name} }}
  matchingPrecedence: 100
  distinguisherMethod: {{ type: ByUser }}
  rules:
    - subjects: [{{ kind: ServiceAccount, serviceAccount: {{ name: drainer, namespace: {name} }} }}]
      resourceRules:
        - {{ verbs: [create], apiGroups: [""], resources: [pods/eviction], namespaces: [{name}] }}
"#
        ));
        scene
    }

    fn flow_schema_uid(&self) -> String {
        self.lab
            .kubectl(&[
                "get",
                "flowschema",
                &self.name,
                "-o",
                "jsonpath={.metadata.uid}",
            ])
            .trim()
            .to_string()
    }

    fn delete_flow_schema(&self) {
        self.lab
            .kubectl(&["delete", "flowschema", &self.name, "--wait=false"]);
    }

    /// A fresh token of the ServiceAccount (one hour).
    fn token(&self) -> String {
        let token = self.lab.kubectl(&[
            "create",
            "token",
            "drainer",
            "-n",
            &self.name,
            "--duration=1h",
        ]);
        token.trim().to_string()
    }
}

impl Drop for ApfScene<'_> {
    fn drop(&mut self) {
        let _ = self
            .lab
            .kubectl_with(
                &self.lab.built_kubectl(),
                &[
                    "delete",
                    "--ignore-not-found",
                    "--wait=false",
                    &format!("flowschema/{}", self.name),
                    &format!("prioritylevelconfiguration/{}", self.name),
                    &format!("clusterrolebinding/{}", self.name),
                ],
            )
            .output();
    }
}

/// deploy/10-rbac.yaml's ClusterRole `kubedrill` (what the shipped ServiceAccount may do).
fn deploy_cluster_role() -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/10-rbac.yaml");
    let text = std::fs::read_to_string(&file).expect("deploy/10-rbac.yaml");
    text.split("\n---\n")
        .find(|doc| doc.contains("\nkind: ClusterRole\n"))
        .expect("a ClusterRole in deploy/10-rbac.yaml")
        .to_string()
}

/// A kubeconfig of `token` against the lab's load balancer, context `CONTEXT`.
fn kubeconfig(lab: &SharedLab, dir: &Path, token: &str) -> PathBuf {
    let ca = std::fs::read(lab.var("ca_cert")).expect("lab CA");
    let ca = base64::engine::general_purpose::STANDARD.encode(ca);
    let server = lab.var("api_server");
    write(
        dir,
        "drainer.kubeconfig",
        &format!("apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {CONTEXT}\n  user:\n    token: {token}\ncontexts:\n- name: {CONTEXT}\n  context: {{ cluster: lab, user: {CONTEXT} }}\ncurrent-context: {CONTEXT}\n"),
    )
}

/// Deployment `web` with `replicas` pods, placed on the test's nodes.
fn web(own: &OwnNodes, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: web, namespace: {ns} }}\nspec:\n  replicas: {replicas}\n  selector: {{ matchLabels: {{ app: web }} }}\n  template:\n    metadata: {{ labels: {{ app: web }} }}\n    spec:\n      {place}\n      containers: [{{ name: c, image: fake }}]\n",
        ns = own.id,
        place = own.placement()
    )
}

/// `ns/name` of the live pods on `node`, sorted.
fn pod_names_on(own: &OwnNodes, node: &str) -> Vec<String> {
    let field = format!("spec.nodeName={node}");
    let mut names: Vec<String> = own
        .kubectl(&[
            "get",
            "pods",
            "--field-selector",
            &field,
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ])
        .split_whitespace()
        .map(|n| format!("{}/{n}", own.id))
        .collect();
    names.sort();
    names
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a count: {v}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn apf_429s_are_counted_as_throttling_apart_from_budget_refusals() {
    let own = OwnNodes::new("drain-apf", 2);
    let (a, b) = (own.nodes[0].clone(), own.nodes[1].clone());
    let ns = own.id.clone();
    // Three web pods on A; B (cordoned meanwhile) takes the replacements.
    own.lab.kubectl(&["cordon", &b]);
    own.lab.apply(&web(&own, 3));
    let on_a = "Deployment/web".to_string();
    wait_for(Duration::from_secs(60), "three web pods Ready on A", || {
        own.pods_on(&a) == [on_a.clone(), on_a.clone(), on_a.clone()] && own.all_ready()
    });
    own.lab.kubectl(&["uncordon", &b]);
    let evicted = pod_names_on(&own, &a);

    let scene = ApfScene::new(&own);
    let (lab, level) = (own.lab, scene.name.clone());
    let token = scene.token();
    let ca = std::fs::read(lab.var("ca_cert")).expect("lab CA");
    let servers: Vec<ApiServer> = endpoints(lab)
        .iter()
        .map(|e| ApiServer::new(e, &ca, &token))
        .collect();
    let eviction = |pod: &str| {
        (
            format!("/api/v1/namespaces/{ns}/pods/{pod}/eviction"),
            format!(
                r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{pod}","namespace":"{ns}"}}}}"#
            ),
        )
    };
    // Every server classifies the ServiceAccount's evictions into the level (the level
    // is idle, so an eviction of a pod that does not exist is admitted: 404, once the
    // server knows the binding too).
    let schema = scene.flow_schema_uid();
    let (missing, body) = eviction("no-such-pod");
    for s in &servers {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (code, head) = s.post(&missing, &body).await;
            // 404 also says the ServiceAccount's binding is in force there.
            if header(&head, "x-kubernetes-pf-flowschema-uid") == Some(schema.as_str())
                && code == 404
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} never used FlowSchema {level} and the binding: {code} {head}",
                s.endpoint
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // One request of the level executing at each server, held until the end.
    let mut held = Vec::new();
    for s in &servers {
        held.push(s.hold(&missing).await);
    }
    let executing = [("priority_level", level.as_str())];
    tokio::task::block_in_place(|| {
        wait_for(
            Duration::from_secs(30),
            "a held request executing at every server",
            || {
                let now = per_server(
                    lab,
                    "apiserver_flowcontrol_current_executing_requests",
                    &executing,
                );
                now.len() == servers.len() && now.iter().all(|n| *n == 1.0)
            },
        )
    });

    // The real answer, through the load balancer: 429, plain text, no budget named.
    let dir = TempDir::new().unwrap();
    let target = Target {
        kubeconfig: kubeconfig(lab, dir.path(), &token),
        context: CONTEXT.into(),
        dir,
    };
    let ctx = target.ctx();
    let client = ctx.cluster.client().await.expect("client as drainer");
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    let answer = pods
        .create_subresource::<_, Value>(
            "eviction",
            "no-such-pod",
            &PostParams::default(),
            &serde_json::from_str::<Value>(&body).unwrap(),
        )
        .await
        .expect_err("APF rejects the eviction");
    let kube::Error::Api(status) = &answer else {
        panic!("not an API error: {answer:?}");
    };
    assert_eq!(status.code, 429, "{status:?}");
    assert_eq!(
        status.message, "Too many requests, please try again later.",
        "APF's plain-text body: {status:?}"
    );
    assert!(
        matches!(
            classify_eviction_error(answer),
            Ok(Evicted::Throttled { retry_after, .. }) if retry_after == Duration::from_secs(1)
        ),
        "told apart from a budget's refusal"
    );
    let rejected = [("priority_level", level.as_str())];
    let before = tokio::task::block_in_place(|| total(lab, REJECTED, &rejected));
    assert_eq!(before, 1.0, "the servers rejected that one eviction");

    // The drain, as the ServiceAccount, meets the level until its FlowSchema is gone.
    let spec = fault(&format!("drain: {{ nodes: {{ names: [{a}] }}, grace-period: 1s, retry-interval: 200ms, timeout: 60s, replacement-timeout: 30s }}"));
    let drain = tokio::spawn(async move { inject(&ctx, &spec).await });
    tokio::task::block_in_place(|| {
        wait_for(
            Duration::from_secs(30),
            "APF rejecting one of the drain's evictions",
            || total(lab, REJECTED, &rejected) > before,
        )
    });
    scene.delete_flow_schema();
    let (result, reverts) = drain.await.unwrap();
    drop(held);
    let details = result.expect("the drain finishes once the FlowSchema is gone");

    let node = &details["nodes"][0];
    let throttled = count(&node["throttled"]);
    assert!(throttled > 0, "throttling counted: {details}");
    assert_eq!(count(&node["pdb_refusals"]), 0, "no budget: {details}");
    assert_eq!(count(&node["namespace_terminating"]), 0, "{details}");
    // Exactly the 429s the servers' APF gave the drain.
    let after = tokio::task::block_in_place(|| total(lab, REJECTED, &rejected));
    assert_eq!(after - before, throttled as f64, "{details}");
    eprintln!(
        "throttled {throttled}, rejected by the servers {}",
        after - before
    );
    // Each pod of A evicted once, no refusal by a budget.
    let pods = node["pods"].as_array().expect("pods");
    let mut reported: Vec<String> = pods
        .iter()
        .map(|p| p["pod"].as_str().unwrap().to_string())
        .collect();
    reported.sort();
    assert_eq!(reported, evicted, "{details}");
    let mut per_pod = 0;
    for p in pods {
        assert_eq!(count(&p["retries"]), 0, "{p}");
        assert!(p["last_refusal"].is_null(), "{p}");
        assert!(
            p["eviction_accepted_at"].is_string() && p["gone_at"].is_string(),
            "{p}"
        );
        assert_eq!(p["replacement"]["node"], b.as_str(), "{p}");
        per_pod += count(&p["throttled"]);
    }
    assert_eq!(per_pod, throttled, "{details}");
    assert!(own.pods_on(&a).is_empty(), "A is empty");

    revert_all(&target.ctx(), &reverts).await;
    assert!(!own.cordoned(&a), "the revert uncordoned A");
}
