//! What a lab looks like: its directory, names and addresses, all derived from `LabConfig`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::LabError;

/// Name of the file in the lab directory that records the config and marks the directory
/// as a lab (so `down` only ever deletes a directory the lab created).
pub const MARKER_FILE: &str = "lab.yaml";
/// DNS zone answered by every node's dnsmasq.
pub const ZONE: &str = "lab.kubedrill.test";
/// At most this many etcd members, on the first nodes.
pub const MAX_ETCD_MEMBERS: usize = 3;

/// How to build a lab. Tests use distinct `name_prefix` and `subnet` to run labs in parallel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LabConfig {
    /// Everything the lab writes lives here (default `/var/lib/kubedrill/lab`).
    pub dir: PathBuf,
    /// Prefix of namespace, bridge and veth names: 1-10 chars of `[a-z0-9]`.
    pub name_prefix: String,
    /// IPv4 network, `/16` to `/24`: bridge `.1`, nodes `.10+N`, `svc` name `.100`.
    pub subnet: String,
    /// Number of nodes (1-64); etcd runs on the first three.
    pub nodes: usize,
    /// argv prefix of the kubelet stand-in; `--listen ADDR:10248` is appended.
    pub kubelet_standin: Vec<String>,
    /// How long `up` waits for every service to answer.
    #[serde(with = "humantime_serde_secs")]
    pub ready_timeout: Duration,
}

impl Default for LabConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("/var/lib/kubedrill/lab"),
            name_prefix: "kdlab".into(),
            subnet: "10.213.0.0/24".into(),
            nodes: 3,
            kubelet_standin: default_kubelet_standin(),
            ready_timeout: Duration::from_secs(90),
        }
    }
}

/// `kubedrill-kubelet-standin` next to the running executable, else from `PATH`.
pub fn default_kubelet_standin() -> Vec<String> {
    const NAME: &str = "kubedrill-kubelet-standin";
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(NAME)))
        .filter(|p| p.is_file());
    vec![sibling.map_or(NAME.to_string(), |p| p.display().to_string())]
}

impl LabConfig {
    /// Defaults of `lab up --kubernetes`: its own directory, prefix and subnet (so it can
    /// run next to the plain lab), three control-plane nodes and three workers.
    pub fn kubernetes_default() -> Self {
        Self {
            dir: PathBuf::from("/var/lib/kubedrill/lab-k8s"),
            name_prefix: "kdk8s".into(),
            subnet: "10.214.0.0/24".into(),
            nodes: 6,
            kubelet_standin: default_kubelet_standin(),
            ready_timeout: Duration::from_secs(180),
        }
    }

    /// The config recorded by `up` in `dir`, if a lab was built there.
    pub fn from_dir(dir: &Path) -> Result<Option<Self>, LabError> {
        let path = dir.join(MARKER_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_yaml::from_str(&text)
                .map(Some)
                .map_err(|e| LabError::Invalid(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LabError::Io { path, source }),
        }
    }
}

/// Serde for a `Duration` as humantime text (`90s`).
mod humantime_serde_secs {
    use super::*;
    use crate::scenario::duration::HumanDuration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        HumanDuration(*d).serialize(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        HumanDuration::deserialize(d).map(HumanDuration::get)
    }
}

/// Names, addresses and paths of one lab, checked once.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
    pub prefix: String,
    pub nodes: usize,
    pub kubelet_standin: Vec<String>,
    network: u32,
    pub prefix_len: u8,
    /// A Kubernetes lab (`lab up --kubernetes`): control-plane nodes `n0..n2`, workers
    /// `w0..`, and a load balancer namespace.
    pub kubernetes: bool,
    /// `lab up --supervise`: each node service runs under a supervisor loop that starts it
    /// again this long after it exits (None: no supervisor).
    pub supervise: Option<Duration>,
}

impl Layout {
    /// Checks `cfg` and derives everything from it; no filesystem or network access.
    pub fn new(cfg: &LabConfig) -> Result<Self, LabError> {
        let mut errors = Vec::new();
        let p = &cfg.name_prefix;
        if p.is_empty()
            || p.len() > 10
            || !p
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            errors.push(format!(
                "name prefix `{p}` must be 1-10 characters of a-z and 0-9 (interface names are limited to 15)"
            ));
        }
        if !(1..=64).contains(&cfg.nodes) {
            errors.push(format!("nodes is {}; a lab has 1 to 64 nodes", cfg.nodes));
        }
        if cfg.kubelet_standin.is_empty() {
            errors.push("kubelet-standin must name a program".into());
        }
        if !cfg.dir.is_absolute() {
            errors.push(format!(
                "lab dir {} must be an absolute path",
                cfg.dir.display()
            ));
        }
        let subnet = parse_subnet(&cfg.subnet).map_err(|e| errors.push(e)).ok();
        if !errors.is_empty() {
            return Err(LabError::Invalid(errors.join("; ")));
        }
        let (network, prefix_len) = subnet.expect("checked above");
        Ok(Self {
            dir: cfg.dir.clone(),
            prefix: p.clone(),
            nodes: cfg.nodes,
            kubelet_standin: cfg.kubelet_standin.clone(),
            network,
            prefix_len,
            kubernetes: false,
            supervise: None,
        })
    }

    /// The layout of a Kubernetes lab: the first three nodes are the control plane.
    pub fn kubernetes(cfg: &LabConfig) -> Result<Self, LabError> {
        let l = Self::new(cfg)?;
        if l.nodes < MAX_ETCD_MEMBERS {
            return Err(LabError::Invalid(format!(
                "nodes is {}; a Kubernetes lab has 3 control-plane nodes and the rest are workers",
                l.nodes
            )));
        }
        Ok(Self {
            kubernetes: true,
            ..l
        })
    }

    pub fn bridge(&self) -> String {
        format!("{}-br", self.prefix)
    }
    /// `nN`; in a Kubernetes lab the workers after the control plane are `w0, w1, ...`.
    pub fn node_name(&self, i: usize) -> String {
        match i.checked_sub(MAX_ETCD_MEMBERS) {
            Some(w) if self.kubernetes => format!("w{w}"),
            _ => format!("n{i}"),
        }
    }
    pub fn netns(&self, i: usize) -> String {
        format!("{}-{}", self.prefix, self.node_name(i))
    }
    /// The Kubernetes lab's load balancer: namespace, veths, address (`.50`), directory.
    pub fn lb_netns(&self) -> String {
        format!("{}-lb", self.prefix)
    }
    pub fn lb_veth_host(&self) -> String {
        format!("{}-vlb", self.prefix)
    }
    pub fn lb_veth_peer(&self) -> String {
        format!("{}-plb", self.prefix)
    }
    pub fn lb_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network + 50)
    }
    pub fn lb_dir(&self) -> PathBuf {
        self.dir.join("nodes").join("lb")
    }
    pub fn veth_host(&self, i: usize) -> String {
        format!("{}-v{i}", self.prefix)
    }
    pub fn veth_peer(&self, i: usize) -> String {
        format!("{}-p{i}", self.prefix)
    }
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network + 1)
    }
    pub fn node_addr(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::from(self.network + 10 + i as u32)
    }
    /// The address `offset` in the lab's subnet.
    pub fn host_addr(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.network + offset)
    }
    pub fn svc_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network + 100)
    }
    pub fn etcd_members(&self) -> usize {
        self.nodes.min(MAX_ETCD_MEMBERS)
    }
    pub fn has_etcd(&self, i: usize) -> bool {
        i < self.etcd_members()
    }
    pub fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join("nodes").join(self.node_name(i))
    }
    pub fn ctl(&self, i: usize) -> PathBuf {
        self.node_dir(i).join("ctl")
    }
    pub fn keys_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }
    pub fn client_key(&self) -> PathBuf {
        self.keys_dir().join("id_ed25519")
    }
    pub fn authorized_keys(&self) -> PathBuf {
        self.keys_dir().join("authorized_keys")
    }
    pub fn host_key(&self, i: usize) -> PathBuf {
        self.node_dir(i).join("ssh_host_ed25519_key")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }
    pub fn inventory_file(&self) -> PathBuf {
        self.dir.join("inventory.yaml")
    }
    pub fn vars_file(&self) -> PathBuf {
        self.dir.join("vars.yaml")
    }
    /// The comment on every iptables rule this lab adds, so `down` finds them.
    pub fn iptables_comment(&self) -> String {
        format!("kubedrill-lab:{}", self.prefix)
    }
    /// Environment entry every lab process carries, so `down` finds strays.
    pub fn process_marker(&self) -> String {
        format!("KUBEDRILL_LAB_DIR={}", self.dir.display())
    }
    pub fn dns_name(&self, i: usize) -> String {
        format!("{}.{ZONE}", self.node_name(i))
    }
    pub fn svc_name(&self) -> String {
        format!("svc.{ZONE}")
    }
}

fn parse_subnet(s: &str) -> Result<(u32, u8), String> {
    let bad =
        || format!("subnet `{s}` must look like 10.213.0.0/24 (a network address, /16 to /24)");
    let (addr, len) = s.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if !(16..=24).contains(&len) {
        return Err(bad());
    }
    let network = u32::from(addr);
    if network & ((1u32 << (32 - len)) - 1) != 0 {
        return Err(format!(
            "subnet `{s}` has host bits set; use the network address"
        ));
    }
    Ok((network, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_names_and_addresses_and_collects_errors() {
        let cfg = LabConfig {
            kubelet_standin: vec!["x".into()],
            ..LabConfig::default()
        };
        let l = Layout::new(&cfg).unwrap();
        assert_eq!(l.veth_host(63), "kdlab-v63");
        assert_eq!(l.node_addr(2).to_string(), "10.213.0.12");
        assert_eq!(l.gateway().to_string(), "10.213.0.1");
        assert_eq!(l.svc_addr().to_string(), "10.213.0.100");
        assert_eq!(l.etcd_members(), 3);
        let bad = LabConfig {
            name_prefix: "Way-too-long-prefix".into(),
            subnet: "10.213.0.1/24".into(),
            nodes: 0,
            ..cfg
        };
        let err = Layout::new(&bad).unwrap_err().to_string();
        assert!(
            err.contains("prefix") && err.contains("host bits") && err.contains("nodes"),
            "{err}"
        );
    }
}
