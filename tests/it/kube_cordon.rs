//! The cordon fault and the context guard against the fake API server.

use kubedrill::revert::RevertAction;

use crate::kube_fixture::{
    cordoned, fault, inject, one_fault_scenario, revert_all, writes, FakeCluster,
};
use crate::support::fake_kube::NodeSeed;

fn cluster() -> FakeCluster {
    let c = FakeCluster::start();
    c.fake.add_node(NodeSeed::control_plane("cp-1"));
    c.fake.add_node(NodeSeed::worker("w-1"));
    c.fake.add_node(NodeSeed::worker("w-2").cordoned());
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn cordon_and_uncordon_are_idempotent() {
    let c = cluster();
    let ctx = c.ctx();
    let spec = fault("cordon: { nodes: { names: [w-1] } }");
    let (first, reverts) = inject(&ctx, &spec).await;
    first.expect("cordon");
    assert!(cordoned(&c.fake, "w-1"));
    assert_eq!(
        reverts,
        [RevertAction::Uncordon(kubedrill::revert::Uncordon {
            node: "w-1".into()
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
    assert!(!cordoned(&c.fake, "w-1"), "uncordoned, twice without error");
    assert_eq!(
        writes(&c.fake),
        ["PATCH"; 4],
        "two cordons and two uncordons, nothing else written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_already_cordoned_node_stays_cordoned_after_the_run() {
    let c = cluster();
    let yaml = one_fault_scenario(
        "cordon-rule",
        "cordon: { nodes: { role: worker, count: 2 } }",
        "100ms",
    );
    let out = c.run(&yaml, &[]).await;
    assert_eq!(out.report.exit_code, 0, "{:?}", out.report.reason);
    assert!(!cordoned(&c.fake, "w-1"), "w-1 was schedulable: uncordoned");
    assert!(
        cordoned(&c.fake, "w-2"),
        "w-2 was cordoned before: left cordoned"
    );
    assert!(
        !cordoned(&c.fake, "cp-1"),
        "role: worker never picks the control plane"
    );
    let reverts: Vec<&str> = out
        .report
        .reverts
        .iter()
        .map(|r| r.description.as_str())
        .collect();
    assert_eq!(reverts, ["uncordon node w-1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_context_guard_refuses_a_context_nobody_named() {
    let c = cluster();
    let yaml = "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: unnamed }\nsteps:\n  - fault:\n      cordon: { nodes: { names: [w-1] } }\n    for: 10ms\n";
    let out = c.run(yaml, &[]).await;
    assert_eq!(out.report.exit_code, 2, "refused before anything started");
    let reason = out.report.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("\"fake\"") && reason.contains("--allow-context fake"),
        "{reason}"
    );
    assert!(!cordoned(&c.fake, "w-1"));
    assert!(
        c.fake.requests().is_empty(),
        "not a single request reached the cluster"
    );
    let allowed = c.run(yaml, &["fake"]).await;
    assert_eq!(allowed.report.exit_code, 0, "{:?}", allowed.report.reason);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_context_guard_refuses_a_command_line_context_the_scenario_does_not_allow() {
    let c = cluster();
    let yaml = "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: other }\ntarget: { context: kind-drill }\nsteps:\n  - fault:\n      cordon: { nodes: { names: [w-1] } }\n    for: 10ms\n";
    let out = c.run_in_context(yaml, Some("fake"), &[]).await;
    assert_eq!(out.report.exit_code, 2, "refused before anything started");
    let reason = out.report.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("only \"kind-drill\"") && reason.contains("--allow-context fake"),
        "{reason}"
    );
    assert!(
        c.fake.requests().is_empty(),
        "not a single request reached the cluster"
    );
    let allowed = c.run_in_context(yaml, Some("fake"), &["fake"]).await;
    assert_eq!(allowed.report.exit_code, 0, "{:?}", allowed.report.reason);
    assert!(!cordoned(&c.fake, "w-1"));
}
