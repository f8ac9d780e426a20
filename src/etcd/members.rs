//! Which etcd members a run knows: inventory nodes with an `etcd` service.

use crate::access::NodePool;

/// One etcd member and the node it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    /// Inventory node (where iptables rules go).
    pub node: String,
    /// Member name (`services.etcd.name`, else the node name).
    pub name: String,
    /// Client URL of the gateway, e.g. `http://10.0.0.1:2379`.
    pub client: String,
    pub client_port: u16,
    pub peer_port: u16,
}

/// Every node with `services.etcd` and a `client` endpoint, ordered by node name.
pub fn inventory_members(nodes: &NodePool) -> Vec<EtcdMember> {
    nodes
        .all()
        .filter_map(|n| {
            let spec = n.spec();
            let etcd = spec.services.get("etcd")?;
            let client = etcd.endpoints.get("client")?.clone();
            let port = |url: Option<&String>, default| {
                url.and_then(|u| reqwest::Url::parse(u).ok())
                    .and_then(|u| u.port_or_known_default())
                    .unwrap_or(default)
            };
            Some(EtcdMember {
                node: spec.name.clone(),
                name: etcd.name.clone().unwrap_or_else(|| spec.name.clone()),
                client_port: port(Some(&client), 2379),
                peer_port: port(etcd.endpoints.get("peer"), 2380),
                client,
            })
        })
        .collect()
}
