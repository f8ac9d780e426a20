//! The drain as `kubectl drain` does it, against the real lab on the test's own nodes:
//! several nodes are all cordoned before the first eviction (so no replacement lands on a
//! node about to be drained), a replacement Ready before its old pod is gone is reported
//! as a negative overlap, and DaemonSet pods follow kubectl's filter (finished: deleted;
//! orphaned: refused unless `force`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::kube_fixture::{fault, inject, revert_all, Target};
use crate::support::kube_lab::OwnNodes;
use crate::support::poll_until;

fn time(v: &Value) -> DateTime<Utc> {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn all_pods(details: &Value) -> Vec<&Value> {
    details["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .flat_map(|n| n["pods"].as_array().expect("pods"))
        .collect()
}

/// Deployment `name` with `replicas` pods on the test's nodes.
fn deployment(own: &OwnNodes, name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: {name}, namespace: {ns} }}\nspec:\n  replicas: {replicas}\n  selector: {{ matchLabels: {{ app: {name} }} }}\n  template:\n    metadata: {{ labels: {{ app: {name} }} }}\n    spec:\n      {place}\n      containers: [{{ name: c, image: fake }}]\n",
        ns = own.id,
        place = own.placement()
    )
}

/// Waits until `node` runs exactly `expected` (as `OwnNodes::pods_on`) and all are Ready.
fn settle(own: &OwnNodes, node: &str, expected: &[&str]) {
    let ok = poll_until(Duration::from_secs(60), || {
        own.pods_on(node) == expected && own.all_ready()
    });
    assert!(ok, "{node} runs {expected:?}: {:?}", own.pods_on(node));
}

#[tokio::test(flavor = "multi_thread")]
async fn several_nodes_are_all_cordoned_before_the_first_eviction() {
    let own = OwnNodes::new("drain-two", 3);
    let (a, b, c) = (&own.nodes[0], &own.nodes[1], &own.nodes[2]);
    // Deployment `one` on A, `two` on B; C is free.
    own.lab.kubectl(&["cordon", b]);
    own.lab.kubectl(&["cordon", c]);
    own.lab.apply(&deployment(&own, "one", 2));
    settle(&own, a, &["Deployment/one", "Deployment/one"]);
    own.lab.kubectl(&["uncordon", b]);
    own.lab.kubectl(&["cordon", a]);
    own.lab.apply(&deployment(&own, "two", 2));
    settle(&own, b, &["Deployment/two", "Deployment/two"]);
    own.lab.kubectl(&["uncordon", a]);
    own.lab.kubectl(&["uncordon", c]);

    let target = Target::lab(&own);
    let spec = fault(&format!("drain: {{ nodes: {{ names: [{a}, {b}] }}, grace-period: 1s, retry-interval: 200ms, timeout: 60s, replacement-timeout: 30s }}"));
    let (result, reverts) = inject(&target.ctx(), &spec).await;
    let details = result.expect("drain succeeds");

    let cordoned: Vec<DateTime<Utc>> = details["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| time(&n["cordoned_at"]))
        .collect();
    let pods = all_pods(&details);
    assert_eq!(pods.len(), 4, "{details}");
    let first_eviction = pods
        .iter()
        .map(|p| time(&p["eviction_requested_at"]))
        .min()
        .unwrap();
    assert_eq!(cordoned.len(), 2);
    assert!(
        cordoned.iter().all(|c| *c <= first_eviction),
        "both cordoned ({cordoned:?}) before the first eviction ({first_eviction}): {details}"
    );
    for p in &pods {
        assert_eq!(
            p["replacement"]["node"],
            c.as_str(),
            "every replacement on C, none on the second drained node: {p}"
        );
    }
    assert!(own.pods_on(a).is_empty() && own.pods_on(b).is_empty());
    assert_eq!(own.pods_on(c).len(), 4);
    revert_all(&target.ctx(), &reverts).await;
    assert!(!own.cordoned(a) && !own.cordoned(b));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replacement_ready_before_its_pod_is_gone_is_a_negative_overlap() {
    let mut own = OwnNodes::new("drain-overlap", 2);
    let (a, b) = (own.nodes[0].clone(), own.nodes[1].clone());
    own.lab.kubectl(&["cordon", &b]);
    own.lab.apply(&deployment(&own, "web", 1));
    settle(&own, &a, &["Deployment/web"]);
    own.lab.kubectl(&["uncordon", &b]);
    // A's kubelet stops: the evicted pod stays Terminating until it comes back, while the
    // replacement turns Ready on B.
    own.stop_kubelet(0);

    let target = Target::lab(&own);
    let ctx = target.ctx();
    let spec = fault(&format!("drain: {{ nodes: {{ names: [{a}] }}, grace-period: 30s, timeout: 60s, replacement-timeout: 60s }}"));
    let drain = tokio::spawn(async move { inject(&ctx, &spec).await });
    let field = format!("spec.nodeName={b}");
    let ready_on_b = tokio::task::block_in_place(|| {
        poll_until(Duration::from_secs(30), || {
            own.kubectl(&[
                "get",
                "pods",
                "-l",
                "app=web",
                "--field-selector",
                &field,
                "-o",
                r#"jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}"#,
            ])
            .trim()
                == "True"
        })
    });
    assert!(ready_on_b, "the replacement turned Ready on B");
    assert!(!drain.is_finished(), "the old pod is not gone yet");
    // What A's kubelet would confirm when it came back (a restarted kwok first waits for
    // the old one's node lease to expire): the pod's deletion, forced.
    own.kubectl(&[
        "delete",
        "pods",
        "-l",
        "app=web",
        "--field-selector",
        &format!("spec.nodeName={a}"),
        "--force",
        "--grace-period=0",
    ]);
    let (result, reverts) = drain.await.unwrap();
    own.start_kubelet(0);
    let details = result.expect("drain succeeds");
    let p = all_pods(&details)[0];
    let replacement = &p["replacement"];
    assert_eq!(replacement["node"], b.as_str(), "{p}");
    let overlap = replacement["ready_after_gone_ms"].as_i64().expect("ms");
    assert!(overlap < 0, "Ready before gone is negative: {p}");
    let (ready, gone) = (time(&replacement["ready_at"]), time(&p["gone_at"]));
    assert_eq!((ready - gone).num_milliseconds(), overlap, "{p}");
    // The watch saw it Ready when it turned Ready, not when its pod was gone.
    assert!(time(&replacement["seen_ready_at"]) < gone, "{p}");
    revert_all(&target.ctx(), &reverts).await;
}

/// A pod on `node` whose controller is a DaemonSet named `ds`, in a group no controller
/// serves: the DaemonSet controller does not claim it and the garbage collector cannot
/// resolve its owner, so it stays as the test leaves it (a real finished or orphaned
/// DaemonSet pod is soon replaced or collected). kubectl's filter, like kubedrill's, reads
/// the controller's kind and looks the DaemonSet up in apps/v1.
fn ds_pod(own: &OwnNodes, name: &str, ds: &str, node: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n  ownerReferences: [{{ apiVersion: stand-in.kubedrill.io/v1, kind: DaemonSet, name: {ds}, uid: 00000000-0000-0000-0000-{tail:012}, controller: true }}]\nspec:\n  nodeName: {node}\n  tolerations: [{{ operator: Exists }}]\n  containers: [{{ name: c, image: fake }}]\n",
        ns = own.id,
        tail = name.len()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn finished_daemonset_pods_are_deleted_and_orphaned_ones_refused_without_force() {
    let own = OwnNodes::new("drain-ds", 1);
    let a = own.nodes[0].clone();
    let ns = own.id.clone();
    own.lab.apply(&format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{ name: logs, namespace: {ns} }}\nspec:\n  selector: {{ matchLabels: {{ app: logs }} }}\n  template:\n    metadata: {{ labels: {{ app: logs }} }}\n    spec:\n      {place}\n      containers: [{{ name: c, image: fake }}]\n---\n{done}---\n{orphan}",
        place = own.placement(),
        done = ds_pod(&own, "done-ds", "logs", &a),
        orphan = ds_pod(&own, "orphan-ds", "gone", &a),
    ));
    settle(
        &own,
        &a,
        &["DaemonSet/gone", "DaemonSet/logs", "DaemonSet/logs"],
    );
    own.kubectl(&[
        "patch",
        "pod",
        "done-ds",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Failed"}}"#,
    ]);
    let failed = poll_until(Duration::from_secs(10), || {
        own.kubectl(&["get", "pod", "done-ds", "-o", "jsonpath={.status.phase}"])
            .trim()
            == "Failed"
    });
    assert!(failed, "done-ds is Failed");

    let target = Target::lab(&own);
    let strict = fault(&format!("drain: {{ nodes: {{ names: [{a}] }} }}"));
    let err = match strict.prepare(target.ctx()).await {
        Ok(p) => panic!("prepared: {}", p.describe()),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("{ns}/orphan-ds"))
            && err.contains("DaemonSet no longer exists")
            && err.contains("`force: true`"),
        "{err}"
    );
    assert!(
        !err.contains("done-ds"),
        "a finished pod is never refused: {err}"
    );

    let forced = fault(&format!("drain: {{ nodes: {{ names: [{a}] }}, force: true, timeout: 30s, replacement-timeout: 0s }}"));
    let (result, reverts) = inject(&target.ctx(), &forced).await;
    let details = result.expect("drain with force");
    let note = |name: &str| {
        let p = all_pods(&details)
            .into_iter()
            .find(|p| p["pod"] == format!("{ns}/{name}"))
            .unwrap_or_else(|| panic!("{name} evicted: {details}"));
        assert!(p["gone_at"].is_string(), "{p}");
        p["note"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(note("done-ds"), "finished DaemonSet pod");
    assert!(note("orphan-ds").starts_with("orphaned DaemonSet pod"));
    assert_eq!(
        own.pods_on(&a),
        ["DaemonSet/logs"],
        "the live DaemonSet pod stays, the finished and the orphaned one are gone"
    );
    let skipped = details["nodes"][0]["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{details}");
    assert_eq!(skipped[0]["skipped"], "DaemonSet-managed");
    revert_all(&target.ctx(), &reverts).await;
}
