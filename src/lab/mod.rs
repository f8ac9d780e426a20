//! The local lab: a few "nodes" on this machine, each a network namespace running real
//! sshd, etcd, NATS (JetStream cluster), dnsmasq and a kubelet stand-in, so every fault
//! and probe can be drilled without a cluster. Needs root.
//!
//! Network: bridge `<prefix>-br` holds the subnet's `.1` (so the host reaches every node
//! directly); node `nN` is namespace `<prefix>-nN` with `eth0` = `.10+N`, joined to the
//! bridge by veth `<prefix>-vN`; `svc.lab.kubedrill.test` resolves to `.100`. Rules tagged
//! `kubedrill-lab:<prefix>` accept bridge traffic in FORWARD/INPUT/OUTPUT.
//!
//! Directory (default `/var/lib/kubedrill/lab`), all the lab's state:
//! ```text
//! lab.yaml                    the config (marks the directory as a lab's)
//! inventory.yaml vars.yaml    what `up` returns, for `kubedrill run`
//!                             (NATS has a stream for drills, `nats_stream.rs`)
//! known_hosts                 node host keys (strict checking works)
//! keys/id_ed25519[.pub]       client key; keys/authorized_keys
//! nodes/nN/ctl                `ctl start|stop|status SERVICE|all` (runs on the node)
//! nodes/nN/{sshd_config,nats.conf,ssh_host_ed25519_key}
//! nodes/nN/{etcd,nats}/       data; nodes/nN/run/*.pid; nodes/nN/log/*.log
//! ```
//! `up_kubernetes` (`lab up --kubernetes`) builds a Kubernetes lab on the same plan:
//! control-plane nodes `n0..n2`, workers `w0..` (namespaces `<prefix>-wN`), a load
//! balancer namespace `<prefix>-lb`, and `pki/`, `admin.conf`, `manifests/` and
//! `kubernetes.yaml` in the directory; see `kubernetes/mod.rs`.
//!
//! `up` is idempotent (keys and data are kept); `down` kills every lab process (by
//! namespace and by the `KUBEDRILL_LAB_DIR` marker in their environment), removes the
//! namespaces, links and rules, and deletes the directory.

mod config;
mod health;
mod host;
mod inventory;
pub mod kubelet_standin;
mod kubernetes;
mod nats_stream;
mod net;
mod services;

pub use config::{default_kubelet_standin, LabConfig, MARKER_FILE, ZONE};
pub use health::dns_answers;
pub use host::pids_with_env;
pub use kubernetes::{bin_dir as kubernetes_bin_dir, BUILD_HINT, CONTEXT as KUBERNETES_CONTEXT};
pub use net::iptables_rules;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::access::Inventory;
use config::Layout;

/// Why a lab operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("the lab needs root (network namespaces, bridges, iptables); run it with sudo")]
    NotRoot,
    #[error("missing programs: {0}")]
    MissingPrograms(String),
    #[error("invalid lab config: {0}")]
    Invalid(String),
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lab services not ready after {}: {details}", humantime::format_duration(Duration::from_secs(after.as_secs())))]
    NotReady { after: Duration, details: String },
}

/// A lab that is up: its inventory and variables, also written to the lab directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Lab {
    pub inventory: Inventory,
    pub vars: BTreeMap<String, String>,
    pub inventory_file: PathBuf,
    pub vars_file: PathBuf,
}

/// What `up` would produce, computed without touching the machine.
pub fn describe(cfg: &LabConfig) -> Result<Lab, LabError> {
    Ok(describe_layout(&Layout::new(cfg)?))
}

fn describe_layout(l: &Layout) -> Lab {
    Lab {
        inventory: inventory::inventory(l),
        vars: inventory::vars(l),
        inventory_file: l.inventory_file(),
        vars_file: l.vars_file(),
    }
}

/// Builds (or completes) the Kubernetes lab (`lab up --kubernetes`: an HA control plane,
/// kwok nodes, CoreDNS, an API load balancer and the fixtures) and waits until the nodes
/// and the fixtures are Ready. See `kubernetes/mod.rs`.
pub async fn up_kubernetes(cfg: &LabConfig) -> Result<Lab, LabError> {
    kubernetes::up(cfg).await
}

/// True when `dir` holds a lab built by `up_kubernetes`.
pub fn is_kubernetes_lab(dir: &std::path::Path) -> bool {
    kubernetes::is_kubernetes_lab(dir)
}

/// Builds (or completes) the lab and waits until every service answers.
pub async fn up(cfg: &LabConfig) -> Result<Lab, LabError> {
    up_supervised(cfg, None).await
}

/// [`up`], with every node service under a supervisor that starts it again `supervise`
/// after it exits (`lab up --supervise[=DELAY]`); `ctl stop` ends the supervisor too, so
/// a stopped service stays stopped. The `ctl` scripts are written again on every `up`:
/// services started before keep the supervision they were started with.
pub async fn up_supervised(cfg: &LabConfig, supervise: Option<Duration>) -> Result<Lab, LabError> {
    let mut l = Layout::new(cfg)?;
    l.supervise = supervise;
    host::require_root()?;
    let programs = host::find_programs(&cfg.kubelet_standin[0])?;
    if is_kubernetes_lab(&cfg.dir) {
        return Err(LabError::Invalid(format!(
            "{} holds a Kubernetes lab; run `lab down` first or use `lab up --kubernetes`",
            cfg.dir.display()
        )));
    }
    claim_dir(cfg)?;
    net::up(&l).await?;
    services::prepare(&l, &programs).await?;
    services::start_all(&l).await?;
    let lab = describe(cfg)?;
    services::write(&lab.inventory_file, &lab.inventory.to_yaml())?;
    let vars = serde_yaml::to_string(&lab.vars).expect("string map serialises");
    services::write(&lab.vars_file, &vars)?;
    wait_ready(&l, cfg.ready_timeout).await?;
    nats_stream::ensure_plain(&l, cfg.ready_timeout).await?;
    Ok(lab)
}

/// Refuses a directory that holds something else or another lab; records `cfg` in it.
fn claim_dir(cfg: &LabConfig) -> Result<(), LabError> {
    let busy = || std::fs::read_dir(&cfg.dir).is_ok_and(|mut entries| entries.next().is_some());
    match LabConfig::from_dir(&cfg.dir)? {
        Some(old)
            if (&old.name_prefix, &old.subnet, old.nodes)
                != (&cfg.name_prefix, &cfg.subnet, cfg.nodes) =>
        {
            return Err(LabError::Invalid(format!(
                "{} holds lab `{}` ({}, {} nodes); run `lab down` first",
                cfg.dir.display(),
                old.name_prefix,
                old.subnet,
                old.nodes
            )))
        }
        None if busy() => {
            return Err(LabError::Invalid(format!(
                "{} is not empty and has no {MARKER_FILE}; choose another lab dir",
                cfg.dir.display()
            )))
        }
        _ => {}
    }
    services::mkdir(&cfg.dir)?;
    let text = serde_yaml::to_string(cfg).expect("config serialises");
    services::write(&cfg.dir.join(MARKER_FILE), &text)
}

/// Up or down, per node and service, as seen from the host.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabStatus {
    pub nodes: Vec<NodeStatus>,
    /// The plain lab's JetStream stream (asked only while a NATS server answers).
    pub nats_stream: Option<Result<crate::nats::StreamStatus, String>>,
}

/// One node of `LabStatus`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeStatus {
    pub name: String,
    pub address: String,
    /// Whether the node's namespace exists.
    pub netns: bool,
    /// `Ok` when the service answers, else why not.
    pub services: BTreeMap<String, Result<(), String>>,
}

impl LabStatus {
    /// True when every node exists, every service answers and the stream (if asked) has
    /// a leader.
    pub fn all_up(&self) -> bool {
        self.nodes
            .iter()
            .all(|n| n.netns && n.services.values().all(Result::is_ok))
            && self.stream_problem().is_none()
    }

    fn stream_problem(&self) -> Option<String> {
        match &self.nats_stream {
            Some(Err(e)) => Some(format!("nats stream: {e}")),
            Some(Ok(s)) if s.leader.is_none() => Some(format!("nats {s}")),
            _ => None,
        }
    }

    /// The services that do not answer, as `node/service: why`.
    pub fn problems(&self) -> Vec<String> {
        self.nodes
            .iter()
            .flat_map(|n| {
                n.services.iter().filter_map(move |(s, r)| {
                    r.as_ref().err().map(|e| format!("{}/{s}: {e}", n.name))
                })
            })
            .chain(self.stream_problem())
            .collect()
    }
}

impl fmt::Display for LabStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.nodes {
            let ns = if n.netns { "" } else { " (no namespace)" };
            write!(f, "{:<4} {:<15}{ns}", n.name, n.address)?;
            for (s, r) in &n.services {
                write!(f, "  {s} {}", if r.is_ok() { "up" } else { "down" })?;
            }
            writeln!(f)?;
        }
        match &self.nats_stream {
            Some(Ok(s)) => writeln!(f, "nats {s}")?,
            Some(Err(e)) => writeln!(f, "nats stream: {e}")?,
            None => {}
        }
        Ok(())
    }
}

/// Checks every service of every node once (and, for a Kubernetes lab, the load balancer,
/// the nodes' readiness and the fixtures).
pub async fn status(cfg: &LabConfig) -> Result<LabStatus, LabError> {
    if is_kubernetes_lab(&cfg.dir) {
        return status_of(&Layout::kubernetes(cfg)?).await;
    }
    let l = Layout::new(cfg)?;
    let mut st = status_of(&l).await?;
    let nats_answers = st
        .nodes
        .iter()
        .any(|n| n.services.get("nats").is_some_and(Result::is_ok));
    if nats_answers {
        st.nats_stream = Some(nats_stream::status(&l).await);
    }
    Ok(st)
}

async fn status_of(l: &Layout) -> Result<LabStatus, LabError> {
    let mut st = node_status(l).await?;
    if l.kubernetes {
        let lb = net::namespaces(&l.prefix).await?.contains(&l.lb_netns());
        st.nodes.extend(kubernetes::cluster_rows(l, lb).await);
    }
    Ok(st)
}

async fn node_status(l: &Layout) -> Result<LabStatus, LabError> {
    let existing = net::namespaces(&l.prefix).await?;
    let http = health::http_client();
    let nodes = (0..l.nodes).map(|i| {
        let (http, netns) = (&http, existing.contains(&l.netns(i)));
        async move {
            let names = services::node_services(l, i);
            let checks = names.iter().map(|s| health::check(l, i, s, http));
            let results = futures::future::join_all(checks).await;
            NodeStatus {
                name: l.node_name(i),
                address: l.node_addr(i).to_string(),
                netns,
                services: names.into_iter().map(String::from).zip(results).collect(),
            }
        }
    });
    Ok(LabStatus {
        nodes: futures::future::join_all(nodes).await,
        nats_stream: None,
    })
}

async fn wait_ready(l: &Layout, timeout: Duration) -> Result<(), LabError> {
    let deadline = Instant::now() + timeout;
    loop {
        let st = status_of(l).await?;
        if st.all_up() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LabError::NotReady {
                after: timeout,
                details: format!(
                    "{}; logs in {}/nodes/*/log/",
                    st.problems().join("; "),
                    l.dir.display()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Removes everything `up` created; running it again (or on a half-built lab) is fine.
pub async fn down(cfg: &LabConfig) -> Result<(), LabError> {
    let l = Layout::new(cfg)?;
    host::require_root()?;
    // The Kubernetes lab's pod runner starts processes: it goes first, so none starts
    // between the sweep's listing and its signals.
    kubernetes::stop_pod_runner(&l).await;
    let mut pids = host::pids_with_env(&l.process_marker());
    for ns in net::namespaces(&l.prefix).await? {
        let out = host::run(&["ip", "netns", "pids", &ns]).await?;
        pids.extend(
            out.stdout
                .lines()
                .filter_map(|p| p.trim().parse::<i32>().ok()),
        );
    }
    pids.sort_unstable();
    pids.dedup();
    host::terminate(&pids, Duration::from_secs(5)).await;
    net::down(&l).await?;
    if LabConfig::from_dir(&l.dir)?.is_some() {
        std::fs::remove_dir_all(&l.dir).map_err(|source| LabError::Io {
            path: l.dir.clone(),
            source,
        })?;
    }
    Ok(())
}
