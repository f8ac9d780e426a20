//! `pod-delete` grace periods as kubectl has them, on the lab's real control plane: with
//! the node's kubelet (its kwok) stopped, `grace-period: 0s` without `force` is a graceful
//! delete of 1s that leaves the pod Terminating (nothing stopped its containers), while
//! `force: true` removes the object at once, and the details say so.

use std::time::Duration;

use crate::kube_fixture::{fault, inject, Target};
use crate::support::kube_lab::OwnNodes;
use crate::support::poll_until;

fn bare_pod(own: &OwnNodes, name: &str) {
    own.lab.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{ name: {name}, namespace: {ns}, labels: {{ app: {name} }} }}\nspec:\n  {place}\n  containers: [{{ name: c, image: fake }}]\n",
        ns = own.id,
        place = own.placement().replace("\n      ", "\n  "),
    ));
}

fn deletion_timestamp(own: &OwnNodes, name: &str) -> Option<String> {
    let out = std::process::Command::new(own.lab.built_kubectl())
        .args([
            &format!("--kubeconfig={}", own.lab.var("kubeconfig")),
            "--context=kubedrill-lab",
            "-n",
            &own.id,
            "get",
            "pod",
            name,
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn grace_period_zero_needs_force_and_force_removes_the_object_at_once() {
    let mut own = tokio::task::spawn_blocking(|| OwnNodes::new("pod-force", 1))
        .await
        .unwrap();
    for name in ["graceful", "forced"] {
        bare_pod(&own, name);
    }
    let ready = poll_until(Duration::from_secs(30), || {
        own.kubectl(&["get", "pods", "-o", "jsonpath={.items[*].status.phase}"])
            .split_whitespace()
            .filter(|p| *p == "Running")
            .count()
            == 2
    });
    assert!(ready, "both pods run");
    // Nothing on the node will confirm a container stopped from now on.
    own.stop_kubelet(0);
    let t = Target::lab(&own);
    let ctx = t.ctx();

    let spec = fault(&format!(
        "pod-delete: {{ namespace: {}, name: graceful, grace-period: 0s }}",
        own.id
    ));
    let (result, _) = inject(&ctx, &spec).await;
    let details = result.expect("deleted");
    assert_eq!(
        details["grace_period_seconds"], 1,
        "0s without force is 1s: {details}"
    );
    assert_eq!(details["force"], false);
    assert_eq!(
        details["deleted"][0]["still_terminating"], true,
        "no kubelet confirmed: {details}"
    );
    let ts = deletion_timestamp(&own, "graceful");
    assert!(
        ts.as_deref().is_some_and(|t| !t.is_empty()),
        "the pod object is still there, Terminating: {ts:?}"
    );

    let spec = fault(&format!(
        "pod-delete: {{ namespace: {}, name: forced, force: true }}",
        own.id
    ));
    let (result, _) = inject(&ctx, &spec).await;
    let details = result.expect("deleted");
    assert_eq!(details["grace_period_seconds"], 0, "{details}");
    assert_eq!(details["force"], true);
    assert!(
        details["note"].as_str().unwrap().contains("may run on"),
        "{details}"
    );
    assert!(
        details["deleted"][0]["gone_after_ms"].as_u64().unwrap() < 5_000,
        "{details}"
    );
    assert_eq!(
        deletion_timestamp(&own, "forced"),
        None,
        "the object is gone"
    );

    // The kubelet back: it confirms the graceful deletion.
    own.start_kubelet(0);
    let gone = poll_until(Duration::from_secs(60), || {
        deletion_timestamp(&own, "graceful").is_none()
    });
    assert!(gone, "the kubelet finished the graceful deletion");
}

#[test]
fn force_with_a_grace_period_is_refused() {
    let doc = "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: t }\ntarget: { context: c }\nsteps:\n  - fault:\n      pod-delete: { namespace: n, name: p, grace-period: 5s, force: true }\n    for: 1s\n";
    let errs =
        kubedrill::scenario::load_str(std::path::Path::new("t.yaml"), doc, &Default::default())
            .expect_err("refused");
    let text = format!("{errs:?}");
    assert!(
        text.contains("force") && text.contains("grace period 0"),
        "{text}"
    );
}
