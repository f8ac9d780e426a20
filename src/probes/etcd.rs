//! `etcd`: every member's status and health, through the HTTP gateway (TLS optional) or a
//! command on each node (when the certificates stay there, as on kubeadm and kind).
//! Healthy while a quorum agrees on a leader (or, with `all`, while every member is
//! healthy); the detail tracks leader changes and the time to a new leader.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::command_result::succeeded;
use super::{short_error, validate_argv, ProbeKind, SampleResult, Sampler};
use crate::engine::RunContext;
use crate::etcd::{
    inventory_members, parse_status_output, quorum_size, ClusterView, EtcdTls, Gateway,
    MemberStatus,
};
use crate::scenario::{Errors, KeyPath};

/// `etcd: { endpoints | on-nodes, tls, healthy-when }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EtcdProbe {
    /// Client URLs; default: every inventory node's `services.etcd.endpoints.client`.
    #[serde(default)]
    pub endpoints: Vec<String>,
    #[serde(default)]
    pub tls: Option<EtcdTls>,
    /// Ask through a command on each node instead of the gateway.
    #[serde(default)]
    pub on_nodes: Option<OnNodes>,
    #[serde(default)]
    pub healthy_when: HealthyWhen,
}

/// A status command run on nodes; prints `/health` JSON or `etcdctl endpoint status -w json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct OnNodes {
    pub nodes: Vec<String>,
    #[serde(deserialize_with = "crate::scenario::argv::lenient")]
    pub argv: Vec<String>,
}

/// When a cluster-wide probe counts as healthy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthyWhen {
    /// A majority is fine (etcd: a quorum agrees on a leader).
    #[default]
    Majority,
    /// Every member (server) is fine.
    All,
}

impl HealthyWhen {
    /// Whether `ok` of `n` is enough.
    pub(crate) fn holds(self, ok: usize, n: usize) -> bool {
        match self {
            HealthyWhen::Majority => ok >= quorum_size(n),
            HealthyWhen::All => ok == n && n > 0,
        }
    }
}

impl ProbeKind for EtcdProbe {
    const KIND: &'static str = "etcd";
    const SUMMARY: &'static str =
        "etcd members via the HTTP gateway or a node command; healthy while a quorum has a leader";
    const EXAMPLE: &'static str = "name: etcd\ninterval: 200ms\ntimeout: 1s\netcd: { endpoints: [\"http://10.0.0.11:2379\", \"http://10.0.0.12:2379\", \"http://10.0.0.13:2379\"] }";

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        for (i, e) in self.endpoints.iter().enumerate() {
            if !reqwest::Url::parse(e).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                errs.add(
                    at.key("endpoints").index(i),
                    format!("`{e}` is not an http(s) URL"),
                );
            }
        }
        if let Some(tls) = &self.tls {
            tls.validate(&at.key("tls"), errs);
        }
        if let Some(on) = &self.on_nodes {
            if !self.endpoints.is_empty() || self.tls.is_some() {
                errs.add(
                    at.key("on-nodes"),
                    "use `on-nodes` or `endpoints`/`tls`, not both",
                );
            }
            if on.nodes.is_empty() {
                errs.add(
                    at.key("on-nodes.nodes"),
                    "list the nodes to run the command on",
                );
            }
            validate_argv(&on.argv, &at.key("on-nodes.argv"), errs);
        }
    }

    fn target(&self) -> String {
        match &self.on_nodes {
            Some(on) => format!(
                "etcd via `{}` on {}",
                on.argv.join(" "),
                on.nodes.join(", ")
            ),
            None if self.endpoints.is_empty() => "etcd members of the inventory".into(),
            None => format!("etcd {}", self.endpoints.join(", ")),
        }
    }

    fn build(&self, ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        // Each member gets most of the sample's time, so one hanging member fails alone.
        let per_member = timeout.mul_f64(0.8);
        let source = match &self.on_nodes {
            Some(on) => {
                for n in &on.nodes {
                    ctx.nodes
                        .get(n)
                        .ok_or_else(|| format!("node {n} is not in the inventory"))?;
                }
                Source::Command {
                    ctx: ctx.clone(),
                    nodes: on.nodes.clone(),
                    argv: on.argv.clone(),
                }
            }
            None => {
                let members: Vec<(String, String)> = if self.endpoints.is_empty() {
                    inventory_members(&ctx.nodes)
                        .into_iter()
                        .map(|m| (m.name, m.client))
                        .collect()
                } else {
                    self.endpoints
                        .iter()
                        .map(|e| (e.clone(), e.clone()))
                        .collect()
                };
                if members.is_empty() {
                    return Err(
                        "no etcd endpoints: give `endpoints` or an inventory with `services.etcd`"
                            .into(),
                    );
                }
                Source::Gateway {
                    gateway: Gateway::new(self.tls.as_ref(), per_member)?,
                    members,
                }
            }
        };
        Ok(Box::new(EtcdSampler {
            source,
            per_member,
            healthy_when: self.healthy_when,
            tracker: Mutex::default(),
        }))
    }
}

enum Source {
    Gateway {
        gateway: Gateway,
        members: Vec<(String, String)>,
    },
    Command {
        ctx: Arc<RunContext>,
        nodes: Vec<String>,
        argv: Vec<String>,
    },
}

/// One member's answer: health (when told) and status (when told).
type MemberAnswer = Result<(Option<bool>, Option<MemberStatus>), String>;

struct EtcdSampler {
    source: Source,
    per_member: Duration,
    healthy_when: HealthyWhen,
    tracker: Mutex<LeaderTracker>,
}

/// Leader changes across samples, and how long each change took: from the last sample
/// that still showed the old leader to the first that shows the new one. Samples where no
/// member answered say nothing about the leader and are not observed.
#[derive(Default)]
struct LeaderTracker {
    known: Option<u64>,
    changes: u32,
    /// When a sample last showed `known` as the agreed leader.
    last_seen: Option<Instant>,
    last_election_ms: Option<f64>,
}

impl LeaderTracker {
    fn observe(&mut self, leader: Option<u64>, now: Instant) {
        let Some(id) = leader else {
            return;
        };
        if self.known.is_some_and(|k| k != id) {
            self.changes += 1;
            // An election that completed between two samples still took time: at least
            // since the old leader was last seen.
            let since = self.last_seen.unwrap_or(now);
            self.last_election_ms = Some((now - since).as_secs_f64() * 1000.0);
        }
        self.known = Some(id);
        self.last_seen = Some(now);
    }
}

impl EtcdSampler {
    async fn ask_all(&self) -> Vec<(String, MemberAnswer)> {
        let bound = |f| async move {
            tokio::time::timeout(self.per_member, f)
                .await
                .unwrap_or_else(|_| Err("timed out".to_string()))
        };
        match &self.source {
            Source::Gateway { gateway, members } => {
                let asks = members.iter().map(|(_, ep)| {
                    bound(Box::pin(async move {
                        let (status, health) = tokio::join!(gateway.status(ep), gateway.health(ep));
                        Ok((Some(health?), Some(status?)))
                    }) as BoxFuture<'_, MemberAnswer>)
                });
                let answers = futures::future::join_all(asks).await;
                members
                    .iter()
                    .map(|(n, _)| n.clone())
                    .zip(answers)
                    .collect()
            }
            Source::Command { ctx, nodes, argv } => {
                let asks = nodes.iter().map(|n| {
                    bound(Box::pin(async move {
                        let node = ctx.nodes.get(n).ok_or("node not in the inventory")?;
                        let out = succeeded(node.run(argv, self.per_member).await)?;
                        parse_status_output(&out.stdout)
                    }) as BoxFuture<'_, MemberAnswer>)
                });
                let answers = futures::future::join_all(asks).await;
                nodes.iter().cloned().zip(answers).collect()
            }
        }
    }
}

impl Sampler for EtcdSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let answers = self.ask_all().await;
            let n = answers.len();
            let view = ClusterView {
                size: n,
                members: answers
                    .iter()
                    .map(|(name, a)| {
                        let s = a
                            .as_ref()
                            .map_err(Clone::clone)
                            .and_then(|(_, s)| s.ok_or_else(String::new));
                        (name.clone(), s)
                    })
                    .collect(),
            };
            let healthy = answers
                .iter()
                .filter(|(_, a)| {
                    matches!(
                        a,
                        Ok((Some(true), _)) | Ok((None, Some(MemberStatus { leader: 1.., .. })))
                    )
                })
                .count();
            let leader = view.leader();
            let has_status = view.members.iter().any(|(_, s)| s.is_ok());
            let quorum = if has_status {
                leader.is_some()
            } else {
                healthy >= quorum_size(n)
            };
            let ok = match self.healthy_when {
                HealthyWhen::Majority => quorum,
                HealthyWhen::All => quorum && HealthyWhen::All.holds(healthy, n),
            };
            let tracker = {
                let mut t = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
                if has_status {
                    t.observe(leader, Instant::now());
                }
                (t.changes, t.last_election_ms)
            };
            let members: BTreeMap<String, serde_json::Value> = answers
                .iter()
                .map(|(name, a)| (name.clone(), member_detail(a)))
                .collect();
            let detail = serde_json::json!({
                "quorum": quorum,
                "healthy": format!("{healthy}/{n}"),
                "leader": leader.map(|id| view.name_of(id).map_or(format!("{id:x}"), str::to_string)),
                "term": view.term(),
                "leader_changes": tracker.0,
                "last_election_ms": tracker.1,
                "members": members,
            });
            if ok {
                Ok(Some(detail))
            } else {
                let why: Vec<String> = answers
                    .iter()
                    .map(|(name, a)| match a {
                        Err(e) => format!("{name}: {e}"),
                        Ok((_, Some(s))) if s.leader == 0 => format!("{name}: no leader"),
                        Ok((Some(false), _)) => format!("{name}: unhealthy"),
                        Ok(_) => format!("{name}: ok"),
                    })
                    .collect();
                let head = if quorum {
                    "not every member is healthy"
                } else {
                    "no quorum"
                };
                Err(short_error(format!("{head}: {}", why.join("; "))))
            }
        })
    }
}

fn member_detail(a: &MemberAnswer) -> serde_json::Value {
    match a {
        Err(e) => serde_json::json!({ "error": e }),
        Ok((health, status)) => serde_json::json!({
            "health": health,
            "has_leader": status.map(|s| s.leader != 0),
            "leader": status.filter(|s| s.leader != 0).map(|s| format!("{:x}", s.leader)),
            "member_id": status.map(|s| format!("{:x}", s.member_id)),
            "term": status.map(|s| s.raft_term),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_to_a_new_leader_counts_from_the_last_sample_with_the_old_one() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut t = LeaderTracker::default();
        t.observe(Some(1), at(0));
        t.observe(Some(1), at(100));
        t.observe(None, at(300));
        t.observe(None, at(900));
        t.observe(Some(2), at(1800));
        assert_eq!(t.changes, 1);
        assert_eq!(t.last_election_ms, Some(1700.0));
        t.observe(Some(2), at(2000));
        assert_eq!(t.changes, 1);
        // An election completed between two samples: one interval, not zero.
        t.observe(Some(3), at(2200));
        assert_eq!(t.changes, 2);
        assert_eq!(t.last_election_ms, Some(200.0));
    }
}
