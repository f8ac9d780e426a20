//! A client for NATS monitoring: over HTTP, or through the API server's pod proxy
//! (`/api/v1/namespaces/NS/pods/POD:8222/proxy/jsz`) when the pods are not reachable.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where a server's monitoring port answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum MonitorEndpoint {
    /// e.g. `http://10.0.0.1:8222`.
    Url(String),
    /// Through the API server's pod proxy.
    PodProxy(PodProxy),
}

/// A pod's port through `/api/v1/namespaces/NS/pods/POD:PORT/proxy`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PodProxy {
    pub namespace: String,
    pub pod: String,
    pub port: u16,
}

impl std::fmt::Display for MonitorEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MonitorEndpoint::Url(u) => f.write_str(u),
            MonitorEndpoint::PodProxy(p) => write!(f, "pod {}/{}:{}", p.namespace, p.pod, p.port),
        }
    }
}

/// Which `/healthz` variant a server must pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthzMode {
    /// JetStream is enabled (`?js-enabled-only=true`).
    #[default]
    JsEnabledOnly,
    /// JetStream and the meta group are fine (`?js-meta-only=true`).
    JsMetaOnly,
    /// Every stream and consumer is current (plain `/healthz`).
    Full,
    /// No `/healthz` check.
    Off,
}

impl HealthzMode {
    fn path(self) -> Option<&'static str> {
        match self {
            HealthzMode::JsEnabledOnly => Some("/healthz?js-enabled-only=true"),
            HealthzMode::JsMetaOnly => Some("/healthz?js-meta-only=true"),
            HealthzMode::Full => Some("/healthz"),
            HealthzMode::Off => None,
        }
    }
}

/// Whose leader to look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderOf {
    /// The JetStream meta group.
    Meta,
    /// The raft group of this stream.
    Stream(String),
}

impl std::fmt::Display for LeaderOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeaderOf::Meta => f.write_str("JetStream meta"),
            LeaderOf::Stream(s) => write!(f, "stream {s}"),
        }
    }
}

/// `/jsz` as far as we read it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Jsz {
    #[serde(default)]
    pub meta_cluster: Option<MetaCluster>,
    #[serde(default)]
    pub account_details: Vec<AccountDetail>,
}

/// `/jsz` → `meta_cluster`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetaCluster {
    #[serde(default)]
    pub leader: String,
    #[serde(default)]
    pub cluster_size: usize,
    #[serde(default)]
    pub replicas: Vec<Peer>,
}

/// A raft peer as the leader (or a follower) sees it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Peer {
    pub name: String,
    #[serde(default)]
    pub current: bool,
    #[serde(default)]
    pub offline: bool,
}

/// `/jsz?accounts=true&streams=true` → `account_details[]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AccountDetail {
    #[serde(default)]
    pub stream_detail: Vec<StreamDetail>,
}

/// One stream hosted by the server.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamDetail {
    pub name: String,
    #[serde(default)]
    pub cluster: Option<StreamCluster>,
}

/// A stream's raft group.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamCluster {
    #[serde(default)]
    pub leader: String,
}

/// Reads monitoring endpoints; every request is bounded by `timeout`.
#[derive(Clone)]
pub struct Monitor {
    http: reqwest::Client,
    kube: Option<kube::Client>,
    timeout: Duration,
}

impl Monitor {
    /// `kube` is needed only for pod-proxy endpoints.
    pub fn new(timeout: Duration, kube: Option<kube::Client>) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            kube,
            timeout,
        })
    }

    /// GET `path` (with query); returns the status and body.
    pub async fn get(&self, ep: &MonitorEndpoint, path: &str) -> Result<(u16, String), String> {
        match ep {
            MonitorEndpoint::Url(base) => {
                let url = format!("{}{path}", base.trim_end_matches('/'));
                let resp = self.http.get(&url).send().await.map_err(short)?;
                let status = resp.status().as_u16();
                Ok((status, resp.text().await.map_err(short)?))
            }
            MonitorEndpoint::PodProxy(p) => {
                let kube = self
                    .kube
                    .as_ref()
                    .ok_or("a pod-proxy endpoint needs a Kubernetes client")?;
                let uri = format!(
                    "/api/v1/namespaces/{}/pods/{}:{}/proxy{path}",
                    p.namespace, p.pod, p.port
                );
                let req = http::Request::get(uri)
                    .body(Vec::new())
                    .map_err(|e| e.to_string())?;
                match tokio::time::timeout(self.timeout, kube.request_text(req)).await {
                    Err(_) => Err("timed out".into()),
                    Ok(Ok(body)) => Ok((200, body)),
                    Ok(Err(kube::Error::Api(s))) => Ok((s.code, s.message)),
                    Ok(Err(e)) => Err(e.to_string()),
                }
            }
        }
    }

    /// `/jsz` (plus `query`, e.g. `?accounts=true&streams=true`), which must answer 200.
    pub async fn jsz(&self, ep: &MonitorEndpoint, query: &str) -> Result<Jsz, String> {
        let (status, body) = self.get(ep, &format!("/jsz{query}")).await?;
        if status != 200 {
            return Err(format!("/jsz: status {status}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("/jsz: {e}"))
    }

    /// True when `/jsz?leader-only=true` answers 200 (only the meta leader does).
    pub async fn is_meta_leader(&self, ep: &MonitorEndpoint) -> Result<bool, String> {
        Ok(self.get(ep, "/jsz?leader-only=true").await?.0 == 200)
    }

    /// `Ok` when `/healthz` in `mode` answers 200.
    pub async fn healthz(&self, ep: &MonitorEndpoint, mode: HealthzMode) -> Result<(), String> {
        let Some(path) = mode.path() else {
            return Ok(());
        };
        match self.get(ep, path).await? {
            (200, _) => Ok(()),
            (status, body) => Err(format!("healthz {status}: {}", first_line(&body))),
        }
    }

    /// The leader `ep` reports for `of` (None: it knows none, or does not host the stream).
    pub async fn leader_of(
        &self,
        ep: &MonitorEndpoint,
        of: &LeaderOf,
    ) -> Result<Option<String>, String> {
        let name = match of {
            LeaderOf::Meta => self.jsz(ep, "").await?.meta_cluster.map(|m| m.leader),
            LeaderOf::Stream(stream) => self
                .jsz(ep, "?accounts=true&streams=true")
                .await?
                .account_details
                .into_iter()
                .flat_map(|a| a.stream_detail)
                .find(|s| &s.name == stream)
                .and_then(|s| s.cluster)
                .map(|c| c.leader),
        };
        Ok(name.filter(|n| !n.is_empty()))
    }
}

impl Monitor {
    /// `Ok(leader)` once `server` has rejoined: its own `/jsz` names a meta leader, and
    /// that leader lists `server` as a current peer (or `server` leads).
    pub async fn rejoined(
        &self,
        server: &str,
        monitors: &BTreeMap<String, MonitorEndpoint>,
    ) -> Result<String, String> {
        let own = monitors
            .get(server)
            .ok_or_else(|| format!("no monitoring endpoint for {server}"))?;
        let leader = self
            .leader_of(own, &LeaderOf::Meta)
            .await
            .map_err(|e| format!("{server}: {e}"))?
            .ok_or_else(|| format!("{server} knows no meta leader yet"))?;
        if leader == server {
            return Ok(leader);
        }
        let ep = monitors
            .get(&leader)
            .ok_or_else(|| format!("leader {leader} is not a known server"))?;
        let meta = self.jsz(ep, "").await?.meta_cluster.unwrap_or_default();
        match meta.replicas.iter().find(|p| p.name == server) {
            Some(p) if p.current && !p.offline => Ok(leader),
            Some(_) => Err(format!(
                "leader {leader} does not see {server} as current yet"
            )),
            None => Err(format!("leader {leader} does not list {server} as a peer")),
        }
    }
}

fn short(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_meta_cluster_and_stream_leaders() {
        let jsz: Jsz = serde_json::from_str(
            r#"{"server_id":"X","meta_cluster":{"name":"c","leader":"nats-1","peer":"p","replicas":[{"name":"nats-0","current":true,"active":1}],"cluster_size":3},
                "account_details":[{"name":"$G","stream_detail":[{"name":"ORDERS","cluster":{"leader":"nats-2"}}]}]}"#,
        )
        .unwrap();
        let meta = jsz.meta_cluster.unwrap();
        assert_eq!((meta.leader.as_str(), meta.cluster_size), ("nats-1", 3));
        assert!(meta.replicas[0].current);
        let s = &jsz.account_details[0].stream_detail[0];
        assert_eq!(s.cluster.as_ref().unwrap().leader, "nats-2");
    }
}
