//! A run and its nodes: which inventory nodes the scenario will run commands on (checked
//! before the baseline, so a refused host key is exit 2 with nothing injected), and the
//! journaling of every SSH master the run starts (so `recover` can end them).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::context::RunContext;
use super::journal::{Journal, JournalEntry};
use crate::access::{NodePool, NodeSpec};
use crate::scenario::{Scenario, StepAction};

/// Journals every SSH master `nodes` starts from now on.
pub fn journal_ssh_masters(nodes: &NodePool, journal: &Journal) {
    let journal = journal.clone();
    nodes.on_ssh_master(Arc::new(move |m| {
        if let Err(e) = journal.append(&JournalEntry::SshMaster(m.clone())) {
            tracing::warn!(node = %m.node, error = %e, "cannot journal the ssh master");
        }
    }));
}

/// Connects to every node the scenario will run commands on and runs `true` there; `Err`
/// is one line naming each node that cannot be reached (address, known_hosts file).
pub async fn check_touched_nodes(s: &Scenario, ctx: &RunContext) -> Result<(), String> {
    let inventory: Vec<NodeSpec> = ctx.nodes.all().map(|n| n.spec().clone()).collect();
    let touched = touched_nodes(s, &inventory);
    if touched.is_empty() {
        return Ok(());
    }
    // From a pod only SSH reaches a node: refused before any connection is tried.
    crate::faults::refuse_from_pod(inventory.iter().filter(|n| touched.contains(&n.name)))?;
    ctx.nodes.check_access(&touched).await
}

/// Inventory nodes the scenario's faults and probes may run commands on, by name. Targets
/// chosen at run time count with every node they could pick: nodes with the `role`, every
/// node for a Lease holder, the inventory's etcd or NATS nodes for a leader. Faults and
/// probes that only talk to Kubernetes or to network endpoints touch none.
pub fn touched_nodes(s: &Scenario, inventory: &[NodeSpec]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for step in &s.steps {
        if let StepAction::Fault { spec, .. } = &step.action {
            let view = inner(serde_json::to_value(spec).unwrap_or_default());
            out.extend(fault_nodes(spec.kind(), &view, inventory));
        }
    }
    for p in &s.probes {
        out.extend(p.spec.node_refs());
        let view = inner(serde_json::to_value(&p.spec).unwrap_or_default());
        out.extend(strings(&view["on-nodes"]["nodes"]));
    }
    let known: BTreeSet<&str> = inventory.iter().map(|n| n.name.as_str()).collect();
    out.into_iter()
        .filter(|n| known.contains(n.as_str()))
        .collect()
}

/// The nodes a fault of `kind` may run commands on, from its spec as JSON (the fields
/// are the ones users write, so they are stable; a test below covers every kind here).
fn fault_nodes(kind: &str, spec: &Value, inventory: &[NodeSpec]) -> Vec<String> {
    let with = |keep: &dyn Fn(&NodeSpec) -> bool| -> Vec<String> {
        inventory
            .iter()
            .filter(|n| keep(n))
            .map(|n| n.name.clone())
            .collect()
    };
    match kind {
        "stop-service" | "stop-kubelet" | "node-command" | "node-isolate" | "kill-process" => {
            let named = strings(&spec["nodes"]);
            if !named.is_empty() {
                named
            } else if let Some(role) = spec["role"].as_str() {
                with(&|n| n.roles.iter().any(|r| r == role))
            } else if !spec["lease-holder"].is_null() {
                with(&|_| true)
            } else {
                Vec::new()
            }
        }
        "etcd-partition" => {
            let named = strings(&spec["etcd-nodes"]);
            if named.is_empty() {
                with(&|n| n.services.contains_key("etcd"))
            } else {
                named
            }
        }
        "nats-leader-kill" if spec["kubernetes"].is_null() => {
            with(&|n| n.services.contains_key("nats"))
        }
        _ => Vec::new(),
    }
}

/// `{kind: {...}}` → `{...}`.
fn inner(v: Value) -> Value {
    match v {
        Value::Object(map) if map.len() == 1 => map.into_iter().next().expect("one").1,
        other => other,
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVENTORY: &str = "target:
  nodes:
    - { name: a, roles: [control-plane], access: { local: {} }, services: { etcd: {}, nats: {} } }
    - { name: b, roles: [worker], access: { local: {} }, services: { etcd: {} } }
    - { name: c, roles: [worker], access: { local: {} } }
";

    fn touched(steps_and_probes: &str) -> Vec<String> {
        let text = format!(
            "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: t }}\n{INVENTORY}{steps_and_probes}"
        );
        let s =
            crate::scenario::load_str(std::path::Path::new("t.yaml"), &text, &Default::default())
                .unwrap_or_else(|e| panic!("{e:?}"));
        touched_nodes(&s, &s.target.nodes)
    }

    #[test]
    fn the_nodes_a_scenario_touches_are_named_or_could_be_chosen() {
        let steps = |fault: &str| format!("steps:\n  - fault:\n      {fault}\n    for: 1s\n");
        assert_eq!(touched(&steps("stop-kubelet: { nodes: [b] }")), ["b"]);
        assert_eq!(
            touched(&steps(
                "stop-service: { role: worker, service: x, max-unavailable: 2 }"
            )),
            ["b", "c"]
        );
        assert_eq!(
            touched(&steps(
                "node-command: { nodes: [c], inject: [x], revert: [y] }"
            )),
            ["c"]
        );
        assert_eq!(
            touched(&steps(
                "node-command: { lease-holder: kube-system/x, inject: [x], revert: [y] }"
            )),
            ["a", "b", "c"]
        );
        assert_eq!(
            touched(&steps("etcd-partition: { member: leader }")),
            ["a", "b"]
        );
        assert_eq!(
            touched(&steps(
                "etcd-partition: { member: a, etcd-nodes: [a, b, c] }"
            )),
            ["a", "b", "c"]
        );
        assert_eq!(touched(&steps("nats-leader-kill: {}")), ["a"]);
        assert_eq!(touched(&steps("node-isolate: { nodes: [b] }")), ["b"]);
        assert_eq!(
            touched(&steps("kill-process: { role: control-plane, name: etcd }")),
            ["a"]
        );
        assert!(touched(&steps("command: { inject: [x], revert: [y] }")).is_empty());
        let probes = "probes:\n  - { name: p, interval: 1s, timeout: 500ms, node-command: { node: c, argv: [true] } }\n  \
             - { name: e, interval: 1s, timeout: 500ms, etcd: { on-nodes: { nodes: [b], argv: [x] } } }\n\
             steps:\n  - wait: 1s\n";
        assert_eq!(touched(probes), ["b", "c"]);
    }
}
