//! `nats`: each server's `/healthz`, the cluster-level "a JetStream meta leader exists and a
//! majority agrees", and optionally the JetStream API itself (`$JS.API.INFO` answered, a
//! publish to a stream acknowledged). The leader goes into every sample's detail.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::etcd::HealthyWhen;
use super::{short_error, ProbeKind, SampleResult, Sampler};
use crate::engine::RunContext;
use crate::nats::{
    agreed_leader, inventory_servers, HealthzMode, LeaderOf, Monitor, MonitorEndpoint, NatsPods,
    NatsServer,
};
use crate::scenario::{Errors, KeyPath};

/// `nats: { monitors | kubernetes, healthz, meta-leader, healthy-when, jetstream }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NatsProbe {
    /// Monitoring URLs; default: every inventory node's `services.nats.endpoints.monitor`.
    #[serde(default)]
    pub monitors: Vec<String>,
    /// Find the servers as pods (monitoring through the API server's pod proxy).
    #[serde(default)]
    pub kubernetes: Option<NatsPods>,
    #[serde(default)]
    pub healthz: HealthzMode,
    /// Require a meta leader that a majority of the servers agrees on.
    #[serde(default = "yes")]
    pub meta_leader: bool,
    /// How many servers must pass `/healthz`.
    #[serde(default)]
    pub healthy_when: HealthyWhen,
    #[serde(default)]
    pub jetstream: Option<JetStreamCheck>,
}

/// The JetStream API through a client connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct JetStreamCheck {
    /// Client URLs; default: every inventory node's `services.nats.endpoints.client`, or
    /// with `kubernetes` each pod's address on its client port (reachable in the cluster
    /// and on the lab; from outside a cluster, list URLs that reach it).
    #[serde(default)]
    pub servers: Vec<String>,
    /// Publish to this subject (bound to a stream) and require the stream's ack.
    #[serde(default)]
    pub publish: Option<String>,
    /// Require an answer to `$JS.API.INFO` (in a cluster the meta leader answers it). Off,
    /// a probe with `publish` measures publishing alone: a stream whose leader survives
    /// takes publishes while the meta group elects.
    #[serde(default = "yes")]
    pub api_info: bool,
}

fn yes() -> bool {
    true
}

impl ProbeKind for NatsProbe {
    const KIND: &'static str = "nats";
    const SUMMARY: &'static str =
        "NATS servers' /healthz, an agreed JetStream meta leader, optionally $JS.API.INFO and a publish ack";
    const EXAMPLE: &'static str = "name: nats\ninterval: 250ms\ntimeout: 1s\nnats: { healthz: js-enabled-only, meta-leader: true, jetstream: { publish: drill.probe } }";

    fn needs_cluster(&self) -> bool {
        self.kubernetes.is_some()
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        if self.kubernetes.is_some() && !self.monitors.is_empty() {
            errs.add(
                at.key("monitors"),
                "use `monitors` or `kubernetes`, not both",
            );
        }
        for (i, m) in self.monitors.iter().enumerate() {
            if !reqwest::Url::parse(m).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                errs.add(
                    at.key("monitors").index(i),
                    format!("`{m}` is not an http(s) URL"),
                );
            }
        }
        if self.healthz == HealthzMode::Off && !self.meta_leader && self.jetstream.is_none() {
            errs.add(
                at,
                "checks nothing: enable `healthz`, `meta-leader` or `jetstream`",
            );
        }
        if let Some(js) = &self.jetstream {
            if js.publish.as_deref().is_some_and(|s| s.trim().is_empty()) {
                errs.add(at.key("jetstream.publish"), "the subject is empty");
            }
            if !js.api_info && js.publish.is_none() {
                errs.add(
                    at.key("jetstream.api-info"),
                    "checks nothing without `api-info`: add `publish: SUBJECT`",
                );
            }
        }
    }

    fn target(&self) -> String {
        match (&self.kubernetes, self.monitors.is_empty()) {
            (Some(k), _) => format!("NATS pods {} in {}", k.selector, k.namespace),
            (None, true) => "NATS servers of the inventory".into(),
            (None, false) => format!("NATS {}", self.monitors.join(", ")),
        }
    }

    fn build(&self, ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        let servers = OnceCell::new();
        if self.kubernetes.is_none() {
            let list = if self.monitors.is_empty() {
                inventory_servers(&ctx.nodes)
            } else {
                self.monitors
                    .iter()
                    .map(|m| NatsServer {
                        name: m.clone(),
                        monitor: MonitorEndpoint::Url(m.clone()),
                        node: None,
                        uid: None,
                        client: None,
                    })
                    .collect()
            };
            if list.is_empty() {
                return Err(
                    "no NATS servers: give `monitors` or an inventory with `services.nats`".into(),
                );
            }
            let _ = servers.set(list);
        }
        let js = match &self.jetstream {
            Some(js) => {
                let urls = if js.servers.is_empty() && self.kubernetes.is_some() {
                    // The pods' addresses, once they are found (first sample).
                    Vec::new()
                } else if js.servers.is_empty() {
                    ctx.nodes
                        .all()
                        .filter_map(|n| {
                            n.spec()
                                .services
                                .get("nats")?
                                .endpoints
                                .get("client")
                                .cloned()
                        })
                        .collect()
                } else {
                    js.servers.clone()
                };
                if urls.is_empty() && self.kubernetes.is_none() {
                    return Err("no NATS client URLs for `jetstream`".into());
                }
                Some(JetStreamTarget {
                    urls,
                    publish: js.publish.clone(),
                    api_info: js.api_info,
                })
            }
            None => None,
        };
        Ok(Box::new(NatsSampler {
            spec: self.clone(),
            ctx: ctx.clone(),
            per_request: timeout.mul_f64(0.8),
            budget: timeout.mul_f64(0.9),
            servers,
            monitor: OnceCell::new(),
            js,
            client: OnceCell::new(),
        }))
    }
}

struct NatsSampler {
    spec: NatsProbe,
    ctx: Arc<RunContext>,
    per_request: Duration,
    /// The whole sample's time, shared by every check so the total stays inside the
    /// engine's timeout and a failure can say what did not answer.
    budget: Duration,
    servers: OnceCell<Vec<NatsServer>>,
    monitor: OnceCell<Monitor>,
    js: Option<JetStreamTarget>,
    client: OnceCell<async_nats::Client>,
}

/// What the JetStream check connects to and asks.
struct JetStreamTarget {
    urls: Vec<String>,
    publish: Option<String>,
    api_info: bool,
}

/// One server: `/healthz` passed, and the meta leader it reports.
type ServerAnswer = Result<Option<String>, String>;

impl NatsSampler {
    async fn setup(&self) -> Result<(&[NatsServer], &Monitor), String> {
        let kube = match &self.spec.kubernetes {
            Some(_) => Some(self.ctx.cluster.client().await?),
            None => None,
        };
        let monitor = self
            .monitor
            .get_or_try_init(|| async { Monitor::new(self.per_request, kube.clone()) })
            .await?;
        let servers = self
            .servers
            .get_or_try_init(|| async {
                let (Some(pods), Some(client)) = (&self.spec.kubernetes, &kube) else {
                    return Err("no NATS servers".to_string());
                };
                pods.servers(client).await
            })
            .await?;
        Ok((servers, monitor))
    }

    async fn ask(&self, monitor: &Monitor, s: &NatsServer, deadline: Instant) -> ServerAnswer {
        let mut step = "healthz";
        let bounded = async {
            monitor.healthz(&s.monitor, self.spec.healthz).await?;
            if self.spec.meta_leader {
                step = "jsz";
                monitor.leader_of(&s.monitor, &LeaderOf::Meta).await
            } else {
                Ok(None)
            }
        };
        match tokio::time::timeout_at(deadline, bounded).await {
            Ok(answer) => answer.map_err(|e| {
                if e.starts_with(step) {
                    e
                } else {
                    format!("{step}: {e}")
                }
            }),
            Err(_) => Err(format!("{step}: no answer in time")),
        }
    }

    /// `$JS.API.INFO` answered without error (unless `api-info: false`), then the optional
    /// publish acknowledged.
    async fn jetstream(&self, t: &JetStreamTarget, urls: &[String]) -> Result<(), String> {
        if urls.is_empty() {
            return Err("no client URL: no NATS pod has an address".into());
        }
        let client = self
            .client
            .get_or_try_init(|| async {
                async_nats::ConnectOptions::new()
                    .connection_timeout(self.per_request)
                    .request_timeout(Some(self.per_request))
                    .connect(urls)
                    .await
                    .map_err(|e| format!("connect: {e}"))
            })
            .await?;
        if t.api_info {
            let info = client
                .request("$JS.API.INFO", "".into())
                .await
                .map_err(|e| format!("$JS.API.INFO: {e}"))?;
            let body: serde_json::Value =
                serde_json::from_slice(&info.payload).map_err(|e| format!("$JS.API.INFO: {e}"))?;
            if let Some(err) = body.get("error") {
                return Err(format!("$JS.API.INFO: {err}"));
            }
        }
        if let Some(subject) = &t.publish {
            let js = async_nats::jetstream::new(client.clone());
            js.publish(subject.to_string(), "kubedrill".into())
                .await
                .map_err(|e| format!("publish {subject}: {e}"))?
                .await
                .map_err(|e| format!("publish {subject}: no ack: {e}"))?;
        }
        Ok(())
    }
}

impl Sampler for NatsSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let deadline = Instant::now() + self.budget;
            let (servers, monitor) = tokio::time::timeout_at(deadline, self.setup())
                .await
                .unwrap_or_else(|_| Err("finding the NATS servers did not finish in time".into()))
                .map_err(short_error)?;
            let answers =
                futures::future::join_all(servers.iter().map(|s| self.ask(monitor, s, deadline)))
                    .await;
            let n = servers.len();
            let ok = answers.iter().filter(|a| a.is_ok()).count();
            let leader = agreed_leader(
                answers
                    .iter()
                    .map(|a| a.as_ref().ok().and_then(|l| l.as_deref())),
                n,
            );
            let per_server: BTreeMap<&str, String> = servers
                .iter()
                .zip(&answers)
                .map(|(s, a)| {
                    (
                        s.name.as_str(),
                        a.as_ref().map_or_else(Clone::clone, |_| "ok".into()),
                    )
                })
                .collect();
            let mut problems = Vec::new();
            if !self.spec.healthy_when.holds(ok, n) {
                let down: Vec<String> = per_server
                    .iter()
                    .filter(|(_, v)| *v != "ok")
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect();
                problems.push(format!("{ok}/{n} servers healthy ({})", down.join("; ")));
            }
            if self.spec.meta_leader && leader.is_none() {
                problems.push("no meta leader a majority agrees on".into());
            }
            if let Some(target) = &self.js {
                // The JetStream check gets what the servers left of the budget.
                let urls: Vec<String> = if target.urls.is_empty() {
                    servers.iter().filter_map(|s| s.client.clone()).collect()
                } else {
                    target.urls.clone()
                };
                let via = urls.join(", ");
                let checked = if Instant::now() >= deadline {
                    Err(format!("JetStream via {via} not checked: no time left"))
                } else {
                    tokio::time::timeout_at(deadline, self.jetstream(target, &urls))
                        .await
                        .unwrap_or_else(|_| {
                            Err(format!("JetStream via {via} did not answer in time"))
                        })
                };
                if let Err(e) = checked {
                    problems.push(e);
                }
            }
            if problems.is_empty() {
                Ok(Some(
                    serde_json::json!({ "leader": leader, "healthy": format!("{ok}/{n}"), "servers": per_server }),
                ))
            } else {
                Err(short_error(problems.join("; ")))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn errors_of(nats: &str) -> Vec<String> {
        let doc = format!(
            "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: t }}\nprobes:\n  - name: nats\n    interval: 1s\n    nats: {nats}\nsteps:\n  - wait: 1s\n"
        );
        match crate::scenario::load_str(Path::new("t.yaml"), &doc, &Default::default()) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn publishing_alone_needs_a_subject() {
        let alone = "{ healthz: off, meta-leader: false, jetstream: { publish: drill.probe, api-info: false } }";
        assert_eq!(errors_of(alone), Vec::<String>::new());
        let errs = errors_of("{ jetstream: { api-info: false } }");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("probes[0].nats.jetstream.api-info") && errs[0].contains("publish"),
            "{errs:?}"
        );
    }
}
