//! `nats-leader-kill`: kill the server that leads the JetStream meta group (or one
//! stream's raft group) and measure how long the survivors take to agree on a new leader.
//! On hosts the process is signalled through its node's access and restarted by the
//! revert; on Kubernetes its pod is deleted and the revert waits for the replacement.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};

use super::access::{cluster_client, inventory_node, run_checked};
use super::{prepared, EffectMark, FaultError, FaultKind, Prepared};
use crate::engine::RunContext;
use crate::nats::{agreed_leader, inventory_servers, LeaderOf, Monitor, NatsPods, NatsServer};
use crate::probes::validate_argv;
use crate::revert::{NatsPodBack, RestartNatsServer, RevertAction};
use crate::scenario::duration::HumanDuration;
use crate::scenario::{Errors, KeyPath};

/// `nats-leader-kill: { kill: exec | graceful | pod, stream, kubernetes, ... }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NatsLeaderKillFault {
    /// Kill this stream's leader instead of the meta leader.
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default)]
    pub kill: KillMode,
    /// Hosts: the command that kills the server on its node (default: signal the
    /// process listening on the monitoring port).
    #[serde(default, deserialize_with = "crate::scenario::argv::lenient_opt")]
    pub command: Option<Vec<String>>,
    /// Find the servers as pods of a Helm release instead of in the inventory.
    #[serde(default)]
    pub kubernetes: Option<NatsPods>,
    /// Pod deletion grace period (default 1s for `pod`, 30s for `graceful`). As with
    /// kubectl, 0s means 1s unless `force` is set.
    #[serde(default)]
    pub grace_period: Option<HumanDuration>,
    /// Pods: force deletion (grace period 0). The API object goes at once while the
    /// container may run on, and a StatefulSet can start the replacement of the same name
    /// beside it.
    #[serde(default)]
    pub force: bool,
    /// How long to watch for a new leader after the kill.
    #[serde(default = "default_failover_timeout")]
    pub failover_timeout: HumanDuration,
    /// Timeout of each command and monitoring request.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

/// How the leader dies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KillMode {
    /// SIGKILL on its node (hosts, lab).
    #[default]
    Exec,
    /// SIGTERM / the inventory's stop command (hosts), or a pod deletion with a grace
    /// period (Kubernetes): the server hands leadership over.
    Graceful,
    /// Delete its pod (Kubernetes), grace period 1s by default: the kubelet sends
    /// SIGTERM, then SIGKILL after the grace period. A deletion, not a crash.
    Pod,
}

fn default_failover_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

const FAILOVER_POLL: Duration = Duration::from_millis(25);

impl FaultKind for NatsLeaderKillFault {
    const KIND: &'static str = "nats-leader-kill";
    const SUMMARY: &'static str =
        "kill the NATS JetStream meta (or a stream's) leader; records the leader failover time";
    const EXAMPLE: &'static str = "fault:\n  nats-leader-kill: { kill: exec }\nfor: 15s";

    fn needs_cluster(&self) -> bool {
        self.kubernetes.is_some()
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        let k8s = self.kubernetes.is_some();
        match (self.kill, k8s) {
            (KillMode::Pod, false) => errs.add(
                at.key("kill"),
                "`pod` deletes a pod: add `kubernetes: { namespace: ... }`",
            ),
            (KillMode::Exec, true) => errs.add(
                at.key("kill"),
                "`exec` runs on inventory nodes; with `kubernetes`, use `pod` or `graceful`",
            ),
            _ => {}
        }
        if let Some(cmd) = &self.command {
            if k8s {
                errs.add(
                    at.key("command"),
                    "`command` is for servers on inventory nodes, not pods",
                );
            }
            validate_argv(cmd, &at.key("command"), errs);
        }
        if self.grace_period.is_some() && !k8s {
            errs.add(
                at.key("grace-period"),
                "`grace-period` applies to pods only",
            );
        }
        if self.force && !k8s {
            errs.add(at.key("force"), "`force` applies to pods only");
        }
        if self.stream.as_deref().is_some_and(|s| s.trim().is_empty()) {
            errs.add(at.key("stream"), "the stream name is empty");
        }
        for (key, d) in [
            ("failover-timeout", self.failover_timeout),
            ("timeout", self.timeout),
        ] {
            if d.get().is_zero() {
                errs.add(at.key(key), "must be longer than zero");
            }
        }
    }

    fn describe(&self) -> String {
        let how = match self.kill {
            KillMode::Exec => "SIGKILL",
            KillMode::Graceful => "graceful stop of",
            KillMode::Pod => "delete the pod of",
        };
        format!("{how} the {} leader", self.leader_of())
    }

    fn undo(&self) -> String {
        match self.kubernetes {
            Some(_) => "wait until the pod is back, Ready and rejoined".into(),
            None => {
                "start the server again (inventory start command) and wait until it rejoins".into()
            }
        }
    }

    fn prepare(
        &self,
        ctx: Arc<RunContext>,
    ) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
        let spec = self.clone();
        prepared::boxed(async move { resolve(&spec, ctx).await })
    }
}

impl NatsLeaderKillFault {
    fn leader_of(&self) -> LeaderOf {
        match &self.stream {
            Some(s) => LeaderOf::Stream(s.clone()),
            None => LeaderOf::Meta,
        }
    }
}

/// How the chosen server will be killed.
enum Kill {
    Node { node: String, argv: Vec<String> },
    DeletePod { namespace: String, grace: u32 },
}

struct PreparedKill {
    ctx: Arc<RunContext>,
    spec: NatsLeaderKillFault,
    monitor: Monitor,
    servers: Vec<NatsServer>,
    leader: NatsServer,
    kill: Kill,
    revert: RevertAction,
    /// When the kill command returned: the hold counts from there; the failover watch
    /// only observes, so the revert may start while it goes on.
    effect: EffectMark,
}

/// Read-only: the servers, who leads, and the kill command and revert for that server.
async fn resolve(
    spec: &NatsLeaderKillFault,
    ctx: Arc<RunContext>,
) -> Result<PreparedKill, FaultError> {
    let timeout = spec.timeout.get();
    let (servers, kube) = match &spec.kubernetes {
        Some(pods) => {
            let client = cluster_client(&ctx).await?;
            (
                pods.servers(&client).await.map_err(FaultError::new)?,
                Some(client),
            )
        }
        None => (inventory_servers(&ctx.nodes), None),
    };
    if servers.is_empty() {
        return Err(FaultError::new(
            "no NATS servers: no inventory node has `services.nats` with a `monitor` endpoint",
        ));
    }
    let monitor = Monitor::new(timeout, kube).map_err(FaultError::new)?;
    let of = spec.leader_of();
    let leader_name = current_leader(&monitor, &servers, &of, None)
        .await
        .map_err(FaultError::new)?
        .ok_or_else(|| {
            FaultError(format!(
                "no {of} leader that a majority agrees on; not killing anything"
            ))
        })?;
    let leader = servers
        .iter()
        .find(|s| s.name == leader_name)
        .cloned()
        .ok_or_else(|| {
            FaultError(format!(
                "the {of} leader {leader_name} is not a known server"
            ))
        })?;
    if of == LeaderOf::Meta
        && !monitor
            .is_meta_leader(&leader.monitor)
            .await
            .map_err(FaultError::new)?
    {
        return Err(FaultError(format!(
            "{leader_name} does not answer /jsz?leader-only=true as the leader (leadership moved?)"
        )));
    }
    let monitors: BTreeMap<_, _> = servers
        .iter()
        .map(|s| (s.name.clone(), s.monitor.clone()))
        .collect();
    let (kill, revert) = match &spec.kubernetes {
        Some(pods) => {
            let default_grace = if spec.kill == KillMode::Graceful {
                30
            } else {
                1
            };
            let grace = match spec.grace_period.map(|g| g.get().as_secs() as u32) {
                _ if spec.force => 0,
                Some(0) => 1,
                Some(g) => g,
                None => default_grace,
            };
            let revert = RevertAction::NatsPodBack(NatsPodBack {
                namespace: pods.namespace.clone(),
                pod: leader.name.clone(),
                old_uid: leader.uid.clone(),
                monitors,
            });
            (
                Kill::DeletePod {
                    namespace: pods.namespace.clone(),
                    grace,
                },
                revert,
            )
        }
        None => node_kill(spec, &ctx, &leader, monitors).await?,
    };
    Ok(PreparedKill {
        ctx,
        spec: spec.clone(),
        monitor,
        servers,
        leader,
        kill,
        revert,
        effect: EffectMark::default(),
    })
}

/// The leader of `of` as the servers (minus `except`) report it: for the meta group a
/// majority of all of them, for a stream a majority of those that host it.
async fn current_leader(
    monitor: &Monitor,
    servers: &[NatsServer],
    of: &LeaderOf,
    except: Option<&str>,
) -> Result<Option<String>, String> {
    let asked: Vec<&NatsServer> = servers
        .iter()
        .filter(|s| Some(s.name.as_str()) != except)
        .collect();
    let reports =
        futures::future::join_all(asked.iter().map(|s| monitor.leader_of(&s.monitor, of))).await;
    let named: Vec<Option<&str>> = reports
        .iter()
        .map(|r| r.as_ref().ok().and_then(|n| n.as_deref()))
        .collect();
    let electorate = match of {
        LeaderOf::Meta => asked.len(),
        LeaderOf::Stream(_) => named.iter().flatten().count(),
    };
    if reports.iter().all(Result::is_err) {
        let errs: Vec<String> = reports.into_iter().filter_map(Result::err).collect();
        return Err(format!("no NATS server answered: {}", errs.join("; ")));
    }
    Ok(agreed_leader(named, electorate).filter(|n| Some(n.as_str()) != except))
}

/// Hosts: the kill argv for `leader`'s node and the restart revert.
async fn node_kill(
    spec: &NatsLeaderKillFault,
    ctx: &RunContext,
    leader: &NatsServer,
    monitors: BTreeMap<String, crate::nats::MonitorEndpoint>,
) -> Result<(Kill, RevertAction), FaultError> {
    let node_name = leader.node.clone().unwrap_or_default();
    let node = ctx.nodes.get(&node_name).ok_or_else(|| {
        FaultError(format!(
            "node {node_name} of {} is not in the inventory",
            leader.name
        ))
    })?;
    super::targets::refuse_this_machine([node.spec()]).map_err(FaultError)?;
    let service = node
        .spec()
        .services
        .get("nats")
        .cloned()
        .unwrap_or_default();
    let start = service.start.clone().ok_or_else(|| {
        FaultError(format!(
            "node {node_name} has no `services.nats.start`; without it the server could not be restarted"
        ))
    })?;
    let argv = match (&spec.command, spec.kill, &service.stop) {
        (Some(cmd), _, _) => cmd.clone(),
        (None, KillMode::Graceful, Some(stop)) => stop.clone(),
        (None, mode, _) => {
            let signal = if mode == KillMode::Graceful {
                "-TERM"
            } else {
                "-KILL"
            };
            let pid = listener_pid(node, &leader.monitor.to_string(), spec.timeout.get()).await?;
            vec!["kill".into(), signal.into(), pid.to_string()]
        }
    };
    let revert = RevertAction::RestartNatsServer(RestartNatsServer {
        node: node_name.clone(),
        server: leader.name.clone(),
        start,
        monitors,
        timeout: spec.timeout,
    });
    Ok((
        Kill::Node {
            node: node_name,
            argv,
        },
        revert,
    ))
}

/// The pid listening on the monitoring port, from `ss` in the node's network namespace.
async fn listener_pid(
    node: &crate::access::NodeAccess,
    monitor_url: &str,
    timeout: Duration,
) -> Result<u32, FaultError> {
    let port = reqwest::Url::parse(monitor_url)
        .ok()
        .and_then(|u| u.port_or_known_default())
        .ok_or_else(|| FaultError(format!("no port in monitoring URL {monitor_url}")))?;
    let argv: Vec<String> = ["ss", "-Hltnp", &format!("sport = :{port}")]
        .map(String::from)
        .to_vec();
    let out = node.run(&argv, timeout).await.map_err(FaultError::new)?;
    parse_ss_pid(&out.stdout).ok_or_else(|| {
        FaultError(format!(
            "no process listens on port {port} on node {} (`ss`: {}); give `command` to kill it another way",
            node.spec().name,
            out.summary()
        ))
    })
}

/// `users:(("nats-server",pid=1234,fd=7))` → 1234.
fn parse_ss_pid(text: &str) -> Option<u32> {
    let rest = &text[text.find("pid=")? + 4..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl Prepared for PreparedKill {
    fn describe(&self) -> String {
        let how = match &self.kill {
            Kill::Node { node, argv } => format!("`{}` on node {node}", argv.join(" ")),
            Kill::DeletePod { namespace, grace } => {
                format!(
                    "delete pod {namespace}/{} (grace {grace}s)",
                    self.leader.name
                )
            }
        };
        format!(
            "kill {} leader {}: {how}",
            self.spec.leader_of(),
            self.leader.name
        )
    }

    fn reverts(&self) -> Vec<RevertAction> {
        vec![self.revert.clone()]
    }

    fn effect_mark(&self) -> Option<EffectMark> {
        Some(self.effect.clone())
    }

    fn inject(self: Box<Self>) -> BoxFuture<'static, Result<serde_json::Value, FaultError>> {
        Box::pin(async move {
            // Failover is timed from just before the kill is sent: the kill command's own
            // round trip (an SSH session adds 150-250 ms) may already include the failover.
            // `kill_ms` is how long the command took, the measurement's uncertainty.
            let (how, sent_at, pod_uid) = self.kill().await?;
            self.effect.mark_now_observing();
            let kill_ms = sent_at.elapsed().as_secs_f64() * 1000.0;
            let of = self.spec.leader_of();
            let budget = self.spec.failover_timeout.get();
            let fast = Monitor::new(
                Duration::from_millis(500).min(self.spec.timeout.get()),
                None,
            );
            let monitor = match (&self.spec.kubernetes, fast) {
                (None, Ok(m)) => m,
                _ => self.monitor.clone(),
            };
            // A deleted pod: also when its object went, which a kubelet allows only once
            // the container has stopped (with a grace period), so the failover can be
            // timed from the process being gone rather than from the request. Not when
            // forced: the object goes at once, before the process.
            let pods = match (&self.kill, &pod_uid) {
                (Kill::DeletePod { namespace, grace }, Some(_)) if *grace > 0 => {
                    let client = cluster_client(&self.ctx).await?;
                    Some(kube::Api::<Pod>::namespaced(client, namespace))
                }
                _ => None,
            };
            let (mut new_leader, mut leader_at, mut gone_at) = (None, None, None);
            while sent_at.elapsed() < budget
                && (new_leader.is_none() || (pods.is_some() && gone_at.is_none()))
            {
                // Both asked at once, each dated when its own answer came.
                let leader = async {
                    if new_leader.is_some() {
                        return None;
                    }
                    let found =
                        current_leader(&monitor, &self.servers, &of, Some(&self.leader.name)).await;
                    found.ok().flatten().map(|name| (name, Instant::now()))
                };
                let gone = async {
                    match (&pods, &pod_uid, gone_at) {
                        (Some(api), Some(uid), None) => pod_gone(api, &self.leader.name, uid)
                            .await
                            .then(Instant::now),
                        _ => None,
                    }
                };
                let (leader, gone) = futures::join!(leader, gone);
                if let Some((name, at)) = leader {
                    new_leader = Some(name);
                    leader_at = Some(at);
                }
                gone_at = gone_at.or(gone);
                tokio::time::sleep(FAILOVER_POLL).await;
            }
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let after_kill_ms = leader_at.map(|t| ms(t - sent_at));
            // From the process being gone when that was seen (negative: the leadership
            // moved before, as a server shutting down on SIGTERM hands it over).
            let failover_ms = match (leader_at, gone_at) {
                (Some(l), Some(g)) if l >= g => Some(ms(l - g)),
                (Some(l), Some(g)) => Some(-ms(g - l)),
                _ => after_kill_ms,
            };
            Ok(serde_json::json!({
                "leader_of": of.to_string(),
                "mode": self.spec.kill,
                "old_leader": self.leader.name,
                "node": self.leader.node,
                "kill": how,
                "kill_ms": kill_ms,
                "new_leader": new_leader,
                "failover_ms": failover_ms,
                "failover_from": if gone_at.is_some() { "pod-gone" } else { "kill-sent" },
                "failover_after_kill_ms": after_kill_ms,
                "pod_gone_after_ms": gone_at.map(|g| ms(g - sent_at)),
                "failover_timed_out": new_leader.is_none(),
            }))
        })
    }
}

/// True once pod `name` with `uid` is no longer there (gone, or replaced by a new one).
async fn pod_gone(api: &kube::Api<Pod>, name: &str, uid: &str) -> bool {
    match api.get_opt(name).await {
        Ok(None) => true,
        Ok(Some(pod)) => pod.metadata.uid.as_deref() != Some(uid),
        Err(_) => false,
    }
}

impl PreparedKill {
    /// Kills the leader; returns what was run, the instant just before it was sent, and
    /// the UID of a deleted pod.
    async fn kill(&self) -> Result<(String, Instant, Option<String>), FaultError> {
        match &self.kill {
            Kill::Node { node, argv } => {
                let access = inventory_node(&self.ctx, node)?;
                let sent_at = Instant::now();
                run_checked(access, argv, self.spec.timeout.get()).await?;
                Ok((argv.join(" "), sent_at, None))
            }
            Kill::DeletePod { namespace, grace } => {
                let client = cluster_client(&self.ctx).await?;
                let api: kube::Api<Pod> = kube::Api::namespaced(client, namespace);
                let params = kube::api::DeleteParams {
                    grace_period_seconds: Some(*grace),
                    ..Default::default()
                };
                let sent_at = Instant::now();
                let deleted = api.delete(&self.leader.name, &params).await.map_err(|e| {
                    FaultError(format!(
                        "deleting pod {namespace}/{}: {e}",
                        self.leader.name
                    ))
                })?;
                let how = format!(
                    "delete pod {namespace}/{} --grace-period={grace}",
                    self.leader.name
                );
                let uid = deleted.left().and_then(|pod| pod.metadata.uid);
                Ok((how, sent_at, uid))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_pid_in_ss_output() {
        let line = r#"LISTEN 0 4096 *:8222 *:* users:(("nats-server",pid=41234,fd=9))"#;
        assert_eq!(parse_ss_pid(line), Some(41234));
        assert_eq!(parse_ss_pid(""), None);
    }
}
