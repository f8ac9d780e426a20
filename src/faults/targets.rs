//! Which inventory nodes a node fault touches, and the guards around that choice.

use crate::access::{AccessSpec, NodeSpec};
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// `nodes: [n1, n2]` or `role: worker` (with `count`), never this machine. Node faults
/// carry these three fields themselves (no `flatten`, so unknown keys stay errors).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeTargets {
    /// Node names from the inventory.
    pub nodes: Vec<String>,
    /// All inventory nodes with this role (first `count` of them by name).
    pub role: Option<String>,
    /// How many nodes to pick by role (default 1).
    pub count: Option<usize>,
}

impl NodeTargets {
    /// Static checks; `max` is the blast-radius limit (max-unavailable).
    pub fn validate(&self, at: &KeyPath, max: usize, errs: &mut Errors) {
        match (self.nodes.is_empty(), &self.role) {
            (true, None) => errs.add(at, "choose nodes: `nodes: [NAME, ...]` or `role: ROLE`"),
            (false, Some(_)) => errs.add(at.key("role"), "use either `nodes` or `role`, not both"),
            _ => {}
        }
        if self.count == Some(0) {
            errs.add(at.key("count"), "must be at least 1");
        }
        let n = if self.nodes.is_empty() {
            self.count.unwrap_or(1)
        } else {
            self.nodes.len()
        };
        if n > max {
            errs.add(
                at,
                format!("this fault would touch {n} nodes at once but max-unavailable is {max}; raise max-unavailable deliberately if you mean it"),
            );
        }
    }

    /// The chosen nodes, resolved against the run's inventory.
    pub fn resolve(&self, ctx: &RunContext) -> Result<Vec<NodeSpec>, String> {
        let chosen: Vec<NodeSpec> = if self.nodes.is_empty() {
            let role = self.role.clone().unwrap_or_default();
            let with_role: Vec<NodeSpec> = ctx
                .nodes
                .all()
                .map(|n| n.spec().clone())
                .filter(|n| n.roles.contains(&role))
                .collect();
            let count = self.count.unwrap_or(1);
            if with_role.len() < count {
                return Err(format!(
                    "{count} node(s) with role `{role}` wanted, the inventory has {}",
                    with_role.len()
                ));
            }
            with_role.into_iter().take(count).collect()
        } else {
            self.nodes
                .iter()
                .map(|name| {
                    ctx.nodes
                        .get(name)
                        .map(|n| n.spec().clone())
                        .ok_or_else(|| {
                            let known: Vec<_> =
                                ctx.nodes.all().map(|n| n.spec().name.clone()).collect();
                            format!(
                                "node `{name}` is not in the inventory (known: {})",
                                known.join(", ")
                            )
                        })
                })
                .collect::<Result<_, _>>()?
        };
        if let Some(me) = chosen.iter().find(|n| is_this_machine(n)) {
            return Err(format!(
                "node `{}` is the machine kubedrill runs on; refusing to touch it",
                me.name
            ));
        }
        Ok(chosen)
    }
}

/// True for `local` access without a network namespace: that is the harness's own host.
pub fn is_this_machine(n: &NodeSpec) -> bool {
    matches!(&n.access, AccessSpec::Local(l) if l.netns.is_none())
}

/// Node faults expose their target fields as a [`NodeTargets`].
macro_rules! k8s_nodes {
    ($ty:ty) => {
        impl $ty {
            /// The target fields as one value.
            pub fn targets(&self) -> $crate::faults::targets::NodeTargets {
                $crate::faults::targets::NodeTargets {
                    nodes: self.nodes.clone(),
                    role: self.role.clone(),
                    count: self.count,
                }
            }
        }
    };
}
pub(crate) use k8s_nodes;
