//! Is a lab service answering? One small check per service, done from the host.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::config::Layout;
use super::inventory::{etcd_client, kubelet_healthz, nats_monitor};
use super::services::{DNS_PORT, SSH_PORT};

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// An HTTP client for checks: short timeout, never through a proxy.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(CHECK_TIMEOUT)
        .build()
        .expect("a plain HTTP client always builds")
}

/// `Ok` when service `name` of node `i` answers as expected, else why not.
pub async fn check(l: &Layout, i: usize, name: &str, http: &reqwest::Client) -> Result<(), String> {
    if l.kubernetes {
        if let Some(result) = super::kubernetes::check(l, i, name).await {
            return result;
        }
    }
    let addr = l.node_addr(i);
    let result = tokio::time::timeout(CHECK_TIMEOUT, async {
        match name {
            "sshd" => ssh_banner(SocketAddr::from((addr, SSH_PORT))).await,
            "etcd" => {
                http_body(http, &format!("{}/health", etcd_client(l, i)), |b| {
                    b.contains(r#""health":"true""#)
                })
                .await
            }
            "nats" => {
                http_body(http, &format!("{}/healthz", nats_monitor(l, i)), |b| {
                    b.contains("ok")
                })
                .await
            }
            "dns" => dns_answers(SocketAddr::from((addr, DNS_PORT)), &l.dns_name(i), addr).await,
            "kubelet" => http_body(http, &kubelet_healthz(l, i), |b| b.trim() == "ok").await,
            other => Err(format!("unknown service {other}")),
        }
    })
    .await;
    result.unwrap_or_else(|_| Err(format!("no answer within {CHECK_TIMEOUT:?}")))
}

async fn ssh_banner(addr: SocketAddr) -> Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut banner = [0u8; 4];
    stream
        .read_exact(&mut banner)
        .await
        .map_err(|e| e.to_string())?;
    match &banner {
        b"SSH-" => Ok(()),
        other => Err(format!(
            "not an SSH banner: {:?}",
            String::from_utf8_lossy(other)
        )),
    }
}

/// GET `url`: `Ok` when it answers 2xx with a body `ok` accepts; otherwise the status
/// and the start of the body.
pub(super) async fn http_body(
    http: &reqwest::Client,
    url: &str,
    ok: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| format!("{url}: {e}"))?;
    if status.is_success() && ok(&body) {
        Ok(())
    } else {
        let body: String = body.trim().chars().take(200).collect();
        Err(format!("{url}: {status} {body}"))
    }
}

/// Sends one A query and expects `expected` in the answer.
pub async fn dns_answers(server: SocketAddr, name: &str, expected: Ipv4Addr) -> Result<(), String> {
    let socket = tokio::net::UdpSocket::bind("0.0.0.0:0")
        .await
        .map_err(|e| e.to_string())?;
    let query = dns_query(0x4b44, name);
    socket
        .send_to(&query, server)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).await.map_err(|e| e.to_string())?;
    let resp = &buf[..n];
    let rcode = resp.get(3).map(|b| b & 0x0f);
    let answers = resp.get(6..8).map(|a| u16::from_be_bytes([a[0], a[1]]));
    let has_addr = resp[query.len().min(n)..]
        .windows(4)
        .any(|w| w == expected.octets());
    match (resp.get(..2) == Some(&query[..2]), rcode, answers) {
        (true, Some(0), Some(a)) if a > 0 && has_addr => Ok(()),
        _ => Err(format!(
            "{server}: no A record {expected} for {name} (rcode {rcode:?})"
        )),
    }
}

fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    // Recursion desired, one question, no other records.
    q.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend(label.as_bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    q
}
