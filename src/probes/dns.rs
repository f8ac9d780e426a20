//! `dns`: a query to one server (UDP or TCP) must be answered, optionally with
//! expected records.
//!
//! One sample is one query, written here rather than through a resolver: a resolver
//! resends an unanswered UDP query inside one lookup and keeps a cache, and either would
//! hide an outage. Over UDP the query goes out once from a fresh socket `connect()`ed to
//! the server, so an ICMP port unreachable (a REJECT) comes back as "connection refused"
//! at once; replies that are not to this query (another id) are ignored, nothing is
//! resent. Over TCP a fresh connection (one SYN, see [`super::one_syn`]) carries the one
//! query.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

use super::one_syn::{self, io_text};
use super::{dns_wire, short_error, ProbeKind, SampleResult, Sampler};
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// Transport for DNS queries.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DnsProtocol {
    #[default]
    Udp,
    Tcp,
}

/// `dns: { server: "10.96.0.10:53", name, record-type: A, protocol: udp, expect: [..] }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DnsProbe {
    /// `IP` or `IP:PORT` (port 53 by default).
    pub server: String,
    pub name: String,
    #[serde(default = "default_record_type")]
    pub record_type: String,
    #[serde(default)]
    pub protocol: DnsProtocol,
    /// Every one of these must be among the answers (as text, e.g. `10.0.0.1`).
    #[serde(default)]
    pub expect: Vec<String>,
}

fn default_record_type() -> String {
    "A".into()
}

impl DnsProbe {
    fn socket(&self) -> Result<SocketAddr, String> {
        if let Ok(sa) = self.server.parse::<SocketAddr>() {
            return Ok(sa);
        }
        self.server
            .parse::<IpAddr>()
            .map(|ip| SocketAddr::new(ip, 53))
            .map_err(|_| {
                format!(
                    "`{}` must be an IP address, optionally with :port",
                    self.server
                )
            })
    }

    /// The name as an absolute DNS name (no search domains: `name` is looked up as written).
    fn fqdn(&self) -> Result<Name, String> {
        let mut name = self.name.trim().to_string();
        if !name.ends_with('.') {
            name.push('.');
        }
        Name::from_ascii(&name).map_err(|e| format!("`{}` is not a DNS name: {e}", self.name))
    }

    fn record(&self) -> Result<RecordType, String> {
        self.record_type
            .to_ascii_uppercase()
            .parse::<RecordType>()
            .map_err(|_| {
                format!(
                    "`{}` is not a DNS record type (A, AAAA, CNAME, SRV, TXT, ...)",
                    self.record_type
                )
            })
    }
}

impl ProbeKind for DnsProbe {
    const KIND: &'static str = "dns";
    const SUMMARY: &'static str = "One DNS query per sample to one server over UDP or TCP (no resend, no cache); healthy when answered without error (and expected answers present)";
    const EXAMPLE: &'static str = "name: dns\ninterval: 200ms\ntimeout: 1s\ndns: { server: \"10.96.0.10:53\", name: kubernetes.default.svc.cluster.local, record-type: A }";

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        if let Err(e) = self.socket() {
            errs.add(at.key("server"), e);
        }
        if let Err(e) = self.record() {
            errs.add(at.key("record-type"), e);
        }
        if self.name.trim().is_empty() {
            errs.add(at.key("name"), "the name to look up is empty");
        } else if let Err(e) = self.fqdn() {
            errs.add(at.key("name"), e);
        }
    }

    fn target(&self) -> String {
        format!("{} {} @{}", self.record_type, self.name, self.server)
    }

    fn build(&self, _ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        Ok(Box::new(DnsSampler {
            server: self.socket()?,
            protocol: self.protocol,
            name: self.fqdn()?,
            record: self.record()?,
            expect: self.expect.clone(),
            timeout,
        }))
    }
}

struct DnsSampler {
    server: SocketAddr,
    protocol: DnsProtocol,
    name: Name,
    record: RecordType,
    expect: Vec<String>,
    timeout: Duration,
}

impl Sampler for DnsSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let query = dns_wire::query(&self.name, self.record);
            let wire = dns_wire::encode(&query)?;
            let exchange = async {
                match self.protocol {
                    DnsProtocol::Udp => over_udp(self.server, &wire, &query).await,
                    DnsProtocol::Tcp => over_tcp(self.server, &wire, &query, self.timeout).await,
                }
            };
            // The engine bounds the sample too; this one only says what was (not) done.
            let reply = match tokio::time::timeout(self.timeout, exchange).await {
                Ok(reply) => reply.map_err(short_error)?,
                Err(_) => {
                    return Err(format!(
                        "no answer within {} (one query, not resent)",
                        humantime::format_duration(self.timeout)
                    ))
                }
            };
            let answers = dns_wire::answers(&reply)?;
            if let Some(missing) = self.expect.iter().find(|e| {
                !answers
                    .iter()
                    .any(|a| a.trim_end_matches('.') == e.trim_end_matches('.'))
            }) {
                return Err(format!(
                    "answer lacks {missing} (got {})",
                    answers.join(", ")
                ));
            }
            Ok(Some(serde_json::json!({ "answers": answers })))
        })
    }
}

/// Sends the query once from a fresh connected socket and waits for its reply.
async fn over_udp(server: SocketAddr, wire: &[u8], query: &Message) -> Result<Message, String> {
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("udp socket: {e}"))?;
    // Connected: only the server's datagrams arrive, and an ICMP error becomes an errno.
    socket
        .connect(server)
        .await
        .map_err(|e| format!("udp {server}: {}", io_text(&e)))?;
    socket
        .send(wire)
        .await
        .map_err(|e| format!("udp {server}: {}", io_text(&e)))?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| format!("udp {server}: {}", io_text(&e)))?;
        if let Some(reply) = dns_wire::reply_to(&buf[..n], query) {
            return Ok(reply);
        }
    }
}

/// One query on a fresh connection, framed with its 2-byte length.
async fn over_tcp(
    server: SocketAddr,
    wire: &[u8],
    query: &Message,
    timeout: Duration,
) -> Result<Message, String> {
    let len = u16::try_from(wire.len()).map_err(|_| "the query is too long".to_string())?;
    let mut stream = one_syn::connect(server, timeout).await?;
    let mut frame = Vec::with_capacity(wire.len() + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(wire);
    let io = |e: std::io::Error| format!("tcp {server}: {}", io_text(&e));
    stream.write_all(&frame).await.map_err(io)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(io)?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).await.map_err(io)?;
    dns_wire::reply_to(&reply, query)
        .ok_or_else(|| format!("tcp {server}: the reply does not answer the query"))
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{OpCode, ResponseCode};
    use tokio::net::TcpListener;

    use super::*;

    fn sampler(server: SocketAddr, protocol: DnsProtocol, expect: &[&str]) -> DnsSampler {
        DnsSampler {
            server,
            protocol,
            name: Name::from_ascii("a.probe.test.").unwrap(),
            record: RecordType::A,
            expect: expect.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_secs(2),
        }
    }

    /// A reply to `query` with `code` and one A record 10.1.2.3 when NoError.
    fn answer(query: &[u8], id_offset: u16, code: ResponseCode) -> Vec<u8> {
        use hickory_proto::rr::rdata::A;
        use hickory_proto::rr::{RData, Record};
        let q = Message::from_vec(query).unwrap();
        let mut r = Message::response(q.metadata.id.wrapping_add(id_offset), OpCode::Query);
        r.metadata.response_code = code;
        r.add_queries(q.queries.clone());
        if code == ResponseCode::NoError {
            r.add_answer(Record::from_rdata(
                q.queries[0].name().clone(),
                30,
                RData::A(A(Ipv4Addr::new(10, 1, 2, 3))),
            ));
        }
        r.to_vec().unwrap()
    }

    #[test]
    fn names_are_absolute_and_checked() {
        let spec = |name: &str| DnsProbe {
            server: "127.0.0.1".into(),
            name: name.into(),
            record_type: "A".into(),
            protocol: DnsProtocol::Udp,
            expect: vec![],
        };
        assert!(spec("a.example.test").fqdn().unwrap().is_fqdn());
        assert_eq!(
            spec("a.example.test.").fqdn().unwrap().to_string(),
            "a.example.test."
        );
        assert!(spec("a..b").fqdn().is_err());
    }

    #[tokio::test]
    async fn udp_ignores_a_reply_with_another_id_and_sends_once() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let s = sampler(addr, DnsProtocol::Udp, &["10.1.2.3"]);
        let serve = async {
            let mut buf = vec![0u8; 4096];
            let (n, from) = server.recv_from(&mut buf).await.unwrap();
            let query = buf[..n].to_vec();
            server
                .send_to(&answer(&query, 1, ResponseCode::NoError), from)
                .await
                .unwrap();
            server.send_to(b"junk", from).await.unwrap();
            server
                .send_to(&answer(&query, 0, ResponseCode::NoError), from)
                .await
                .unwrap();
            // Nothing else arrives: the query was sent once.
            let again =
                tokio::time::timeout(Duration::from_millis(300), server.recv_from(&mut buf)).await;
            assert!(again.is_err(), "a second datagram arrived");
        };
        let (got, ()) = tokio::join!(s.sample(), serve);
        let detail = got.expect("answered").expect("detail");
        assert_eq!(detail, serde_json::json!({ "answers": ["10.1.2.3"] }));
    }

    #[tokio::test]
    async fn udp_error_codes_fail_the_sample() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let s = sampler(server.local_addr().unwrap(), DnsProtocol::Udp, &[]);
        let serve = async {
            let mut buf = vec![0u8; 4096];
            let (n, from) = server.recv_from(&mut buf).await.unwrap();
            let reply = answer(&buf[..n], 0, ResponseCode::NXDomain);
            server.send_to(&reply, from).await.unwrap();
        };
        let (got, ()) = tokio::join!(s.sample(), serve);
        assert_eq!(got.unwrap_err(), "answer NXDomain");
    }

    #[tokio::test]
    async fn udp_to_a_closed_port_is_refused_at_once() {
        let closed = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let started = std::time::Instant::now();
        let err = sampler(addr, DnsProtocol::Udp, &[])
            .sample()
            .await
            .unwrap_err();
        assert_eq!(err, format!("udp {addr}: connection refused"));
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn udp_without_an_answer_says_the_query_was_not_resent() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut s = sampler(server.local_addr().unwrap(), DnsProtocol::Udp, &[]);
        s.timeout = Duration::from_millis(200);
        let err = s.sample().await.unwrap_err();
        assert_eq!(err, "no answer within 200ms (one query, not resent)");
    }

    /// One query over TCP to a server answering with `id_offset` added to the query's id.
    async fn tcp_exchange(id_offset: u16, expect: &[&str]) -> SampleResult {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serve = async {
            let (mut c, _) = listener.accept().await.unwrap();
            let mut len = [0u8; 2];
            c.read_exact(&mut len).await.unwrap();
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
            c.read_exact(&mut query).await.unwrap();
            let reply = answer(&query, id_offset, ResponseCode::NoError);
            c.write_all(&(reply.len() as u16).to_be_bytes())
                .await
                .unwrap();
            c.write_all(&reply).await.unwrap();
        };
        let s = sampler(addr, DnsProtocol::Tcp, expect);
        let (got, ()) = tokio::join!(s.sample(), serve);
        got
    }

    #[tokio::test]
    async fn tcp_frames_one_query_and_checks_the_expected_answer() {
        let got = tcp_exchange(0, &["10.9.9.9"]).await;
        assert_eq!(got.unwrap_err(), "answer lacks 10.9.9.9 (got 10.1.2.3)");
    }

    #[tokio::test]
    async fn tcp_reply_with_another_id_fails() {
        let err = tcp_exchange(7, &[]).await.unwrap_err();
        assert!(
            err.starts_with("tcp 127.0.0.1:")
                && err.ends_with(": the reply does not answer the query"),
            "{err}"
        );
    }
}
