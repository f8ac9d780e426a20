//! etcd member names come from etcd's own member list, matched by peer URL, not from the
//! inventory's node names: against the lab's real etcd (members `etcd-0..2`), an
//! inventory calling its nodes `ceon0..2` without `services.etcd.name` still reports the
//! members by etcd's names. The oracle is independent of the peer-URL match: each member's
//! own status names its ID, and the members API names the ID.

use std::time::Duration;

use kubedrill::access::{Inventory, NodePool};
use kubedrill::etcd::{cluster_members, inventory_members, ClusterView, Gateway};

use crate::common::{temp_dir, write};
use crate::drill_lab::{run_file, until, DrillLab};
use crate::lab_fixture::{LabFixture, LabKey};

static LAB: DrillLab = DrillLab::new(LabKey::Etcd);

/// The lab's inventory with nodes renamed `n0` → `ceon0` and no `services.etcd.name`.
fn renamed(lab: &LabFixture) -> Inventory {
    let mut inv = lab.lab.inventory.clone();
    for n in &mut inv.nodes {
        n.name = format!("ceo{}", n.name);
        if let Some(etcd) = n.services.get_mut("etcd") {
            etcd.name = None;
        }
    }
    inv
}

fn gateway() -> Gateway {
    Gateway::new(None, Duration::from_millis(800)).unwrap()
}

/// What etcd calls the member serving `client`: its status's member ID, named by the
/// member list.
async fn etcd_name(client: &str) -> Option<String> {
    let gw = gateway();
    let id = gw.status(client).await.ok()?.member_id;
    let listed = gw.members(client).await.ok()?;
    listed
        .into_iter()
        .find(|m| m.id == id)
        .map(|m| m.name)
        .filter(|n| !n.is_empty())
}

/// Waits until every member answers and a quorum agrees on a leader.
async fn healthy(pool: &NodePool) {
    let members = inventory_members(pool);
    until(
        Duration::from_secs(60),
        "a healthy etcd cluster",
        || async {
            let v = ClusterView::gather(&gateway(), &members).await;
            let all = v.members.iter().all(|(_, s)| s.is_ok());
            (all && v.leader().is_some()).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn inventory_etcd_members_are_named_by_etcd_not_by_node() {
    let (_turn, lab) = LAB.turn().await;
    let mut inv = renamed(lab);
    let pool = NodePool::new(inv.nodes.clone());
    healthy(&pool).await;

    let named = cluster_members(&pool, &gateway()).await;
    assert_eq!(named.len(), 3, "{named:?}");
    for m in &named {
        let truth = etcd_name(&m.client).await.expect("the member answers");
        assert_eq!(m.name, truth, "member on node {}", m.node);
        assert_ne!(m.name, m.node, "named after etcd, not the node");
    }
    // From the inventory alone (the old behaviour) they were named after the nodes.
    let from_inventory: Vec<String> = inventory_members(&pool)
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(from_inventory, ["ceon0", "ceon1", "ceon2"]);

    // `services.etcd.name` wins over the member list.
    inv.nodes[1].services.get_mut("etcd").unwrap().name = Some("given".into());
    let pool = NodePool::new(inv.nodes);
    let named = cluster_members(&pool, &gateway()).await;
    assert_eq!(named[1].name, "given");
    assert_eq!(
        Some(named[0].name.clone()),
        etcd_name(&named[0].client).await
    );
}

#[tokio::test]
async fn inventory_etcd_partition_reports_the_member_etcd_names() {
    let (_turn, lab) = LAB.turn().await;
    let inv = renamed(lab);
    let pool = NodePool::new(inv.nodes.clone());
    healthy(&pool).await;
    let dir = temp_dir();
    let inventory = write(dir.path(), "inventory.yaml", &inv.to_yaml());
    let scenario = write(
        dir.path(),
        "renamed.yaml",
        &format!(
            "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: renamed-members }}\n\
             target: {{ inventory: {} }}\n\
             steps:\n  - fault:\n      etcd-partition: {{ member: follower }}\n    for: 1s\n",
            inventory.display()
        ),
    );
    let outcome = run_file(&scenario, lab, &dir.path().join("reports")).await;
    let r = &outcome.report;
    assert_eq!(r.exit_code, 0, "verdict {:?}: {:?}", r.verdict, r.reason);
    let details = &r.faults[0].details;
    let isolated = &details["isolated"][0];
    let node = isolated["node"].as_str().unwrap();
    assert!(node.starts_with("ceon"), "{details}");
    let client = inv.node(node).unwrap().services["etcd"].endpoints["client"].clone();
    let truth = etcd_name(&client).await.expect("the member answers");
    assert_eq!(isolated["member"], truth.as_str(), "{details}");
    // The leader is reported by etcd's name too.
    let leader = details["leader_before"].as_str().unwrap();
    let mut etcd_names = Vec::new();
    for n in &inv.nodes {
        etcd_names.push(etcd_name(&n.services["etcd"].endpoints["client"]).await);
    }
    assert!(
        etcd_names.iter().flatten().any(|n| n == leader),
        "leader_before `{leader}` among {etcd_names:?}"
    );
    healthy(&pool).await;
}
