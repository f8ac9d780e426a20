//! Which inventory nodes a node fault touches, and the guards around that choice.

use crate::access::{AccessSpec, NodeSpec};
use crate::cluster::SelfIdentity;
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
        refuse_this_machine(chosen.iter())?;
        Ok(chosen)
    }
}

/// `max-unavailable` when a node fault does not say: one node at a time.
pub fn one_node_at_a_time() -> usize {
    1
}

/// Fails naming the first of `nodes` that is the machine kubedrill runs on.
pub fn refuse_this_machine<'a>(
    nodes: impl IntoIterator<Item = &'a NodeSpec>,
) -> Result<(), String> {
    let me = SelfIdentity::detect();
    let Some(n) = nodes.into_iter().find(|n| is_this_machine(n, &me)) else {
        return Ok(());
    };
    let how = match &n.access {
        AccessSpec::Ssh(ssh) => format!(" (ssh host `{}`)", ssh.host),
        _ => " (local access outside a network namespace)".to_string(),
    };
    Err(format!(
        "node `{}` is the machine kubedrill runs on{how}; refusing to touch it",
        n.name
    ))
}

/// True when commands for `n` would run on the harness's own host (`me`): `local` access
/// without a network namespace, or SSH to a host that is this machine (see
/// [`SelfIdentity::is_host`]). A docker container is never this machine.
pub fn is_this_machine(n: &NodeSpec, me: &SelfIdentity) -> bool {
    match &n.access {
        AccessSpec::Local(l) => l.netns.is_none(),
        AccessSpec::Ssh(ssh) => me.is_host(&ssh.host),
        AccessSpec::Docker(_) => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{DockerAccess, LocalAccess, SshAccess};

    fn node(access: AccessSpec) -> NodeSpec {
        NodeSpec {
            name: "n".into(),
            roles: vec![],
            labels: Default::default(),
            address: None,
            access,
            services: Default::default(),
        }
    }

    fn ssh(host: &str) -> NodeSpec {
        node(AccessSpec::Ssh(SshAccess {
            host: host.into(),
            port: None,
            user: None,
            identity_file: None,
            known_hosts: Default::default(),
            known_hosts_file: None,
            sudo: false,
            connect_timeout: None,
        }))
    }

    #[test]
    fn local_without_netns_and_ssh_to_this_host_are_this_machine() {
        let me = SelfIdentity {
            node_name: None,
            hostname: Some("drill-host".into()),
            ips: vec!["192.0.2.2".parse().unwrap()],
        };
        let local = |netns: Option<&str>| {
            node(AccessSpec::Local(LocalAccess {
                netns: netns.map(str::to_string),
            }))
        };
        assert!(is_this_machine(&local(None), &me));
        assert!(!is_this_machine(&local(Some("kd-n0")), &me));
        for host in ["127.0.0.1", "::1", "localhost", "drill-host", "192.0.2.2"] {
            assert!(is_this_machine(&ssh(host), &me), "{host}");
        }
        // The lab's nodes: addresses inside their own namespaces.
        assert!(!is_this_machine(&ssh("10.213.4.2"), &me));
        let docker = node(AccessSpec::Docker(DockerAccess {
            container: "localhost".into(),
        }));
        assert!(!is_this_machine(&docker, &me));
    }

    #[test]
    fn the_real_host_recognises_its_loopback_and_its_own_addresses() {
        let me = SelfIdentity::detect();
        assert!(is_this_machine(&ssh("127.0.0.1"), &me));
        for ip in &me.ips {
            assert!(is_this_machine(&ssh(&ip.to_string()), &me), "{ip}");
        }
    }

    #[test]
    fn every_node_fault_refuses_this_machine_by_name() {
        let here = node(AccessSpec::Local(LocalAccess { netns: None }));
        let lab = node(AccessSpec::Local(LocalAccess {
            netns: Some("kdlab-n0".into()),
        }));
        let err = refuse_this_machine([&lab, &here]).unwrap_err();
        assert!(err.contains("node `n` is the machine kubedrill runs on (local access outside a network namespace)"), "{err}");
        assert!(refuse_this_machine([&lab]).is_ok());
    }
}
