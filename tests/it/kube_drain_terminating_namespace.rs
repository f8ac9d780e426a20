//! The drain meets a terminating namespace on the real lab. A ValidatingAdmissionPolicy
//! denies the namespace controller's pod deletes in a namespace of the test, which is then
//! deleted: it stays Terminating and its pods stay without a deletionTimestamp, so the real
//! API servers answer their evictions 403 with cause `NamespaceTerminating` (the
//! NamespaceLifecycle admission plugin). The drain retries them, as kubectl does, until the
//! test removes the policy's binding and the namespace controller deletes the pods.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kubedrill::cluster::pods::{classify_eviction_error, Evicted, NAMESPACE_TERMINATING_CAUSE};
use serde_json::Value;

use crate::common::wait_for;
use crate::kube_fixture::{fault, inject, revert_all, Target};
use crate::support::apiserver_metrics::{endpoints, total};
use crate::support::kube_lab::{OwnNodes, SharedLab};

/// Who deletes a namespace's content (kube-controller-manager runs each controller with
/// its own ServiceAccount in the lab, `--use-service-account-credentials`).
const NAMESPACE_CONTROLLER: &str = "system:serviceaccount:kube-system:namespace-controller";

/// The pods of the doomed namespace, all on the test's node A.
const PODS: [&str; 2] = ["p0", "p1"];

/// The namespace `ID-doomed` with `PODS` on A, and the policy (with its binding) that
/// keeps the namespace controller from deleting them; all deleted when dropped, also when
/// the test panics (the binding first, so the namespace can go).
struct DoomedNamespace<'a> {
    lab: &'a SharedLab,
    name: String,
}

impl<'a> DoomedNamespace<'a> {
    fn new(own: &'a OwnNodes) -> Self {
        let name = format!("{}-doomed", own.id);
        let me = Self {
            lab: own.lab,
            name: name.clone(),
        };
        let mut yaml = format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{ name: {name} }}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{ name: {name} }}
spec:
  failurePolicy: Fail
  matchConstraints:
    namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: {name} }} }}
    resourceRules:
      - {{ apiGroups: [""], apiVersions: [v1], operations: [DELETE], resources: [pods] }}
  validations:
    - expression: "request.userInfo.username != '{NAMESPACE_CONTROLLER}'"
      message: the drain test keeps these pods from the namespace controller
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{ name: {name} }}
spec: {{ policyName: {name}, validationActions: [Deny] }}
"#
        );
        for pod in PODS {
            yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{ name: {pod}, namespace: {name} }}\nspec:\n  nodeName: {node}\n  tolerations: [{{ key: kubedrill.io/owner, operator: Exists }}]\n  containers: [{{ name: c, image: fake }}]\n",
                node = own.nodes[0]
            ));
        }
        own.lab.apply(&yaml);
        me
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.name];
        all.extend(args);
        self.lab.kubectl(&all)
    }

    /// Does the API server at `endpoint` deny the namespace controller's delete of `pod`
    /// (a server-side dry run as that identity)?
    fn policy_denies_at(&self, endpoint: &str, pod: &str) -> bool {
        let out = self
            .lab
            .kubectl_with(
                &self.lab.built_kubectl(),
                &[
                    &format!("--server={endpoint}"),
                    "-n",
                    &self.name,
                    "delete",
                    "pod",
                    pod,
                    "--dry-run=server",
                    &format!("--as={NAMESPACE_CONTROLLER}"),
                ],
            )
            .output()
            .expect("kubectl runs");
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains(&format!(
                "ValidatingAdmissionPolicy '{}' with binding",
                self.name
            ))
    }

    /// Does the API server at `endpoint` refuse an eviction of `pod` because the namespace
    /// is terminating (a server-side dry run, so a server that still thinks it active
    /// evicts nothing)?
    fn eviction_refused_at(&self, endpoint: &str, pod: &str) -> bool {
        let path = format!(
            "/api/v1/namespaces/{}/pods/{pod}/eviction?dryRun=All",
            self.name
        );
        let body = self.lab.var("lab_dir").to_string() + &format!("/eviction-{}.json", self.name);
        std::fs::write(
            &body,
            format!(
                r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{pod}","namespace":"{}"}}}}"#,
                self.name
            ),
        )
        .unwrap();
        let out = self
            .lab
            .kubectl_with(
                &self.lab.built_kubectl(),
                &[
                    &format!("--server={endpoint}"),
                    "create",
                    "--raw",
                    &path,
                    "-f",
                    &body,
                ],
            )
            .output()
            .expect("kubectl runs");
        let _ = std::fs::remove_file(&body);
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("because it is being terminated")
    }

    fn exists(&self) -> bool {
        !self
            .lab
            .kubectl(&[
                "get",
                "namespace",
                &self.name,
                "--ignore-not-found",
                "-o",
                "name",
            ])
            .trim()
            .is_empty()
    }
}

impl Drop for DoomedNamespace<'_> {
    fn drop(&mut self) {
        let k = |args: &[&str]| self.lab.kubectl_best_effort(args);
        k(&[
            "delete",
            "--ignore-not-found",
            &format!("validatingadmissionpolicybinding/{}", self.name),
            &format!("validatingadmissionpolicy/{}", self.name),
        ]);
        k(&[
            "delete",
            "namespace",
            &self.name,
            "--ignore-not-found",
            "--wait=false",
        ]);
    }
}

/// The 403s the API servers answered to evictions, all namespaces.
fn forbidden_evictions(lab: &SharedLab) -> f64 {
    total(
        lab,
        "apiserver_request_total",
        &[
            ("code", "403"),
            ("resource", "pods"),
            ("subresource", "eviction"),
        ],
    )
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("a count: {v}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn evictions_in_a_terminating_namespace_are_retried_until_its_pods_are_deleted() {
    let own = OwnNodes::new("drain-nsterm", 1);
    let (lab, a) = (own.lab, own.nodes[0].clone());
    let doomed = DoomedNamespace::new(&own);
    let ns = doomed.name.clone();
    let ready =
        r#"jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}"#;
    tokio::task::block_in_place(|| {
        wait_for(Duration::from_secs(60), "the doomed pods Ready", || {
            let out = doomed.kubectl(&["get", "pods", "-o", ready]);
            out.split_whitespace().filter(|s| *s == "True").count() == PODS.len()
        });
        // The policy is in force at every server before the namespace is deleted.
        for e in endpoints(lab) {
            wait_for(
                Duration::from_secs(30),
                &format!("the policy denying the namespace controller at {e}"),
                || doomed.policy_denies_at(&e, PODS[0]),
            );
        }
        lab.kubectl(&["delete", "namespace", &ns, "--wait=false"]);
        for e in endpoints(lab) {
            wait_for(
                Duration::from_secs(30),
                &format!("{e} refusing evictions in {ns}"),
                || doomed.eviction_refused_at(&e, PODS[0]),
            );
        }
    });
    let target = Target::lab(&own);
    let ctx = target.ctx();

    // The real answer: 403, cause NamespaceTerminating, for a pod not being deleted.
    let client = ctx.cluster.client().await.expect("client");
    let pods: Api<Pod> = Api::namespaced(client, &ns);
    let p0 = pods.get(PODS[0]).await.expect("p0 is there");
    assert!(
        p0.metadata.deletion_timestamp.is_none(),
        "{:?}",
        p0.metadata
    );
    let eviction = serde_json::json!({
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": { "name": PODS[0], "namespace": ns },
    });
    let answer = pods
        .create_subresource::<_, Value>("eviction", PODS[0], &PostParams::default(), &eviction)
        .await
        .expect_err("the eviction is refused");
    let kube::Error::Api(status) = &answer else {
        panic!("not an API error: {answer:?}");
    };
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    let causes: Vec<(&str, &str)> = status
        .details
        .as_ref()
        .map(|d| {
            d.causes
                .iter()
                .map(|c| (c.reason.as_str(), c.field.as_str()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        causes,
        [(NAMESPACE_TERMINATING_CAUSE, "metadata.namespace")],
        "{status:?}"
    );
    assert!(matches!(
        classify_eviction_error(answer),
        Ok(Evicted::NamespaceTerminating(_))
    ));
    let before = tokio::task::block_in_place(|| forbidden_evictions(lab));

    // The drain retries until the namespace controller may delete the pods.
    let spec = fault(&format!("drain: {{ nodes: {{ names: [{a}] }}, force: true, retry-interval: 200ms, timeout: 120s, replacement-timeout: 0s }}"));
    let drain = tokio::spawn(async move { inject(&ctx, &spec).await });
    tokio::task::block_in_place(|| {
        wait_for(
            Duration::from_secs(30),
            "a 403 to one of the drain's evictions",
            || forbidden_evictions(lab) > before,
        );
        assert_eq!(
            doomed
                .kubectl(&[
                    "get",
                    "pods",
                    "-o",
                    "jsonpath={.items[*].metadata.deletionTimestamp}"
                ])
                .trim(),
            "",
            "no pod is being deleted yet"
        );
        lab.kubectl(&["delete", "validatingadmissionpolicybinding", &ns]);
    });
    let (result, reverts) = drain.await.unwrap();
    let details = result.expect("the drain finishes once the namespace controller deletes");

    let node = &details["nodes"][0];
    let retried = count(&node["namespace_terminating"]);
    assert!(
        retried > 0,
        "terminating-namespace retries counted: {details}"
    );
    assert_eq!(count(&node["pdb_refusals"]), 0, "{details}");
    assert_eq!(count(&node["throttled"]), 0, "{details}");
    let reported = node["pods"].as_array().expect("pods");
    let mut names: Vec<&str> = reported
        .iter()
        .map(|p| p["pod"].as_str().unwrap())
        .collect();
    names.sort();
    let expected: Vec<String> = PODS.iter().map(|p| format!("{ns}/{p}")).collect();
    assert_eq!(names, expected, "{details}");
    for p in reported {
        assert!(p["gone_at"].is_string(), "{p}");
        assert_eq!(count(&p["retries"]), 0, "{p}");
    }
    let per_pod: u64 = reported
        .iter()
        .map(|p| count(&p["namespace_terminating"]))
        .sum();
    assert_eq!(per_pod, retried, "{details}");
    // The servers answered at least as many 403s; the drain does not count the ones for a
    // pod already being deleted (it waits for that pod to go instead), at most one a pod.
    let after = tokio::task::block_in_place(|| forbidden_evictions(lab));
    let answered = (after - before) as u64;
    assert!(
        (retried..=retried + PODS.len() as u64).contains(&answered),
        "servers answered {answered} 403s, the drain counted {retried}: {details}"
    );
    eprintln!("namespace-terminating retries {retried}, 403s answered {answered}");
    tokio::task::block_in_place(|| {
        wait_for(Duration::from_secs(60), "the namespace gone", || {
            !doomed.exists()
        })
    });

    revert_all(&target.ctx(), &reverts).await;
    assert!(!own.cordoned(&a), "the revert uncordoned A");
}
