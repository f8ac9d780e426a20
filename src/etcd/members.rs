//! Which etcd members a run knows: inventory nodes with an `etcd` service, named as etcd
//! itself names them. A member's name is `services.etcd.name` when the inventory gives
//! one; otherwise the name of the member in the cluster's own member list whose peer URLs
//! include the node's `endpoints.peer` (or, without a peer endpoint, whose client URLs
//! include `endpoints.client`); the node name only when the list cannot be read or names
//! no such member.

use futures::FutureExt;

use super::gateway::{Gateway, ListedMember};
use crate::access::NodePool;

/// One etcd member and the node it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    /// Inventory node (where iptables rules go).
    pub node: String,
    /// Member name: `services.etcd.name`, else the listed member's (see the module doc),
    /// else the node name.
    pub name: String,
    /// Client URL of the gateway, e.g. `http://10.0.0.1:2379`.
    pub client: String,
    pub client_port: u16,
    pub peer_port: u16,
}

/// Every node with `services.etcd` and a `client` endpoint, ordered by node name, named
/// from the inventory alone (`services.etcd.name`, else the node name). Use
/// [`cluster_members`] for the names etcd uses.
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

/// [`inventory_members`], named from the cluster's member list (asked of every member at
/// once; the first answer is used). When no member answers, the names stay the
/// inventory's.
pub async fn cluster_members(nodes: &NodePool, gateway: &Gateway) -> Vec<EtcdMember> {
    let mut members = inventory_members(nodes);
    match member_list(gateway, &members).await {
        Some(listed) => name_from_list(&mut members, nodes, &listed),
        None => {
            tracing::debug!("no etcd member answered the member list; names from the inventory")
        }
    }
    members
}

/// The member list as the first member to answer reports it.
pub async fn member_list(gateway: &Gateway, members: &[EtcdMember]) -> Option<Vec<ListedMember>> {
    if members.is_empty() {
        return None;
    }
    let asks = members.iter().map(|m| gateway.members(&m.client).boxed());
    futures::future::select_ok(asks).await.ok().map(|(l, _)| l)
}

/// Renames each member that has no `services.etcd.name` after the listed member on its
/// peer URL (see the module doc); members matched by nothing keep their name.
pub fn name_from_list(members: &mut [EtcdMember], nodes: &NodePool, listed: &[ListedMember]) {
    for m in members.iter_mut() {
        let Some(etcd) = nodes
            .get(&m.node)
            .and_then(|n| n.spec().services.get("etcd"))
        else {
            continue;
        };
        let peer = etcd.endpoints.get("peer").map(String::as_str);
        let found = listed_name(peer, &m.client, listed);
        match (&etcd.name, found) {
            (Some(given), Some(found)) if given != found => tracing::warn!(
                node = %m.node,
                "services.etcd.name is `{given}` but etcd calls the member on this peer URL `{found}`; using `{given}`"
            ),
            (Some(_), _) => {}
            (None, Some(found)) => m.name = found.to_string(),
            (None, None) => tracing::warn!(
                node = %m.node,
                "no etcd member lists peer URL {}; naming the member after the node (set services.etcd.name)",
                peer.unwrap_or("(none)")
            ),
        }
    }
}

/// The name of the listed member whose peer URLs include `peer`; without `peer`, the one
/// whose client URLs include `client`. URLs compare by scheme, host, port (the scheme's
/// default when absent) and path, so `http://10.0.0.1:2380/` matches `http://10.0.0.1:2380`.
pub fn listed_name<'a>(
    peer: Option<&str>,
    client: &str,
    listed: &'a [ListedMember],
) -> Option<&'a str> {
    let (want, urls): (&str, fn(&ListedMember) -> &[String]) = match peer {
        Some(p) => (p, |m| &m.peer_urls),
        None => (client, |m| &m.client_urls),
    };
    listed
        .iter()
        .find(|m| !m.name.is_empty() && urls(m).iter().any(|u| same_url(u, want)))
        .map(|m| m.name.as_str())
}

fn same_url(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a.trim()), reqwest::Url::parse(b.trim())) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host() == b.host()
                && a.port_or_known_default() == b.port_or_known_default()
                && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
        }
        _ => a.trim() == b.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{AccessSpec, LocalAccess, NodeSpec, ServiceSpec};

    fn listed(name: &str, ip: &str) -> ListedMember {
        ListedMember {
            id: 1,
            name: name.into(),
            peer_urls: vec![format!("https://{ip}:2380")],
            client_urls: vec![format!("https://{ip}:2379")],
        }
    }

    fn node(name: &str, ip: &str, member: Option<&str>, peer: bool) -> NodeSpec {
        let mut endpoints = std::collections::BTreeMap::from([(
            "client".to_string(),
            format!("https://{ip}:2379"),
        )]);
        if peer {
            endpoints.insert("peer".into(), format!("https://{ip}:2380/"));
        }
        NodeSpec {
            name: name.into(),
            roles: vec![],
            labels: Default::default(),
            address: None,
            access: AccessSpec::Local(LocalAccess::default()),
            services: [(
                "etcd".to_string(),
                ServiceSpec {
                    name: member.map(String::from),
                    endpoints,
                    ..Default::default()
                },
            )]
            .into(),
        }
    }

    #[test]
    fn a_peer_url_names_the_member() {
        let list = [listed("m1", "10.0.0.1"), listed("m3", "10.0.0.3")];
        let peer = |p: &str| listed_name(Some(p), "https://elsewhere:2379", &list);
        assert_eq!(peer("https://10.0.0.3:2380"), Some("m3"));
        assert_eq!(peer("https://10.0.0.3:2380/"), Some("m3"), "trailing slash");
        assert_eq!(peer(" https://10.0.0.1:2380"), Some("m1"), "whitespace");
        assert_eq!(peer("http://10.0.0.3:2380"), None, "another scheme");
        assert_eq!(peer("https://10.0.0.3:2381"), None, "another port");
        assert_eq!(peer("https://10.0.0.2:2380"), None, "no such member");
        // The client URL is only used when the node gives no peer URL.
        assert_eq!(
            listed_name(None, "https://10.0.0.1:2379", &list),
            Some("m1")
        );
        assert_eq!(
            listed_name(
                Some("https://10.0.0.9:2380"),
                "https://10.0.0.1:2379",
                &list
            ),
            None
        );
        // A member that has not started yet is listed without a name.
        let unstarted = [listed("", "10.0.0.1")];
        assert_eq!(
            listed_name(Some("https://10.0.0.1:2380"), "", &unstarted),
            None
        );
    }

    #[test]
    fn names_come_from_the_list_unless_the_inventory_gives_one() {
        let pool = NodePool::new(vec![
            node("ceon1", "10.0.0.1", None, true),
            node("ceon2", "10.0.0.2", Some("given"), true),
            node("ceon3", "10.0.0.3", None, true),
            node("ceon4", "10.0.0.4", None, false),
        ]);
        let mut members = inventory_members(&pool);
        let before: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(before, ["ceon1", "given", "ceon3", "ceon4"]);
        let list = [
            listed("m1", "10.0.0.1"),
            listed("m2", "10.0.0.2"),
            listed("m3", "10.0.0.3"),
            listed("m4", "10.0.0.4"),
        ];
        name_from_list(&mut members, &pool, &list);
        let after: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(after, ["m1", "given", "m3", "m4"]);
        let mut unlisted = inventory_members(&pool);
        name_from_list(&mut unlisted, &pool, &list[..1]);
        assert_eq!(unlisted[2].name, "ceon3", "no match keeps the node name");
    }
}
