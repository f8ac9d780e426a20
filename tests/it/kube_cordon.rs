//! The cordon fault and the context guard against the real lab, on the test's own nodes.

use std::time::Duration;

use kubedrill::revert::RevertAction;

use crate::kube_fixture::{fault, inject, one_fault_scenario, revert_all, Target};
use crate::support::kube_lab::OwnNodes;

#[tokio::test(flavor = "multi_thread")]
async fn cordon_and_uncordon_are_idempotent() {
    let own = OwnNodes::new("cordon-idem", 1);
    let target = Target::lab(&own);
    let node = own.nodes[0].clone();
    let ctx = target.ctx();
    let spec = fault(&format!("cordon: {{ nodes: {{ names: [{node}] }} }}"));
    let (first, reverts) = inject(&ctx, &spec).await;
    first.expect("cordon");
    assert!(own.cordoned(&node), "really unschedulable on the server");
    assert_eq!(
        reverts,
        [RevertAction::Uncordon(kubedrill::revert::Uncordon {
            node: node.clone()
        })]
    );
    // Cordoning again: the node now counts as already cordoned, so no second revert.
    let (second, again) = inject(&ctx, &spec).await;
    second.expect("cordon twice");
    assert!(
        again.is_empty(),
        "a cordoned node gets no uncordon: {again:?}"
    );
    revert_all(&ctx, &reverts).await;
    revert_all(&ctx, &reverts).await;
    assert!(!own.cordoned(&node), "uncordoned, twice without error");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_already_cordoned_node_stays_cordoned_after_the_run() {
    let own = OwnNodes::new("cordon-rule", 3);
    let target = Target::lab(&own);
    let (w1, w2, cp) = (&own.nodes[0], &own.nodes[1], &own.nodes[2]);
    own.lab.kubectl(&["cordon", w2]);
    own.lab.kubectl(&[
        "label",
        "node",
        cp,
        "node-role.kubernetes.io/control-plane=",
    ]);
    let yaml = one_fault_scenario(
        "cordon-rule",
        &format!(
            "cordon: {{ nodes: {{ role: worker, count: 2, selector: kubedrill.io/owner={} }} }}",
            own.id
        ),
        "100ms",
    );
    let out = target.run(&yaml, &[]).await;
    assert_eq!(out.report.exit_code, 0, "{:?}", out.report.reason);
    assert!(!own.cordoned(w1), "{w1} was schedulable: uncordoned");
    assert!(own.cordoned(w2), "{w2} was cordoned before: left cordoned");
    assert!(
        !own.cordoned(cp),
        "role: worker never picks the control plane"
    );
    let reverts: Vec<&str> = out
        .report
        .reverts
        .iter()
        .map(|r| r.description.as_str())
        .collect();
    assert_eq!(reverts, [format!("uncordon node {w1}")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_context_guard_refuses_a_context_nobody_named() {
    let own = OwnNodes::new("cordon-guard", 1);
    let target = Target::lab(&own);
    let node = &own.nodes[0];
    let yaml = format!("apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: unnamed }}\nsteps:\n  - fault:\n      cordon: {{ nodes: {{ names: [{node}] }} }}\n    for: 10ms\n");
    let out = target.run(&yaml, &[]).await;
    assert_eq!(out.report.exit_code, 2, "refused before anything started");
    let reason = out.report.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("\"kubedrill-lab\"") && reason.contains("--allow-context kubedrill-lab"),
        "{reason}"
    );
    assert!(!own.cordoned(node));
    let allowed = target.run(&yaml, &["kubedrill-lab"]).await;
    assert_eq!(allowed.report.exit_code, 0, "{:?}", allowed.report.reason);
    assert!(!own.cordoned(node), "cordoned for 10ms, then uncordoned");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_context_guard_refuses_a_command_line_context_the_scenario_does_not_allow() {
    let own = OwnNodes::new("cordon-ctx", 1);
    let target = Target::lab(&own);
    let node = &own.nodes[0];
    let yaml = format!("apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: other }}\ntarget: {{ context: kind-drill }}\nsteps:\n  - fault:\n      cordon: {{ nodes: {{ names: [{node}] }} }}\n    for: 10ms\n");
    let out = target
        .run_in_context(&yaml, Some("kubedrill-lab"), &[])
        .await;
    assert_eq!(out.report.exit_code, 2, "refused before anything started");
    let reason = out.report.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("only \"kind-drill\"") && reason.contains("--allow-context kubedrill-lab"),
        "{reason}"
    );
    assert!(!own.cordoned(node));
    let allowed = target
        .run_in_context(&yaml, Some("kubedrill-lab"), &["kubedrill-lab"])
        .await;
    assert_eq!(allowed.report.exit_code, 0, "{:?}", allowed.report.reason);
    assert!(!own.cordoned(node));
}

/// The field managers that own the node's `spec.unschedulable`, from the server.
fn cordon_owners(own: &OwnNodes, node: &str) -> Vec<String> {
    let out = own
        .lab
        .kubectl(&["get", "node", node, "--show-managed-fields", "-o", "json"]);
    let node: serde_json::Value = serde_json::from_str(&out).unwrap();
    node["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fieldsV1"]["f:spec"]["f:unschedulable"].is_object())
        .map(|e| e["manager"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_revert_leaves_a_node_someone_else_cordoned_meanwhile_and_says_so() {
    let own = OwnNodes::new("cordon-other", 2);
    let target = Target::lab(&own);
    let (mine, theirs) = (own.nodes[0].clone(), own.nodes[1].clone());
    let yaml = one_fault_scenario(
        "cordon-other",
        &format!("cordon: {{ nodes: {{ names: [{mine}, {theirs}] }} }}"),
        "8s",
    );
    let run = {
        let yaml = yaml.clone();
        let target = Target {
            kubeconfig: target.kubeconfig.clone(),
            context: target.context.clone(),
            dir: tempfile::TempDir::new().unwrap(),
        };
        tokio::spawn(async move { target.run(&yaml, &[]).await })
    };
    let cordoned = tokio::task::block_in_place(|| {
        crate::support::poll_until(Duration::from_secs(20), || {
            own.cordoned(&mine) && own.cordoned(&theirs)
        })
    });
    assert!(cordoned, "the run cordoned both");
    assert_eq!(cordon_owners(&own, &theirs), ["kubedrill"]);
    // Someone uncordons and cordons `theirs` again while the fault holds.
    own.lab.kubectl(&["uncordon", &theirs]);
    own.lab.kubectl(&["cordon", &theirs]);
    let owners = cordon_owners(&own, &theirs);
    assert!(
        !owners.is_empty() && !owners.contains(&"kubedrill".to_string()),
        "{owners:?}"
    );
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("the run ends")
        .unwrap();
    assert_eq!(out.report.exit_code, 0, "{:?}", out.report.reason);
    assert!(!own.cordoned(&mine), "kubedrill's own cordon is undone");
    assert!(own.cordoned(&theirs), "the other cordon stays");
    let result = |node: &str| {
        out.report
            .reverts
            .iter()
            .find(|r| r.description == format!("uncordon node {node}"))
            .unwrap_or_else(|| panic!("no revert for {node}: {:?}", out.report.reverts))
            .details["result"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(result(&mine), "uncordoned");
    let said = result(&theirs);
    assert!(
        said.starts_with("left cordoned: someone else cordoned node") && said.contains(&owners[0]),
        "{said}"
    );
}
