//! The stacked etcd members of the control-plane nodes: TLS for clients and peers (client
//! certificates required), metrics and `/health` over plain HTTP on port 2381.

use super::pki::{ca_cert, node_pair};
use super::{path, ETCD_METRICS_PORT};
use crate::lab::config::Layout;
use crate::lab::services::{ETCD_CLIENT_PORT, ETCD_PEER_PORT};

/// `https://ADDR:2379` of member `i`.
pub fn client_url(l: &Layout, i: usize) -> String {
    format!("https://{}:{ETCD_CLIENT_PORT}", l.node_addr(i))
}

pub fn argv(l: &Layout, i: usize, etcd: &str) -> Vec<String> {
    let addr = l.node_addr(i);
    let peers: Vec<String> = (0..l.etcd_members())
        .map(|j| format!("etcd-{j}=https://{}:{ETCD_PEER_PORT}", l.node_addr(j)))
        .collect();
    let (server_crt, server_key) = node_pair(l, "etcd-server", i);
    let (peer_crt, peer_key) = node_pair(l, "etcd-peer", i);
    let ca = path(&ca_cert(l));
    vec![
        etcd.into(),
        format!("--name=etcd-{i}"),
        format!("--data-dir={}", path(&l.node_dir(i).join("etcd"))),
        format!("--listen-client-urls=https://{addr}:{ETCD_CLIENT_PORT},https://127.0.0.1:{ETCD_CLIENT_PORT}"),
        format!("--advertise-client-urls={}", client_url(l, i)),
        format!("--listen-peer-urls=https://{addr}:{ETCD_PEER_PORT}"),
        format!("--initial-advertise-peer-urls=https://{addr}:{ETCD_PEER_PORT}"),
        format!("--listen-metrics-urls=http://127.0.0.1:{ETCD_METRICS_PORT},http://{addr}:{ETCD_METRICS_PORT}"),
        format!("--initial-cluster={}", peers.join(",")),
        format!("--initial-cluster-token={}", l.prefix),
        // Ignored once the data dir exists, so restarts rejoin.
        "--initial-cluster-state=new".into(),
        format!("--cert-file={}", path(&server_crt)),
        format!("--key-file={}", path(&server_key)),
        "--client-cert-auth=true".into(),
        format!("--trusted-ca-file={ca}"),
        format!("--peer-cert-file={}", path(&peer_crt)),
        format!("--peer-key-file={}", path(&peer_key)),
        "--peer-client-cert-auth=true".into(),
        format!("--peer-trusted-ca-file={ca}"),
        "--snapshot-count=10000".into(),
        "--logger=zap".into(),
        "--pre-vote=true".into(),
    ]
}
