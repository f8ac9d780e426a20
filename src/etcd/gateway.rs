//! etcd's gRPC gateway over HTTP/JSON: `POST /v3/maintenance/status`, `GET /health`,
//! `POST /v3/cluster/member/list`. Chosen over a gRPC client so the build needs no protoc
//! and no tonic; TLS (CA, client certificate) goes through reqwest.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::scenario::{Errors, KeyPath};

/// TLS material for etcd's client port, as paths on this machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EtcdTls {
    /// CA bundle that signed the members' certificates.
    pub ca: PathBuf,
    /// Client certificate (PEM); needs `key`.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Client key (PEM); needs `cert`.
    #[serde(default)]
    pub key: Option<PathBuf>,
}

impl EtcdTls {
    /// `cert` and `key` come together.
    pub fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        if self.cert.is_some() != self.key.is_some() {
            errs.add(
                at,
                "give both `cert` and `key` (a client identity), or neither",
            );
        }
    }
}

/// What one member says about itself and the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemberStatus {
    pub member_id: u64,
    /// 0 when the member knows no leader.
    pub leader: u64,
    pub raft_term: u64,
}

/// A member as the member list reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedMember {
    pub id: u64,
    pub name: String,
    /// The URLs its peers reach it at (`--initial-advertise-peer-urls`).
    pub peer_urls: Vec<String>,
    /// The URLs clients reach it at (`--advertise-client-urls`).
    pub client_urls: Vec<String>,
}

/// An HTTP client for etcd gateways; every request is bounded by `timeout`.
#[derive(Clone)]
pub struct Gateway {
    http: reqwest::Client,
}

impl Gateway {
    /// A client; reads the TLS files now so a bad path fails before the run starts.
    pub fn new(tls: Option<&EtcdTls>, timeout: Duration) -> Result<Self, String> {
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(0);
        if let Some(tls) = tls {
            let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
            let ca = reqwest::Certificate::from_pem(&read(&tls.ca)?).map_err(|e| e.to_string())?;
            b = b.add_root_certificate(ca).tls_built_in_root_certs(false);
            if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
                let mut pem = read(cert)?;
                pem.extend(read(key)?);
                let id = reqwest::Identity::from_pem(&pem).map_err(|e| e.to_string())?;
                b = b.identity(id);
            }
        }
        Ok(Self {
            http: b.build().map_err(|e| e.to_string())?,
        })
    }

    /// `POST /v3/maintenance/status` on `endpoint` (e.g. `http://10.0.0.1:2379`).
    pub async fn status(&self, endpoint: &str) -> Result<MemberStatus, String> {
        let raw: RawStatus = self.post(endpoint, "/v3/maintenance/status").await?;
        Ok(MemberStatus {
            member_id: raw.header.member_id,
            leader: raw.leader,
            raft_term: raw.raft_term,
        })
    }

    /// `GET /health`: true when the member has a leader and serves reads.
    pub async fn health(&self, endpoint: &str) -> Result<bool, String> {
        let url = format!("{}/health", endpoint.trim_end_matches('/'));
        let resp = self.http.get(&url).send().await.map_err(request_error)?;
        let body: serde_json::Value = resp.json().await.map_err(request_error)?;
        Ok(body.get("health").and_then(|h| h.as_str()) == Some("true"))
    }

    /// `POST /v3/cluster/member/list`: every member the cluster knows.
    pub async fn members(&self, endpoint: &str) -> Result<Vec<ListedMember>, String> {
        let raw: RawMembers = self.post(endpoint, "/v3/cluster/member/list").await?;
        Ok(raw
            .members
            .into_iter()
            .map(|m| ListedMember {
                id: m.id,
                name: m.name,
                peer_urls: m.peer_urls,
                client_urls: m.client_urls,
            })
            .collect())
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
        path: &str,
    ) -> Result<T, String> {
        let url = format!("{}{path}", endpoint.trim_end_matches('/'));
        let resp = self
            .http
            .post(&url)
            .body("{}")
            .send()
            .await
            .map_err(request_error)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("{path}: status {}", status.as_u16()));
        }
        resp.json().await.map_err(request_error)
    }
}

/// The innermost cause is usually the useful part (`connection refused`, `timed out`).
fn request_error(e: reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[derive(Deserialize)]
struct RawStatus {
    header: RawHeader,
    #[serde(default, deserialize_with = "u64_text")]
    leader: u64,
    #[serde(default, rename = "raftTerm", deserialize_with = "u64_text")]
    raft_term: u64,
}

#[derive(Deserialize)]
struct RawHeader {
    #[serde(default, deserialize_with = "u64_text")]
    member_id: u64,
}

#[derive(Deserialize)]
struct RawMembers {
    #[serde(default)]
    members: Vec<RawMember>,
}

#[derive(Deserialize)]
struct RawMember {
    #[serde(rename = "ID", deserialize_with = "u64_text")]
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "peerURLs")]
    peer_urls: Vec<String>,
    #[serde(default, rename = "clientURLs")]
    client_urls: Vec<String>,
}

/// The gateway writes uint64 as JSON strings; etcdctl writes numbers. Accept both.
pub(crate) fn u64_text<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a uint64"))),
        serde_json::Value::String(t) => t.parse().map_err(serde::de::Error::custom),
        other => Err(serde::de::Error::custom(format!(
            "expected a uint64, found {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gateway_status_with_string_numbers() {
        let text = r#"{"header":{"cluster_id":"3249","member_id":"3319814642761637952","revision":"1","raft_term":"2"},"version":"3.4.23","leader":"3319814642761637952","raftTerm":"2"}"#;
        let raw: RawStatus = serde_json::from_str(text).unwrap();
        assert_eq!(raw.header.member_id, 3319814642761637952);
        assert_eq!((raw.leader, raw.raft_term), (3319814642761637952, 2));
        let members: RawMembers = serde_json::from_str(
            r#"{"members":[{"ID":"12","name":"etcd-0","peerURLs":["http://10.0.0.1:2380"],"clientURLs":["http://10.0.0.1:2379"]},{"ID":"13"}]}"#,
        )
        .unwrap();
        assert_eq!(members.members.len(), 2);
        assert_eq!(members.members[1].name, "");
        assert_eq!(members.members[0].peer_urls, ["http://10.0.0.1:2380"]);
        assert_eq!(members.members[0].client_urls, ["http://10.0.0.1:2379"]);
        assert!(members.members[1].peer_urls.is_empty());
    }
}
