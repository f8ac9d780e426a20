//! `etcd-partition`: cut etcd members off from their peers with iptables rules in a
//! dedicated chain on their nodes. Targets (`leader`, `follower`, node names) are resolved
//! at prepare time; a set that would break quorum is refused unless allowed.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::access::{inventory_node, run_checked};
use super::{prepared, FaultError, FaultKind, Prepared};
use crate::access::shell_quote;
use crate::engine::RunContext;
use crate::etcd::iptables::{chain_for, list_rules, partition_chains, PartitionRules, HOOKS};
use crate::etcd::{cluster_members, quorum_size, ClusterView, EtcdMember, EtcdTls, Gateway};
use crate::revert::{RemoveIptablesChain, RevertAction};
use crate::scenario::duration::HumanDuration;
use crate::scenario::{Errors, KeyPath};

/// `etcd-partition: { member: leader | follower | NODE, client-traffic, allow-quorum-loss }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EtcdPartitionFault {
    /// One member: `leader`, `follower` or a node name.
    #[serde(default)]
    pub member: Option<String>,
    /// Several members (same words as `member`); each is isolated from every other.
    #[serde(default)]
    pub members: Vec<String>,
    /// Also drop client traffic (2379) from other hosts.
    #[serde(default)]
    pub client_traffic: bool,
    /// Isolate even when the rest of the cluster would lose quorum.
    #[serde(default)]
    pub allow_quorum_loss: bool,
    /// The etcd nodes; default: every inventory node with an `etcd` service. Listing
    /// them lets the quorum guard run when the scenario is validated.
    #[serde(default)]
    pub etcd_nodes: Vec<String>,
    #[serde(default)]
    pub tls: Option<EtcdTls>,
    /// Timeout of each command and status request.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// How long to watch the remaining members elect a new leader after the rules are in
    /// place (when the leader was isolated); the time it took goes into the details.
    #[serde(default = "default_failover_timeout")]
    pub failover_timeout: HumanDuration,
    /// The chain this step's rules go in, named when the scenario is loaded after the
    /// scenario and the step (see [`EtcdPartitionFault::place`]), so `plan` shows it.
    #[serde(skip)]
    pub chain: Option<String>,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(10))
}

fn default_failover_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

/// Pause between two reads of the remaining members while they elect a leader.
const FAILOVER_POLL: std::time::Duration = std::time::Duration::from_millis(50);
/// Bound of one status read while watching the election, so a hanging member cannot
/// stretch one poll far past the next.
const FAILOVER_READ: std::time::Duration = std::time::Duration::from_millis(500);

/// A member as the scenario names it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum MemberRef {
    Leader,
    Follower,
    Node(String),
}

impl MemberRef {
    fn parse(s: &str) -> Self {
        match s {
            "leader" => MemberRef::Leader,
            "follower" => MemberRef::Follower,
            node => MemberRef::Node(node.to_string()),
        }
    }
}

impl EtcdPartitionFault {
    fn selection(&self) -> Vec<MemberRef> {
        self.member
            .iter()
            .chain(&self.members)
            .map(|s| MemberRef::parse(s))
            .collect()
    }

    /// Names the chain after the scenario and the step (0-based) this fault belongs to.
    pub fn place(&mut self, scenario: &str, step: usize) {
        self.chain = Some(chain_for(scenario, step));
    }

    /// The chain the run and the plan use (a spec built outside a scenario is named after
    /// what it isolates).
    fn chain(&self) -> String {
        self.chain
            .clone()
            .unwrap_or_else(|| chain_for(&self.words(), 0))
    }

    /// Inventory nodes this fault isolates whatever the cluster's state (members named by
    /// node, not `leader` or `follower`).
    pub fn named_nodes(&self) -> Vec<String> {
        self.selection()
            .into_iter()
            .filter_map(|r| match r {
                MemberRef::Node(n) => Some(n),
                _ => None,
            })
            .collect()
    }

    /// Read-only, before the run starts: the refusal this fault's guards would give now,
    /// with `earlier` (node, why) left isolated by earlier steps of the run. `None` when it
    /// is allowed, or when its targets cannot be resolved now (its step decides then).
    pub async fn plan_refusal(
        &self,
        ctx: &Arc<RunContext>,
        earlier: &[(String, String)],
    ) -> Option<String> {
        let t = resolve_targets(self, ctx).await.ok()?;
        guard(self, ctx, &t, earlier, Moment::BeforeTheRun)
            .await
            .err()
    }

    fn words(&self) -> String {
        self.member
            .iter()
            .chain(&self.members)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The refusal when isolating `k` of `n` members would leave no quorum.
fn quorum_refusal(k: usize, n: usize) -> Option<String> {
    (n.saturating_sub(k) < quorum_size(n)).then(|| {
        format!(
            "isolating {k} of {n} etcd members leaves {} connected, but quorum needs {}; \
             set `allow-quorum-loss: true` to do it anyway",
            n.saturating_sub(k),
            quorum_size(n)
        )
    })
}

impl FaultKind for EtcdPartitionFault {
    const KIND: &'static str = "etcd-partition";
    const SUMMARY: &'static str =
        "isolate etcd members (leader, follower or by node) from their peers with iptables; quorum-guarded";
    const EXAMPLE: &'static str =
        "fault:\n  etcd-partition: { member: leader, client-traffic: false }\nfor: 20s";

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        let sel = self.selection();
        match (&self.member, self.members.is_empty()) {
            (Some(_), false) => errs.add(at, "give `member` or `members`, not both"),
            (None, true) => errs.add(
                at,
                "name what to isolate: `member: leader`, `member: follower` or a node name",
            ),
            _ => {}
        }
        let key = if self.member.is_some() {
            "member"
        } else {
            "members"
        };
        for (i, r) in sel.iter().enumerate() {
            if *r != MemberRef::Follower && sel[..i].contains(r) {
                let word = match r {
                    MemberRef::Node(n) => n.as_str(),
                    _ => "leader",
                };
                errs.add(at.key(key), format!("`{word}` is listed twice"));
            }
            if let MemberRef::Node(n) = r {
                if n.trim().is_empty() {
                    errs.add(at.key(key), "a member name is empty");
                } else if !self.etcd_nodes.is_empty() && !self.etcd_nodes.contains(n) {
                    errs.add(
                        at.key(key),
                        format!(
                            "`{n}` is not one of `etcd-nodes` ({})",
                            self.etcd_nodes.join(", ")
                        ),
                    );
                }
            }
        }
        if !self.etcd_nodes.is_empty() && !self.allow_quorum_loss {
            if let Some(why) = quorum_refusal(sel.len(), self.etcd_nodes.len()) {
                errs.add(at.key(key), why);
            }
        }
        if let Some(tls) = &self.tls {
            tls.validate(&at.key("tls"), errs);
        }
        if self.timeout.get().is_zero() {
            errs.add(at.key("timeout"), "must be longer than zero");
        }
        if self.failover_timeout.get().is_zero() {
            errs.add(at.key("failover-timeout"), "must be longer than zero");
        }
    }

    fn describe(&self) -> String {
        let what = if self.client_traffic {
            "peer and client traffic"
        } else {
            "peer traffic"
        };
        format!("isolate etcd member(s) {} ({what} dropped)", self.words())
    }

    fn undo(&self) -> String {
        "remove the partition's iptables chain and its jumps, and check nothing is left".into()
    }

    fn prepare(
        &self,
        ctx: Arc<RunContext>,
    ) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
        let spec = self.clone();
        prepared::boxed(async move { resolve(&spec, &ctx).await })
    }
}

/// A member out of the quorum before this fault is injected, and how kubedrill knows.
#[derive(Debug, Clone, PartialEq)]
struct AlreadyDown {
    node: String,
    why: String,
}

/// The partition chains on each member's node, in `members` order.
async fn list_chains(
    ctx: &RunContext,
    members: &[EtcdMember],
    timeout: std::time::Duration,
) -> Vec<Result<Vec<String>, String>> {
    let reads = members.iter().map(|m| async move {
        let Some(node) = ctx.nodes.get(&m.node) else {
            return Err("not in the inventory".to_string());
        };
        match node.run(&list_rules(), timeout).await {
            Ok(out) if out.success() => Ok(partition_chains(&out.stdout)),
            Ok(out) => Err(format!("cannot list its iptables rules: {}", out.summary())),
            Err(e) => Err(format!("cannot list its iptables rules: {e}")),
        }
    });
    futures::future::join_all(reads).await
}

/// Members already out of the quorum: their status is unreadable or names no leader, or a
/// partition chain (an earlier step's, or a crashed run's) is still in place on their node
/// (`chains`, from [`list_chains`]). A node whose rules cannot be listed counts as down:
/// the guard must not guess in favour of breaking quorum.
fn already_down(
    members: &[EtcdMember],
    view: &ClusterView,
    chains: &[Result<Vec<String>, String>],
) -> Vec<AlreadyDown> {
    let mut down = Vec::new();
    for (m, chains) in members.iter().zip(chains) {
        let mut why: Vec<String> = match chains {
            Ok(c) => c
                .iter()
                .map(|c| format!("partition {c} in place"))
                .collect(),
            Err(e) => vec![e.clone()],
        };
        match view
            .members
            .iter()
            .find(|(n, _)| *n == m.name)
            .map(|(_, s)| s)
        {
            Some(Ok(s)) if s.leader == 0 => why.push("no leader".into()),
            Some(Err(e)) => why.push(format!("status: {e}")),
            _ => {}
        }
        if !why.is_empty() {
            down.push(AlreadyDown {
                node: m.node.clone(),
                why: why.join(", "),
            });
        }
    }
    down
}

/// The refusal when `targets` together with the members already `down` leave no quorum
/// in a cluster of `size`.
fn quorum_refusal_with(
    targets: &[EtcdMember],
    down: &[AlreadyDown],
    size: usize,
) -> Option<String> {
    let mut out: Vec<&str> = targets.iter().map(|m| m.node.as_str()).collect();
    for d in down {
        if !out.contains(&d.node.as_str()) {
            out.push(&d.node);
        }
    }
    let left = size.saturating_sub(out.len());
    if left >= quorum_size(size) {
        return None;
    }
    let names: Vec<&str> = targets.iter().map(|m| m.node.as_str()).collect();
    let mut why = format!(
        "isolating {} would leave {left} of {size} etcd members connected, but quorum needs {}",
        names.join(", "),
        quorum_size(size)
    );
    if !down.is_empty() {
        let seen: Vec<String> = down
            .iter()
            .map(|d| format!("{}: {}", d.node, d.why))
            .collect();
        why.push_str(&format!(
            " (already cut off or unhealthy: {})",
            seen.join("; ")
        ));
    }
    why.push_str("; set `allow-quorum-loss: true` to do it anyway");
    Some(why)
}

/// The members, the cluster as seen now, and the members to isolate.
struct Targets {
    members: Vec<EtcdMember>,
    view: ClusterView,
    size: usize,
    leader: Option<String>,
    targets: Vec<EtcdMember>,
}

/// Read-only: members, the cluster's size and leader, and which nodes to isolate.
async fn resolve_targets(
    spec: &EtcdPartitionFault,
    ctx: &Arc<RunContext>,
) -> Result<Targets, FaultError> {
    let gateway = Gateway::new(spec.tls.as_ref(), spec.timeout.get()).map_err(FaultError::new)?;
    // Named as etcd names them (matched by peer URL), not after their nodes.
    let mut members = cluster_members(&ctx.nodes, &gateway).await;
    if !spec.etcd_nodes.is_empty() {
        members.retain(|m| spec.etcd_nodes.contains(&m.node));
    }
    if members.is_empty() {
        return Err(FaultError::new(
            "no etcd members: no inventory node has `services.etcd` with a `client` endpoint",
        ));
    }
    let view = ClusterView::gather(&gateway, &members).await;
    // The member list is the cluster's own count; the inventory may list fewer nodes.
    let mut size = members.len();
    for m in &members {
        if let Ok(listed) = gateway.members(&m.client).await {
            size = size.max(listed.len());
            break;
        }
    }
    let leader = view
        .leader()
        .and_then(|id| view.name_of(id))
        .map(str::to_string);
    let mut targets: Vec<EtcdMember> = Vec::new();
    for r in spec.selection() {
        let found = match &r {
            MemberRef::Leader => {
                let name = leader.as_deref().ok_or_else(|| no_leader(&view))?;
                members.iter().find(|m| m.name == name)
            }
            MemberRef::Follower => {
                let lead = leader.as_deref().ok_or_else(|| no_leader(&view))?;
                members.iter().find(|m| {
                    m.name != lead && view.status_of(&m.name).is_some() && !targets.contains(m)
                })
            }
            MemberRef::Node(n) => members.iter().find(|m| &m.node == n),
        };
        let m = found.ok_or_else(|| match &r {
            MemberRef::Node(n) => FaultError(format!(
                "`{n}` is not an inventory node with an etcd member"
            )),
            _ => FaultError::new("no healthy follower left to isolate"),
        })?;
        if !targets.contains(m) {
            targets.push(m.clone());
        }
    }
    Ok(Targets {
        members,
        view,
        size,
        leader,
        targets,
    })
}

/// The guards, read-only: not the machine kubedrill runs on, not a chain of this name
/// already in place (another run of the same scenario step, or a killed run's leftover),
/// and, unless allowed, a quorum left counting members already down and the nodes
/// `earlier` steps of this run leave isolated.
/// When the quorum guard runs: before the run (plan, and the run's own check before its
/// baseline), or at the step, just before the rules go in.
#[derive(Clone, Copy, PartialEq)]
enum Moment {
    BeforeTheRun,
    AtTheStep,
}

async fn guard(
    spec: &EtcdPartitionFault,
    ctx: &RunContext,
    t: &Targets,
    earlier: &[(String, String)],
    moment: Moment,
) -> Result<(), String> {
    let target_nodes = t
        .targets
        .iter()
        .filter_map(|m| ctx.nodes.get(&m.node))
        .map(|n| n.spec());
    super::targets::refuse_this_machine(target_nodes)?;
    let chains = list_chains(ctx, &t.members, spec.timeout.get()).await;
    let chain = spec.chain();
    for (m, listed) in t.members.iter().zip(&chains) {
        if t.targets.contains(m) && listed.as_ref().is_ok_and(|c| c.contains(&chain)) {
            return Err(format!(
                "chain {chain} is already on node {}: another run of this scenario holds it, \
                 or a killed run left it (`kubedrill recover RUN_DIR` removes it)",
                m.node
            ));
        }
    }
    if spec.allow_quorum_loss {
        return Ok(());
    }
    let mut down = already_down(&t.members, &t.view, &chains);
    if moment == Moment::BeforeTheRun {
        // A member that only names no leader is in an election or rejoining (a drill just
        // before healed it): transient. The step's own check, after the baseline, counts it.
        down.retain(|d| d.why != "no leader");
    }
    for (node, why) in earlier {
        if t.members.iter().any(|m| &m.node == node) && !down.iter().any(|d| &d.node == node) {
            down.push(AlreadyDown {
                node: node.clone(),
                why: why.clone(),
            });
        }
    }
    match quorum_refusal_with(&t.targets, &down, t.size) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// Read-only: the targets, then the guards; nothing is changed.
async fn resolve(
    spec: &EtcdPartitionFault,
    ctx: &Arc<RunContext>,
) -> Result<PreparedPartition, FaultError> {
    let t = resolve_targets(spec, ctx).await?;
    guard(spec, ctx, &t, &[], Moment::AtTheStep)
        .await
        .map_err(|why| FaultError(format!("refusing: {why}")))?;
    let Targets {
        members,
        view,
        size,
        leader,
        targets,
    } = t;
    let remaining = members
        .iter()
        .filter(|m| !targets.contains(m))
        .cloned()
        .collect();
    let read_timeout = spec.timeout.get().min(FAILOVER_READ);
    Ok(PreparedPartition {
        ctx: ctx.clone(),
        chain: spec.chain(),
        client_traffic: spec.client_traffic,
        timeout: spec.timeout,
        failover_timeout: spec.failover_timeout.get(),
        watcher: Gateway::new(spec.tls.as_ref(), read_timeout).map_err(FaultError::new)?,
        read_timeout,
        leader_before: leader,
        term_before: view.term(),
        size,
        targets,
        remaining,
    })
}

fn no_leader(view: &ClusterView) -> FaultError {
    let seen: Vec<String> = view
        .members
        .iter()
        .map(|(n, s)| match s {
            Ok(s) if s.leader == 0 => format!("{n}: no leader"),
            Ok(s) => format!("{n}: leader {:x}", s.leader),
            Err(e) => format!("{n}: {e}"),
        })
        .collect();
    FaultError(format!(
        "the etcd cluster has no leader a quorum agrees on ({}); not partitioning an unhealthy cluster",
        seen.join("; ")
    ))
}

struct PreparedPartition {
    ctx: Arc<RunContext>,
    chain: String,
    client_traffic: bool,
    timeout: HumanDuration,
    failover_timeout: std::time::Duration,
    /// A gateway whose requests are bounded by `read_timeout`, for watching the election.
    watcher: Gateway,
    read_timeout: std::time::Duration,
    leader_before: Option<String>,
    term_before: Option<u64>,
    size: usize,
    targets: Vec<EtcdMember>,
    /// The members left connected; they elect the new leader.
    remaining: Vec<EtcdMember>,
}

/// What the remaining members did about the leader after the rules went in.
#[derive(Debug, Clone, PartialEq)]
enum Failover {
    /// The leader was not isolated and the remaining members still follow it.
    NoChange { leader: String, term: Option<u64> },
    /// A quorum of the remaining members agreed on a new leader in a higher term.
    NewLeader {
        leader: String,
        term: Option<u64>,
        after: std::time::Duration,
    },
    /// No new leader in time (or none possible); `seen` is the last view, member by member.
    NoLeader { why: String, seen: Vec<String> },
}

impl Failover {
    fn details(&self) -> serde_json::Value {
        match self {
            Failover::NoChange { leader, term } => serde_json::json!({
                "leader_after": leader,
                "term_after": term,
                "leader_change": "no change",
                "leader_change_ms": null,
            }),
            Failover::NewLeader {
                leader,
                term,
                after,
            } => serde_json::json!({
                "leader_after": leader,
                "term_after": term,
                "leader_change": "new leader",
                "leader_change_ms": after.as_secs_f64() * 1000.0,
            }),
            Failover::NoLeader { why, seen } => serde_json::json!({
                "leader_after": null,
                "term_after": null,
                "leader_change": why,
                "leader_change_ms": null,
                "members_after": seen,
            }),
        }
    }
}

impl PreparedPartition {
    fn rules(&self, m: &EtcdMember) -> PartitionRules {
        PartitionRules {
            chain: self.chain.clone(),
            peer_port: m.peer_port,
            client_port: self.client_traffic.then_some(m.client_port),
        }
    }
}

impl Prepared for PreparedPartition {
    fn describe(&self) -> String {
        let who: Vec<String> = self
            .targets
            .iter()
            .map(|m| format!("{} on node {}", m.name, m.node))
            .collect();
        format!(
            "isolate etcd {} of {} members (leader was {}) with chain {}",
            who.join(", "),
            self.size,
            self.leader_before.as_deref().unwrap_or("unknown"),
            self.chain
        )
    }

    fn commands(&self) -> Vec<String> {
        self.targets
            .iter()
            .flat_map(|m| {
                self.rules(m).install().into_iter().map(move |argv| {
                    let words: Vec<String> = argv.iter().map(|w| shell_quote(w)).collect();
                    format!("on {}: {}", m.node, words.join(" "))
                })
            })
            .collect()
    }

    fn reverts(&self) -> Vec<RevertAction> {
        self.targets
            .iter()
            .map(|m| {
                RevertAction::RemoveIptablesChain(RemoveIptablesChain {
                    node: m.node.clone(),
                    chain: self.chain.clone(),
                    hooks: HOOKS.iter().map(|h| h.to_string()).collect(),
                    timeout: self.timeout,
                })
            })
            .collect()
    }

    fn inject(self: Box<Self>) -> BoxFuture<'static, Result<serde_json::Value, FaultError>> {
        Box::pin(async move {
            // The election clock starts before the first rule: the old leader may lose its
            // peers as soon as the first DROP is in place.
            let cut_at = tokio::time::Instant::now();
            for m in &self.targets {
                let node = inventory_node(&self.ctx, &m.node)?;
                for argv in self.rules(m).install() {
                    run_checked(node, &argv, self.timeout.get()).await?;
                }
            }
            let isolated: Vec<_> = self
                .targets
                .iter()
                .map(|m| serde_json::json!({ "node": m.node, "member": m.name }))
                .collect();
            let failover = self.watch_failover(cut_at).await;
            tracing::info!(?failover, "etcd leader after the partition");
            let mut details = serde_json::json!({
                "chain": self.chain,
                "isolated": isolated,
                "members": self.size,
                "leader_before": self.leader_before,
                "term_before": self.term_before,
                "client_traffic": self.client_traffic,
                "failover_timeout_ms": self.failover_timeout.as_secs_f64() * 1000.0,
            });
            if let (Some(d), serde_json::Value::Object(f)) =
                (details.as_object_mut(), failover.details())
            {
                d.extend(f);
            }
            Ok(details)
        })
    }
}

impl PreparedPartition {
    /// Polls the remaining members until they agree on a leader: at once when the old
    /// leader kept its peers, else until a new one in a higher term, up to
    /// `failover_timeout` after `cut_at`.
    async fn watch_failover(&self, cut_at: tokio::time::Instant) -> Failover {
        let isolated_leader = match &self.leader_before {
            Some(l) => self.targets.iter().any(|m| &m.name == l),
            None => true,
        };
        if self.remaining.len() < quorum_size(self.size) {
            return Failover::NoLeader {
                why: format!(
                    "no quorum left: {} of {} members connected",
                    self.remaining.len(),
                    self.size
                ),
                seen: Vec::new(),
            };
        }
        let deadline = cut_at + self.failover_timeout;
        loop {
            let view = self.remaining_view().await;
            let leader = view.leader().and_then(|id| view.name_of(id));
            let term = view.term();
            match leader {
                Some(l) if !isolated_leader && Some(l) == self.leader_before.as_deref() => {
                    return Failover::NoChange {
                        leader: l.to_string(),
                        term,
                    };
                }
                Some(l) if Some(l) != self.leader_before.as_deref() && term > self.term_before => {
                    return Failover::NewLeader {
                        leader: l.to_string(),
                        term,
                        after: cut_at.elapsed(),
                    };
                }
                _ => {}
            }
            if tokio::time::Instant::now() + FAILOVER_POLL >= deadline {
                return Failover::NoLeader {
                    why: format!(
                        "no new leader within {}",
                        HumanDuration(self.failover_timeout)
                    ),
                    seen: seen(&view),
                };
            }
            tokio::time::sleep(FAILOVER_POLL).await;
        }
    }

    /// The remaining members' statuses, against the whole cluster's size (a leader needs
    /// a quorum of all members, not of those left).
    async fn remaining_view(&self) -> ClusterView {
        let bound = self.read_timeout + std::time::Duration::from_millis(100);
        let reads = self.remaining.iter().map(|m| async move {
            tokio::time::timeout(bound, self.watcher.status(&m.client))
                .await
                .unwrap_or_else(|_| Err("timed out".to_string()))
        });
        let results = futures::future::join_all(reads).await;
        ClusterView {
            size: self.size,
            members: self
                .remaining
                .iter()
                .map(|m| m.name.clone())
                .zip(results)
                .collect(),
        }
    }
}

fn seen(view: &ClusterView) -> Vec<String> {
    view.members
        .iter()
        .map(|(n, s)| match s {
            Ok(s) if s.leader == 0 => format!("{n}: no leader (term {})", s.raft_term),
            Ok(s) => format!("{n}: leader {:x} (term {})", s.leader, s.raft_term),
            Err(e) => format!("{n}: {e}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(node: &str) -> EtcdMember {
        EtcdMember {
            node: node.into(),
            name: node.into(),
            client: format!("http://{node}:2379"),
            client_port: 2379,
            peer_port: 2380,
        }
    }

    fn down(node: &str, why: &str) -> AlreadyDown {
        AlreadyDown {
            node: node.into(),
            why: why.into(),
        }
    }

    #[test]
    fn the_guard_counts_members_already_down_with_the_targets() {
        let n1 = [member("n1")];
        assert_eq!(quorum_refusal_with(&n1, &[], 3), None);
        let partitioned = [down("n0", "partition KUBEDRILL-PART-ab12cd in place")];
        let why = quorum_refusal_with(&n1, &partitioned, 3).expect("refused");
        assert!(
            why.contains("leave 1 of 3") && why.contains("n0: partition KUBEDRILL-PART-ab12cd"),
            "{why}"
        );
        // A target already down is counted once.
        assert_eq!(
            quorum_refusal_with(&n1, &[down("n1", "no leader")], 3),
            None
        );
        // Five members survive two losses, not three.
        let two = [down("n0", "no leader"), down("n2", "status: timed out")];
        assert_eq!(quorum_refusal_with(&n1, &two[..1], 5), None);
        assert!(quorum_refusal_with(&n1, &two, 5).is_some());
    }
}
