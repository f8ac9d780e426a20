//! The NATS servers of a run: from the inventory (`services.nats`), or the pods of a
//! Helm release found through the Kubernetes API.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};

use super::monitor::{MonitorEndpoint, PodProxy};
use crate::access::NodePool;

/// One server: its `server_name`, monitoring endpoint and (on hosts) its node.
#[derive(Debug, Clone, PartialEq)]
pub struct NatsServer {
    pub name: String,
    pub monitor: MonitorEndpoint,
    /// Inventory node hosting it (hosts and lab); None for pods.
    pub node: Option<String>,
    /// Pod uid (Kubernetes), to tell a replacement from the original.
    pub uid: Option<String>,
    /// Its client URL, when known: the inventory's `client` endpoint, or a pod's address
    /// with the client port.
    pub client: Option<String>,
}

/// Every inventory node with `services.nats` and a `monitor` endpoint.
pub fn inventory_servers(nodes: &NodePool) -> Vec<NatsServer> {
    nodes
        .all()
        .filter_map(|n| {
            let spec = n.spec();
            let nats = spec.services.get("nats")?;
            Some(NatsServer {
                name: nats.name.clone().unwrap_or_else(|| spec.name.clone()),
                monitor: MonitorEndpoint::Url(nats.endpoints.get("monitor")?.clone()),
                node: Some(spec.name.clone()),
                uid: None,
                client: nats.endpoints.get("client").cloned(),
            })
        })
        .collect()
}

/// NATS pods of a Helm release; each pod's name is its `server_name` (the chart's default).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NatsPods {
    pub namespace: String,
    #[serde(default = "default_selector")]
    pub selector: String,
    #[serde(default = "default_monitor_port")]
    pub monitor_port: u16,
    /// The pods' client port (a JetStream check without `servers` connects to each pod's
    /// address on it).
    #[serde(default = "default_client_port")]
    pub client_port: u16,
}

fn default_client_port() -> u16 {
    4222
}

fn default_selector() -> String {
    "app.kubernetes.io/name=nats,app.kubernetes.io/component=nats".into()
}

fn default_monitor_port() -> u16 {
    8222
}

impl NatsPods {
    /// Lists the pods (read-only), ordered by name.
    pub async fn servers(&self, client: &kube::Client) -> Result<Vec<NatsServer>, String> {
        let api: kube::Api<Pod> = kube::Api::namespaced(client.clone(), &self.namespace);
        let list = api
            .list(&kube::api::ListParams::default().labels(&self.selector))
            .await
            .map_err(|e| format!("listing NATS pods ({}): {e}", self.selector))?;
        let mut servers: Vec<NatsServer> = list
            .items
            .into_iter()
            .filter_map(|p| {
                let name = p.metadata.name?;
                let client = p
                    .status
                    .and_then(|s| s.pod_ip)
                    .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
                    .map(|ip| {
                        format!("nats://{}", std::net::SocketAddr::new(ip, self.client_port))
                    });
                Some(NatsServer {
                    client,
                    monitor: MonitorEndpoint::PodProxy(PodProxy {
                        namespace: self.namespace.clone(),
                        pod: name.clone(),
                        port: self.monitor_port,
                    }),
                    name,
                    node: None,
                    uid: p.metadata.uid,
                })
            })
            .collect();
        servers.sort_by(|a, b| a.name.cmp(&b.name));
        if servers.is_empty() {
            return Err(format!(
                "no pods match {} in namespace {}",
                self.selector, self.namespace
            ));
        }
        Ok(servers)
    }
}

/// The name more than half of `electorate` reports, if any.
pub fn agreed_leader<'a>(
    reports: impl IntoIterator<Item = Option<&'a str>>,
    electorate: usize,
) -> Option<String> {
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for name in reports.into_iter().flatten() {
        *votes.entry(name).or_default() += 1;
    }
    votes
        .into_iter()
        .find(|(_, n)| *n > electorate / 2)
        .map(|(name, _)| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_needs_more_than_half_of_the_electorate() {
        assert_eq!(
            agreed_leader([Some("a"), Some("a"), None], 3).as_deref(),
            Some("a")
        );
        assert_eq!(agreed_leader([Some("a"), Some("b"), None], 3), None);
        assert_eq!(agreed_leader([Some("a")], 2), None);
        assert_eq!(
            agreed_leader([Some("b"), Some("b")], 2).as_deref(),
            Some("b")
        );
    }
}
