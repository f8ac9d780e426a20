//! Which inventory nodes a node fault touches, and the guards around that choice.

use crate::access::{AccessSpec, NodeSpec};
use crate::cluster::select::{holder_is, LeaseRef};
use crate::cluster::SelfIdentity;
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// `nodes: [n1, n2]`, `role: worker` (with `count`) or `lease-holder: NS/NAME` (the node
/// whose component holds that Lease), never this machine. Node faults carry these fields
/// themselves (no `flatten`, so unknown keys stay errors).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeTargets {
    /// Node names from the inventory.
    pub nodes: Vec<String>,
    /// All inventory nodes with this role (first `count` of them by name).
    pub role: Option<String>,
    /// How many nodes to pick by role (default 1).
    pub count: Option<usize>,
    /// `NS/NAME` of a leader-election Lease: the inventory node its holder runs on.
    pub lease_holder: Option<String>,
}

impl NodeTargets {
    /// Static checks; `max` is the blast-radius limit (max-unavailable).
    pub fn validate(&self, at: &KeyPath, max: usize, errs: &mut Errors) {
        let ways = [
            !self.nodes.is_empty(),
            self.role.is_some(),
            self.lease_holder.is_some(),
        ];
        match ways.iter().filter(|w| **w).count() {
            0 => errs.add(
                at,
                "choose nodes: `nodes: [NAME, ...]`, `role: ROLE` or `lease-holder: NAMESPACE/NAME`",
            ),
            1 => {}
            _ => errs.add(
                at,
                "use one of `nodes`, `role` and `lease-holder`, not several",
            ),
        }
        if self.count == Some(0) {
            errs.add(at.key("count"), "must be at least 1");
        }
        if let Some(lease) = &self.lease_holder {
            if let Err(e) = LeaseRef::parse(lease) {
                errs.add(at.key("lease-holder"), e);
            }
            if self.count.is_some() {
                errs.add(
                    at.key("count"),
                    "`count` picks nodes by role; a Lease has one holder",
                );
            }
        }
        let n = if !self.nodes.is_empty() {
            self.nodes.len()
        } else if self.lease_holder.is_some() {
            1
        } else {
            self.count.unwrap_or(1)
        };
        if n > max {
            errs.add(
                at,
                format!("this fault would touch {n} nodes at once but max-unavailable is {max}; raise max-unavailable deliberately if you mean it"),
            );
        }
    }

    /// The chosen nodes, resolved against the run's inventory (a Lease holder is read from
    /// the cluster at this moment).
    pub async fn resolve(&self, ctx: &RunContext) -> Result<Vec<NodeSpec>, String> {
        let chosen: Vec<NodeSpec> = if let Some(lease) = &self.lease_holder {
            let lease = LeaseRef::parse(lease)?;
            let client = ctx.cluster.client().await?;
            let (holder, identity) = lease.holder_node(&client).await?;
            let specs: Vec<NodeSpec> = ctx.nodes.all().map(|n| n.spec().clone()).collect();
            vec![inventory_node_of_holder(&specs, &holder)
                .cloned()
                .map_err(|known| {
                    format!(
                        "Lease {lease} is held by `{identity}`, on node `{holder}`, which is not in the inventory (known: {known})"
                    )
                })?]
        } else if self.nodes.is_empty() {
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

/// The inventory node a Lease holder's node name names; `Err` lists the known names.
pub fn inventory_node_of_holder<'a>(
    nodes: &'a [NodeSpec],
    holder: &str,
) -> Result<&'a NodeSpec, String> {
    nodes
        .iter()
        .find(|n| holder_is(holder, &n.name))
        .ok_or_else(|| {
            nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
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
                    lease_holder: self.lease_holder.clone(),
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

    /// Validation errors of a scenario whose one step is `fault` (YAML flow text).
    fn errors_of(fault: &str) -> Vec<String> {
        let source = format!(
            "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: t }}\ntarget: {{ nodes: [{{ name: n0, access: {{ local: {{ netns: x }} }} }}] }}\nsteps:\n  - fault: {fault}\n    for: 1s\n"
        );
        match crate::scenario::load_str(
            std::path::Path::new("s.yaml"),
            &source,
            &Default::default(),
        ) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn lease_holder_is_one_way_of_choosing_and_names_a_lease() {
        let ok = errors_of("{ stop-service: { lease-holder: kube-system/kube-controller-manager, service: kube-controller-manager } }");
        assert!(ok.is_empty(), "{ok:?}");
        let ok = errors_of("{ node-command: { lease-holder: kube-system/kube-scheduler, inject: [\"true\"], revert: [\"true\"] } }");
        assert!(ok.is_empty(), "{ok:?}");
        let errs = errors_of("{ stop-kubelet: { lease-holder: kube-controller-manager } }");
        assert!(
            errs.iter().any(|e| e.contains(
                "lease-holder: `kube-controller-manager` is not a Lease: write NAMESPACE/NAME"
            )),
            "{errs:?}"
        );
        let errs = errors_of(
            "{ stop-kubelet: { nodes: [n0], lease-holder: kube-system/kube-scheduler } }",
        );
        assert!(errs.iter().any(|e| e.contains("not several")), "{errs:?}");
        let errs = errors_of("{ stop-kubelet: { lease-holder: kube-system/kube-scheduler, count: 2, max-unavailable: 2 } }");
        assert!(
            errs.iter().any(|e| e.contains("a Lease has one holder")),
            "{errs:?}"
        );
        let errs = errors_of("{ stop-kubelet: { timeout: 5s } }");
        assert!(
            errs.iter()
                .any(|e| e.contains("`lease-holder: NAMESPACE/NAME`")),
            "{errs:?}"
        );
    }

    #[test]
    fn a_lease_holder_maps_to_its_inventory_node() {
        let named = |name: &str| NodeSpec {
            name: name.into(),
            ..ssh("10.214.0.10")
        };
        let inv = [named("n0"), named("n1"), named("n2")];
        let holder =
            crate::cluster::select::holder_node_name("n1_6f1c0d2e-3b4a-4c5d-8e9f-0a1b2c3d4e5f");
        assert_eq!(inventory_node_of_holder(&inv, holder).unwrap().name, "n1");
        assert_eq!(
            inventory_node_of_holder(&inv, "n9").unwrap_err(),
            "n0, n1, n2"
        );
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
