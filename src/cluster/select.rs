//! Which nodes a fault or probe touches: by name, label selector and role, then `count`
//! of them picked first-by-name or at random, minus exclusions — and never the node
//! kubedrill itself runs on.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};

use super::host;
use crate::scenario::{Errors, KeyPath};

/// The role a node plays, from its `node-role.kubernetes.io/*` labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    ControlPlane,
    Worker,
}

/// How `count` nodes are chosen among the candidates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pick {
    /// The first ones by name (reproducible).
    #[default]
    First,
    Random,
}

/// `nodes: { names: [..], selector: "k=v", role: worker, count: 1, pick: random, exclude: [..] }`.
/// Every given criterion must hold. `count` defaults to every named node, or 1.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NodeSelection {
    #[serde(default)]
    pub names: Vec<String>,
    /// A label selector, as `kubectl -l` takes it.
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub role: Option<NodeRole>,
    #[serde(default)]
    pub count: Option<usize>,
    #[serde(default)]
    pub pick: Pick,
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl NodeSelection {
    /// Checks the selection; `for_probe` refuses `count` and `pick` (probes watch every match).
    pub fn validate(&self, at: &KeyPath, errs: &mut Errors, for_probe: bool) {
        if let Some(sel) = &self.selector {
            validate_label_selector(sel, &at.key("selector"), errs);
        }
        if let Some(n) = self.names.iter().find(|n| self.exclude.contains(n)) {
            errs.add(
                at.key("exclude"),
                format!("node {n} is both named and excluded"),
            );
        }
        if for_probe {
            if self.count.is_some() || self.pick != Pick::First {
                errs.add(at, "`count` and `pick` choose nodes for faults; a probe watches every matching node");
            }
            return;
        }
        match self.count {
            Some(0) => errs.add(at.key("count"), "count must be at least 1"),
            Some(c) if !self.names.is_empty() && c > self.names.len() => errs.add(
                at.key("count"),
                format!(
                    "count {c} is more than the {} named nodes",
                    self.names.len()
                ),
            ),
            _ => {}
        }
    }

    /// One line for plans and reports.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.names.is_empty() {
            parts.push(self.names.join(", "));
        }
        if let Some(r) = self.role {
            parts.push(format!("role {}", role_name(r)));
        }
        if let Some(s) = &self.selector {
            parts.push(format!("labels {s}"));
        }
        if !self.exclude.is_empty() {
            parts.push(format!("except {}", self.exclude.join(", ")));
        }
        let what = if parts.is_empty() {
            "any node".to_string()
        } else {
            parts.join(", ")
        };
        match self.count {
            Some(n) if self.names.is_empty() || n != self.names.len() => {
                let pick = match self.pick {
                    Pick::First => "first by name",
                    Pick::Random => "at random",
                };
                format!("{n} node(s) of {what}, {pick}")
            }
            _ => what,
        }
    }

    fn wanted(&self) -> Option<usize> {
        self.count
            .or((!self.names.is_empty()).then_some(self.names.len()))
    }

    /// The nodes matching every criterion, sorted by name; `me` (the harness's own node,
    /// [`SelfIdentity::detect`] for faults) is left out.
    pub async fn matching(
        &self,
        client: &kube::Client,
        me: &SelfIdentity,
    ) -> Result<Vec<Node>, String> {
        let api: Api<Node> = Api::all(client.clone());
        let mut lp = ListParams::default();
        if let Some(sel) = &self.selector {
            lp = lp.labels(sel);
        }
        let listed = api
            .list(&lp)
            .await
            .map_err(|e| format!("cannot list nodes: {e}"))?;
        self.filter(listed.items, me)
    }

    /// Resolves the selection for a fault: `count` nodes, picked as asked.
    pub async fn resolve(&self, client: &kube::Client) -> Result<Vec<Node>, String> {
        let candidates = self.matching(client, &SelfIdentity::detect()).await?;
        self.pick_from(candidates)
    }

    fn filter(&self, listed: Vec<Node>, me: &SelfIdentity) -> Result<Vec<Node>, String> {
        for name in &self.names {
            let Some(node) = listed.iter().find(|n| node_name(n) == name) else {
                return Err(format!(
                    "node {name} not found (or not matching the selector)"
                ));
            };
            if me.is(node) {
                return Err(format!(
                    "node {name} is the node kubedrill runs on; refusing to touch it"
                ));
            }
        }
        let mut nodes: Vec<Node> = listed
            .into_iter()
            .filter(|n| self.names.is_empty() || self.names.iter().any(|x| x == node_name(n)))
            .filter(|n| self.role.is_none_or(|r| role_of(n) == r))
            .filter(|n| !self.exclude.iter().any(|x| x == node_name(n)))
            .filter(|n| !me.is(n))
            .collect();
        nodes.sort_by(|a, b| node_name(a).cmp(node_name(b)));
        if nodes.is_empty() {
            return Err(format!("no node matches {}", self.describe()));
        }
        Ok(nodes)
    }

    fn pick_from(&self, candidates: Vec<Node>) -> Result<Vec<Node>, String> {
        let wanted = self.wanted().unwrap_or(1);
        if candidates.len() < wanted {
            return Err(format!(
                "{wanted} node(s) wanted but only {} match: {}",
                candidates.len(),
                names(&candidates).join(", ")
            ));
        }
        Ok(match self.pick {
            Pick::First => candidates.into_iter().take(wanted).collect(),
            Pick::Random => {
                let mut chosen: Vec<Node> = candidates
                    .choose_multiple(&mut rand::rng(), wanted)
                    .cloned()
                    .collect();
                chosen.sort_by(|a, b| node_name(a).cmp(node_name(b)));
                chosen
            }
        })
    }
}

/// `NS/NAME` of a leader-election Lease: the node whose component holds it (for example
/// `kube-system/kube-controller-manager`). Components run with the node's name as their
/// hostname, so the holder identity reads `<node>_<uuid>` (kubeadm, kind, the lab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRef {
    pub namespace: String,
    pub name: String,
}

impl LeaseRef {
    /// Parses `NS/NAME`; both parts non-empty, one slash.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{text}` is not a Lease: write NAMESPACE/NAME, e.g. kube-system/kube-controller-manager")
        };
        let (namespace, name) = text.trim().split_once('/').ok_or_else(bad)?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        };
        if !ok(namespace) || !ok(name) {
            return Err(bad());
        }
        Ok(Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }

    /// The node the Lease's current holder runs on, with the holder identity. Refuses a
    /// Lease without a holder, or one not renewed for twice its duration (nobody leads,
    /// so there is no holder to take down).
    pub async fn holder_node(&self, client: &kube::Client) -> Result<(String, String), String> {
        use k8s_openapi::api::coordination::v1::Lease;
        let api: Api<Lease> = Api::namespaced(client.clone(), &self.namespace);
        let lease = api
            .get(&self.name)
            .await
            .map_err(|e| format!("cannot read Lease {self}: {e}"))?;
        let spec = lease.spec.unwrap_or_default();
        let holder = spec
            .holder_identity
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("Lease {self} has no holder"))?;
        let since = spec
            .renew_time
            .map(|t| k8s_openapi::jiff::Timestamp::now().duration_since(t.0));
        let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
        if let Some(since) = since {
            if since.as_secs() > 2 * duration {
                return Err(format!(
                    "Lease {self} (held by {holder}) was last renewed {}s ago, more than twice its {duration}s duration: nobody holds it",
                    since.as_secs()
                ));
            }
        }
        let node = holder_node_name(&holder).to_string();
        Ok((node, holder))
    }
}

impl std::fmt::Display for LeaseRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The node part of a leader-election holder identity: `<hostname>_<uuid>` (client-go's
/// `id = hostname + "_" + uuid`), so everything before the last `_`; an identity without
/// one is taken whole.
pub fn holder_node_name(identity: &str) -> &str {
    identity.rsplit_once('_').map_or(identity, |(host, _)| host)
}

/// True when the holder's node name `holder` names the node `name` (exactly, ignoring
/// case, or as the short form of a fully qualified hostname).
pub fn holder_is(holder: &str, name: &str) -> bool {
    let short = |s: &str| s.split('.').next().unwrap_or(s).to_ascii_lowercase();
    holder.eq_ignore_ascii_case(name) || short(holder) == short(name)
}

/// A node's name.
pub fn node_name(n: &Node) -> &str {
    n.metadata.name.as_deref().unwrap_or_default()
}

/// Names of `nodes`.
pub fn names(nodes: &[Node]) -> Vec<String> {
    nodes.iter().map(|n| node_name(n).to_string()).collect()
}

/// Control plane when labelled `node-role.kubernetes.io/control-plane` (or the old `master`).
pub fn role_of(n: &Node) -> NodeRole {
    let labels = n.metadata.labels.as_ref();
    let cp = ["control-plane", "master"]
        .iter()
        .any(|r| labels.is_some_and(|l| l.contains_key(&format!("node-role.kubernetes.io/{r}"))));
    if cp {
        NodeRole::ControlPlane
    } else {
        NodeRole::Worker
    }
}

fn role_name(r: NodeRole) -> &'static str {
    match r {
        NodeRole::ControlPlane => "control-plane",
        NodeRole::Worker => "worker",
    }
}

/// A light syntax check of a label selector (`k=v,k!=v,k in (a,b),!k,k`).
pub fn validate_label_selector(sel: &str, at: &KeyPath, errs: &mut Errors) {
    if sel.trim().is_empty() {
        errs.add(at, "the label selector is empty; write e.g. \"app=web\"");
        return;
    }
    let mut depth = 0i32;
    let mut term = String::new();
    for c in sel.chars().chain(std::iter::once(',')) {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                if term.trim().is_empty() {
                    errs.add(at, format!("label selector \"{sel}\" has an empty term"));
                    return;
                }
                term.clear();
                continue;
            }
            _ => {}
        }
        term.push(c);
    }
    if depth != 0 {
        errs.add(
            at,
            format!("label selector \"{sel}\" has unbalanced parentheses"),
        );
    }
}

/// How this process recognises its own node: `KUBEDRILL_SELF_NODE` or `NODE_NAME` (set it
/// from the downward API when running in a pod), else this host's name and addresses.
#[derive(Debug, Clone, Default)]
pub struct SelfIdentity {
    pub node_name: Option<String>,
    pub hostname: Option<String>,
    pub ips: Vec<IpAddr>,
}

impl SelfIdentity {
    /// Reads the environment and this host's name and interface addresses.
    pub fn detect() -> Self {
        let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Self {
            node_name: from_env("KUBEDRILL_SELF_NODE").or_else(|| from_env("NODE_NAME")),
            hostname: host::hostname(),
            ips: host::local_ips(),
        }
    }

    /// True when `node` is the machine this process runs on.
    pub fn is(&self, node: &Node) -> bool {
        let name = node_name(node);
        if let Some(me) = &self.node_name {
            return me == name;
        }
        let host = self.hostname.as_deref();
        let short = host.map(|h| h.split('.').next().unwrap_or(h));
        if host == Some(name) || short == Some(name) {
            return true;
        }
        let addresses = node.status.as_ref().and_then(|s| s.addresses.as_ref());
        addresses.into_iter().flatten().any(|a| {
            Some(a.address.as_str()) == host
                || a.address
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| self.ips.contains(&ip))
        })
    }

    /// True when connecting to `host` (an SSH host: a name or an address) reaches this
    /// machine: a loopback or unspecified address, `localhost`, this host's name, or one of
    /// the addresses of this network namespace's interfaces. Names are compared, not
    /// resolved. Addresses that exist only inside other network namespaces (lab nodes)
    /// are not this machine's.
    pub fn is_host(&self, host: &str) -> bool {
        let host = host.trim().trim_end_matches('.');
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        // A zone (`fe80::1%eth0`) does not change whose address it is.
        let unzoned = bare.split_once('%').map_or(bare, |(ip, _)| ip);
        if let Ok(ip) = unzoned.parse::<IpAddr>() {
            let ip = ip.to_canonical();
            return ip.is_loopback() || ip.is_unspecified() || self.ips.contains(&ip);
        }
        let name = host.to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") || name == "localhost.localdomain" {
            return true;
        }
        self.hostname.as_deref().is_some_and(|me| {
            let me = me.trim_end_matches('.').to_ascii_lowercase();
            let short = me.split('.').next().unwrap_or(&me);
            name == me || name == short
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeAddress, NodeStatus};

    fn node(name: &str, cp: bool, ip: &str) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some(name.into());
        if cp {
            n.metadata.labels = Some(
                [(
                    "node-role.kubernetes.io/control-plane".to_string(),
                    String::new(),
                )]
                .into(),
            );
        }
        n.status = Some(NodeStatus {
            addresses: Some(vec![NodeAddress {
                type_: "InternalIP".into(),
                address: ip.into(),
            }]),
            ..Default::default()
        });
        n
    }

    fn cluster() -> Vec<Node> {
        vec![
            node("cp-1", true, "10.0.0.1"),
            node("w-2", false, "10.0.0.12"),
            node("w-1", false, "10.0.0.11"),
            node("w-3", false, "10.0.0.13"),
        ]
    }

    fn nobody() -> SelfIdentity {
        SelfIdentity::default()
    }

    #[test]
    fn role_count_and_first_pick_are_deterministic() {
        let sel = NodeSelection {
            role: Some(NodeRole::Worker),
            count: Some(2),
            ..Default::default()
        };
        let picked = sel
            .pick_from(sel.filter(cluster(), &nobody()).unwrap())
            .unwrap();
        assert_eq!(names(&picked), ["w-1", "w-2"]);
    }

    #[test]
    fn the_harness_node_is_never_picked_and_never_named() {
        let me = SelfIdentity {
            ips: vec!["10.0.0.11".parse().unwrap()],
            ..Default::default()
        };
        let sel = NodeSelection {
            role: Some(NodeRole::Worker),
            count: Some(3),
            ..Default::default()
        };
        let err = sel
            .pick_from(sel.filter(cluster(), &me).unwrap())
            .unwrap_err();
        assert!(err.contains("only 2 match: w-2, w-3"), "{err}");
        let named = NodeSelection {
            names: vec!["w-1".into()],
            ..Default::default()
        };
        let err = named.filter(cluster(), &me).unwrap_err();
        assert!(err.contains("runs on"), "{err}");
        let by_env = SelfIdentity {
            node_name: Some("w-3".into()),
            ..Default::default()
        };
        assert!(by_env.is(&cluster()[3]) && !by_env.is(&cluster()[1]));
    }

    #[test]
    fn exclusions_and_random_pick_stay_within_candidates() {
        let sel = NodeSelection {
            role: Some(NodeRole::Worker),
            exclude: vec!["w-2".into()],
            count: Some(2),
            pick: Pick::Random,
            ..Default::default()
        };
        for _ in 0..20 {
            let picked = sel
                .pick_from(sel.filter(cluster(), &nobody()).unwrap())
                .unwrap();
            assert_eq!(names(&picked), ["w-1", "w-3"]);
        }
    }

    #[test]
    fn ssh_hosts_that_reach_this_machine_are_recognised() {
        let me = SelfIdentity {
            node_name: None,
            hostname: Some("drill-host.example.com".into()),
            ips: vec!["192.0.2.2".parse().unwrap(), "fd00::2".parse().unwrap()],
        };
        for host in [
            "127.0.0.1",
            "127.0.1.1",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
            "0.0.0.0",
            "localhost",
            "LOCALHOST.",
            "ip6-loop.localhost",
            "drill-host",
            "Drill-Host.example.com",
            "192.0.2.2",
            "::ffff:192.0.2.2",
            "fd00::2",
            "[fd00::2%eth0]",
        ] {
            assert!(me.is_host(host), "{host} is this machine");
        }
        // Other machines, and lab nodes whose addresses live in their own namespaces.
        for host in [
            "192.0.2.3",
            "10.213.4.2",
            "fd00::3",
            "drill-host2",
            "other.example.com",
            "drill-host.other.org",
            "notlocalhost",
        ] {
            assert!(!me.is_host(host), "{host} is another machine");
        }
        assert!(!SelfIdentity::default().is_host("drill-host"));
    }

    #[test]
    fn lease_refs_parse_and_refuse_what_is_not_ns_slash_name() {
        let l = LeaseRef::parse("kube-system/kube-controller-manager").unwrap();
        assert_eq!(
            (l.namespace.as_str(), l.name.as_str()),
            ("kube-system", "kube-controller-manager")
        );
        assert_eq!(l.to_string(), "kube-system/kube-controller-manager");
        for bad in ["kube-controller-manager", "/x", "ns/", "a/b/c", "NS/x", ""] {
            assert!(LeaseRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_holder_identity_names_its_node_before_the_last_underscore() {
        assert_eq!(
            holder_node_name("n0_0c9a5a3e-4c1e-4c4e-9f3c-1e0f8f1e2b7a"),
            "n0"
        );
        assert_eq!(
            holder_node_name("drill-control-plane2_5f0e6c1b-8d2a-4f1e-a3b4-6c7d8e9f0a1b"),
            "drill-control-plane2"
        );
        assert_eq!(holder_node_name("my_host_abc"), "my_host");
        assert_eq!(holder_node_name("bare-host"), "bare-host");
        assert!(holder_is("n0", "n0") && holder_is("N0", "n0"));
        assert!(holder_is("cp-1.example.com", "cp-1") && holder_is("cp-1", "cp-1.example.com"));
        assert!(!holder_is("n0", "n1") && !holder_is("cp-1", "cp-10"));
    }

    #[test]
    fn a_missing_named_node_is_an_error() {
        let sel = NodeSelection {
            names: vec!["nope".into()],
            ..Default::default()
        };
        assert!(sel
            .filter(cluster(), &nobody())
            .unwrap_err()
            .contains("nope not found"));
    }
}
