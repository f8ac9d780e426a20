//! `node-isolate`: cut a whole node off the network with a dedicated iptables chain
//! (`KUBEDRILL-PART-<id>`, named after scenario and step like `etcd-partition`'s, so the
//! etcd quorum guard counts an isolated node), jumped to first from INPUT and OUTPUT, that
//! drops everything except loopback and — with `keep-access: true`, the default — the
//! harness's own access path: SSH from the address the node sees the harness connect from
//! (`$SSH_CONNECTION`), to the port it connected to. `docker` and `netns` access need no
//! network, so nothing else is kept for them.
//!
//! `keep-access: false` cuts SSH too. The revert (journaled before the chain goes in)
//! then cannot reach the node until the `self-heal` scheduled on the node itself has
//! removed the chain: a detached `sleep SELF_HEAL; iptables -D ...` started with the
//! injection, which only removes the chain it was started for (a comment with a per-run
//! token). Over SSH `keep-access: false` is refused without `self-heal`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::access::{inventory_node, run_checked};
use super::stop_service::describe_targets;
use super::targets::k8s_nodes;
use super::{prepared, BlastRadius, FaultError, FaultKind, Prepared};
use crate::access::{AccessSpec, NodeAccess};
use crate::engine::RunContext;
use crate::etcd::iptables::{chain_for, list_rules, partition_chains, HOOKS};
use crate::revert::{shell_words, RemoveIptablesChain, RevertAction};
use crate::scenario::duration::HumanDuration;
use crate::scenario::{Errors, KeyPath};

/// `node-isolate: { nodes: [n1], keep-access: true, self-heal: 2m }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NodeIsolateFault {
    /// Node names from the inventory.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Or: nodes with this role (the first `count` by name).
    #[serde(default)]
    pub role: Option<String>,
    /// How many nodes to pick by role (default 1).
    #[serde(default)]
    pub count: Option<usize>,
    /// Or: the node whose component holds this leader-election Lease.
    #[serde(default)]
    pub lease_holder: Option<String>,
    /// Keep the harness's SSH access to the node (and loopback) open.
    #[serde(default = "yes")]
    pub keep_access: bool,
    /// Also schedule the chain's removal on the node itself this long after the injection
    /// (required for `keep-access: false` over SSH).
    #[serde(default)]
    pub self_heal: Option<HumanDuration>,
    /// Nodes that may be isolated at once (blast-radius guard).
    #[serde(default = "super::targets::one_node_at_a_time")]
    pub max_unavailable: usize,
    /// Timeout of each command.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// The chain, named when the scenario is loaded after the scenario and the step.
    #[serde(skip)]
    pub chain: Option<String>,
}

k8s_nodes!(NodeIsolateFault);

fn yes() -> bool {
    true
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

/// Delay before a detached install starts (keep-access: false over SSH), so the command
/// that started it returns while the connection still works.
const DETACHED_DELAY_SECS: u32 = 1;

/// Finds `$SSH_CONNECTION` of this command's SSH session: in its own environment, else
/// (sudo resets the environment) in its ancestors'. Prints `CLIENT CPORT SERVER SPORT`.
const SSH_CONNECTION: &str = r#"c=${SSH_CONNECTION:-}; p=$$
while [ -z "$c" ] && [ -n "$p" ] && [ "$p" -gt 1 ]; do
  c=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | sed -n 's/^SSH_CONNECTION=//p')
  p=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f2)
done
echo "$c""#;

impl NodeIsolateFault {
    /// Names the chain after the scenario and the step (0-based) this fault belongs to.
    pub fn place(&mut self, scenario: &str, step: usize) {
        self.chain = Some(chain_for(scenario, step));
    }

    fn chain(&self) -> String {
        self.chain
            .clone()
            .unwrap_or_else(|| chain_for(&format!("node-isolate {:?}", self.nodes), 0))
    }
}

/// The harness as the node sees it over SSH: its address and the node's SSH port.
#[derive(Debug, Clone, PartialEq)]
struct AccessPath {
    harness: IpAddr,
    port: u16,
}

impl AccessPath {
    fn parse(ssh_connection: &str) -> Option<Self> {
        let w: Vec<&str> = ssh_connection.split_whitespace().collect();
        match w.as_slice() {
            [client, _, _, port] => Some(Self {
                harness: client.parse().ok()?,
                port: port.parse().ok()?,
            }),
            _ => None,
        }
    }
}

fn iptables(args: &[&str]) -> Vec<String> {
    ["iptables", "-w", "5"]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect()
}

/// The rules of one node's chain, in order: token comment, loopback, the access path,
/// DROP, then the jumps from INPUT and OUTPUT.
fn install(chain: &str, token: &str, keep: Option<&AccessPath>) -> Vec<Vec<String>> {
    let mut cmds = vec![
        iptables(&["-N", chain]),
        // Matches everything and does nothing: marks whose chain this is for the self-heal.
        iptables(&["-A", chain, "-m", "comment", "--comment", token]),
        iptables(&["-A", chain, "-i", "lo", "-j", "RETURN"]),
        iptables(&["-A", chain, "-o", "lo", "-j", "RETURN"]),
    ];
    if let Some(a) = keep {
        let (h, p) = (a.harness.to_string(), a.port.to_string());
        cmds.push(iptables(&[
            "-A", chain, "-p", "tcp", "-s", &h, "--dport", &p, "-j", "RETURN",
        ]));
        cmds.push(iptables(&[
            "-A", chain, "-p", "tcp", "-d", &h, "--sport", &p, "-j", "RETURN",
        ]));
    }
    cmds.push(iptables(&["-A", chain, "-j", "DROP"]));
    for hook in HOOKS {
        cmds.push(iptables(&["-I", hook, "1", "-j", chain]));
    }
    cmds
}

/// Commands joined for one `sh -c` (the node is cut part-way otherwise).
fn joined(cmds: &[Vec<String>]) -> String {
    cmds.iter()
        .map(|c| shell_words(c))
        .collect::<Vec<_>>()
        .join(" && ")
}

/// `sh -c` that starts `script` detached from the command (its own session, no open
/// output), so it outlives the connection and the command's timeout.
fn detached(script: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        r#"setsid sh -c "$0" >/dev/null 2>&1 </dev/null & echo "started pid $!""#.into(),
        script.into(),
    ]
}

/// The self-heal script: after `secs`, remove the chain and its jumps, only if the chain
/// still holds this run's `token` (a later run of the same step has its own).
fn self_heal_script(chain: &str, token: &str, secs: u64) -> String {
    let mut s = format!(
        "sleep {secs}; iptables -w 5 -S {chain} 2>/dev/null | grep -q -- {token} || exit 0; "
    );
    for hook in HOOKS {
        s.push_str(&format!(
            "while iptables -w 5 -D {hook} -j {chain} 2>/dev/null; do :; done; "
        ));
    }
    s.push_str(&format!(
        "iptables -w 5 -F {chain}; iptables -w 5 -X {chain}"
    ));
    s
}

impl FaultKind for NodeIsolateFault {
    const KIND: &'static str = "node-isolate";
    const SUMMARY: &'static str =
        "cut a whole node off the network (iptables chain dropping all but loopback and, by default, the harness's SSH access)";
    const EXAMPLE: &'static str =
        "fault:\n  node-isolate: { nodes: [n1], keep-access: true }\nfor: 15s";

    fn node_refs(&self) -> Vec<String> {
        self.nodes.clone()
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        self.targets().validate(at, self.max_unavailable, errs);
        if self.timeout.get().is_zero() {
            errs.add(at.key("timeout"), "must be longer than zero");
        }
        if self
            .self_heal
            .is_some_and(|d| d.get() < Duration::from_secs(1))
        {
            errs.add(at.key("self-heal"), "must be at least 1s");
        }
    }

    fn describe(&self) -> String {
        let keep = if self.keep_access {
            "loopback and the harness's access kept"
        } else {
            "the harness's access cut too"
        };
        format!(
            "isolate {} from the network ({keep})",
            describe_targets(&self.targets())
        )
    }

    fn undo(&self) -> String {
        "remove the isolation's iptables chain and its jumps, and check nothing is left".into()
    }

    fn prepare(
        &self,
        ctx: Arc<RunContext>,
    ) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
        let spec = self.clone();
        prepared::boxed(async move { resolve(&spec, &ctx).await })
    }
}

/// Read-only: the nodes, the harness's access path on each, and the guards.
async fn resolve(
    spec: &NodeIsolateFault,
    ctx: &Arc<RunContext>,
) -> Result<PreparedIsolate, FaultError> {
    let nodes = spec.targets().resolve(ctx).await.map_err(FaultError)?;
    let chain = spec.chain();
    let token = format!(
        "kubedrill-isolate-{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id())
    );
    let timeout = spec.timeout.get();
    let mut plans = Vec::new();
    for n in nodes {
        let node = inventory_node(ctx, &n.name)?;
        let ssh = matches!(n.access, AccessSpec::Ssh(_));
        if ssh && !spec.keep_access && spec.self_heal.is_none() {
            return Err(FaultError(format!(
                "refusing: `keep-access: false` cuts the SSH access to {} and the revert could \
                 not reach it; set `self-heal: DURATION` (the node removes the chain itself after \
                 it, and the revert then only checks)",
                n.name
            )));
        }
        let listing = run_checked(node, &list_rules(), timeout).await?;
        if partition_chains(&listing.stdout).contains(&chain) {
            return Err(FaultError(format!(
                "refusing: chain {chain} is already on node {}: another run of this scenario \
                 holds it, or a killed run left it (`kubedrill recover RUN_DIR` removes it)",
                n.name
            )));
        }
        let keep = if ssh && spec.keep_access {
            Some(access_path(node, timeout).await?)
        } else {
            None
        };
        plans.push(Plan {
            node: n.name.clone(),
            ssh,
            rules: install(&chain, &token, keep.as_ref()),
            keep,
        });
    }
    Ok(PreparedIsolate {
        spec: spec.clone(),
        ctx: ctx.clone(),
        chain,
        token,
        plans,
    })
}

/// The harness's SSH access path as `node` sees it.
async fn access_path(node: &NodeAccess, timeout: Duration) -> Result<AccessPath, FaultError> {
    let argv = vec!["sh".to_string(), "-c".into(), SSH_CONNECTION.into()];
    let out = run_checked(node, &argv, timeout).await?;
    let path = AccessPath::parse(&out.stdout).ok_or_else(|| {
        FaultError(format!(
            "refusing: cannot tell the harness's address as node {} sees it (SSH_CONNECTION \
             is `{}`), so `keep-access` cannot keep it",
            node.spec().name,
            out.stdout.trim()
        ))
    })?;
    if path.harness.is_ipv6() {
        return Err(FaultError(format!(
            "refusing: the harness reaches node {} over IPv6 ({}); node-isolate writes IPv4 \
             rules (iptables) and would not keep that access",
            node.spec().name,
            path.harness
        )));
    }
    Ok(path)
}

/// One node: its rules and what is kept.
struct Plan {
    node: String,
    ssh: bool,
    rules: Vec<Vec<String>>,
    keep: Option<AccessPath>,
}

struct PreparedIsolate {
    spec: NodeIsolateFault,
    ctx: Arc<RunContext>,
    chain: String,
    token: String,
    plans: Vec<Plan>,
}

impl PreparedIsolate {
    /// True when the install runs detached: it cuts the very SSH connection running it.
    fn cuts_own_access(&self, p: &Plan) -> bool {
        p.ssh && !self.spec.keep_access
    }

    fn self_heal(&self) -> Option<Vec<String>> {
        let secs = self.spec.self_heal?.get().as_secs_f64().ceil() as u64;
        Some(detached(&self_heal_script(&self.chain, &self.token, secs)))
    }

    /// The argv that installs `p`'s rules.
    fn install_argv(&self, p: &Plan) -> Vec<String> {
        let script = joined(&p.rules);
        if self.cuts_own_access(p) {
            detached(&format!("sleep {DETACHED_DELAY_SECS}; {script}"))
        } else {
            vec!["sh".into(), "-c".into(), script]
        }
    }
}

impl Prepared for PreparedIsolate {
    fn describe(&self) -> String {
        let each: Vec<String> = self
            .plans
            .iter()
            .map(|p| match &p.keep {
                Some(a) => format!(
                    "{} (keeps SSH from {} to port {})",
                    p.node, a.harness, a.port
                ),
                None if self.spec.keep_access => format!("{} (access needs no network)", p.node),
                None => format!("{} (access cut too)", p.node),
            })
            .collect();
        format!(
            "isolate {} with iptables chain {}",
            each.join(", "),
            self.chain
        )
    }

    fn commands(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for p in &self.plans {
            let how = if self.cuts_own_access(p) {
                format!("detached after {DETACHED_DELAY_SECS}s, in one `sh -c`")
            } else {
                "in one `sh -c`, joined by &&".to_string()
            };
            for r in &p.rules {
                lines.push(format!("on {}: {}   ({how})", p.node, shell_words(r)));
            }
            if let Some(heal) = self.self_heal() {
                lines.push(format!(
                    "on {}: {}   (self-heal)",
                    p.node,
                    shell_words(&heal)
                ));
            }
        }
        lines
    }

    fn blast_radius(&self) -> Option<BlastRadius> {
        Some(BlastRadius {
            nodes: self.plans.iter().map(|p| p.node.clone()).collect(),
            max_unavailable: self.spec.max_unavailable,
        })
    }

    fn reverts(&self) -> Vec<RevertAction> {
        self.plans
            .iter()
            .map(|p| {
                // Cut off, the revert's commands wait for the self-heal to give the node
                // back; each may take that long.
                let timeout = match (self.cuts_own_access(p), self.spec.self_heal) {
                    (true, Some(h)) => HumanDuration(h.get() + self.spec.timeout.get()),
                    _ => self.spec.timeout,
                };
                RevertAction::RemoveIptablesChain(RemoveIptablesChain {
                    node: p.node.clone(),
                    chain: self.chain.clone(),
                    hooks: HOOKS.iter().map(|h| h.to_string()).collect(),
                    timeout,
                })
            })
            .collect()
    }

    fn inject(self: Box<Self>) -> BoxFuture<'static, Result<serde_json::Value, FaultError>> {
        Box::pin(async move {
            let timeout = self.spec.timeout.get();
            let mut nodes = Vec::new();
            for p in &self.plans {
                let node = inventory_node(&self.ctx, &p.node)?;
                // The self-heal first: it must be in place before anything is cut.
                if let Some(heal) = self.self_heal() {
                    run_checked(node, &heal, timeout).await?;
                }
                run_checked(node, &self.install_argv(p), timeout).await?;
                let installed = if self.cuts_own_access(p) {
                    "detached (the harness's SSH access is cut; not verified)".to_string()
                } else {
                    verify_jumps(node, &self.chain, timeout).await?;
                    "verified".to_string()
                };
                nodes.push(serde_json::json!({
                    "node": p.node,
                    "installed": installed,
                    "kept": p.keep.as_ref().map(|a| serde_json::json!({
                        "harness": a.harness.to_string(),
                        "ssh_port": a.port,
                    })),
                }));
            }
            Ok(serde_json::json!({
                "chain": self.chain,
                "keep_access": self.spec.keep_access,
                "self_heal_ms": self.spec.self_heal.map(|h| h.get().as_secs_f64() * 1000.0),
                "nodes": nodes,
            }))
        })
    }
}

/// Checks that INPUT and OUTPUT jump to `chain` on `node`.
async fn verify_jumps(node: &NodeAccess, chain: &str, timeout: Duration) -> Result<(), FaultError> {
    let listing = run_checked(node, &list_rules(), timeout).await?;
    for hook in HOOKS {
        let jump = format!("-A {hook} -j {chain}");
        if !listing.stdout.lines().any(|l| l.trim() == jump) {
            return Err(FaultError(format!(
                "node {}: `{jump}` is missing after the install",
                node.spec().name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_loopback_and_the_ssh_path_before_the_drop_and_jumps_last() {
        let keep = AccessPath::parse("10.214.0.1 51234 10.214.0.11 22\n").unwrap();
        assert_eq!(keep.port, 22);
        let cmds = install("KUBEDRILL-PART-abc", "tok", Some(&keep));
        let lines: Vec<String> = cmds.iter().map(|c| c.join(" ")).collect();
        let drop = lines.iter().position(|l| l.ends_with("-j DROP")).unwrap();
        let ssh_in = lines
            .iter()
            .position(|l| l.contains("-s 10.214.0.1 --dport 22 -j RETURN"))
            .unwrap();
        assert!(ssh_in < drop, "{lines:#?}");
        assert!(lines[drop + 1].ends_with("-I INPUT 1 -j KUBEDRILL-PART-abc"));
        assert!(lines[drop + 2].ends_with("-I OUTPUT 1 -j KUBEDRILL-PART-abc"));
        assert_eq!(lines.len(), drop + 3);
        let cut = install("C", "tok", None);
        assert!(!cut.iter().any(|c| c.join(" ").contains("--dport")));
        assert_eq!(AccessPath::parse(""), None);
        assert_eq!(AccessPath::parse("x 1 y 22"), None);
    }

    #[test]
    fn the_self_heal_removes_only_its_own_chain() {
        let s = self_heal_script("C", "kubedrill-isolate-1f", 30);
        assert!(s.starts_with("sleep 30; iptables -w 5 -S C 2>/dev/null | grep -q -- kubedrill-isolate-1f || exit 0;"), "{s}");
        assert!(s.ends_with("iptables -w 5 -F C; iptables -w 5 -X C"), "{s}");
    }
}
