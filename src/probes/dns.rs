//! `dns`: a query to one server (UDP or TCP) must be answered, optionally with
//! expected records.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RecordType;
use hickory_resolver::TokioResolver;
use serde::{Deserialize, Serialize};

use super::{short_error, ProbeKind, SampleResult, Sampler};
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
    const SUMMARY: &'static str = "DNS query to one server over UDP or TCP; healthy when answered (and expected answers present)";
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
        }
    }

    fn target(&self) -> String {
        format!("{} {} @{}", self.record_type, self.name, self.server)
    }

    fn build(&self, _ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        let addr = self.socket()?;
        let mut conn = match self.protocol {
            DnsProtocol::Udp => ConnectionConfig::udp(),
            DnsProtocol::Tcp => ConnectionConfig::tcp(),
        };
        conn.port = addr.port();
        let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
            addr.ip(),
            true,
            vec![conn],
        )]);
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = 1;
        opts.cache_size = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.ndots = 0;
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .map_err(|e| e.to_string())?;
        let mut name = self.name.clone();
        if !name.ends_with('.') {
            name.push('.');
        }
        Ok(Box::new(DnsSampler {
            resolver,
            name,
            record: self.record()?,
            expect: self.expect.clone(),
        }))
    }
}

struct DnsSampler {
    resolver: TokioResolver,
    name: String,
    record: RecordType,
    expect: Vec<String>,
}

impl Sampler for DnsSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let lookup = self
                .resolver
                .lookup(self.name.as_str(), self.record)
                .await
                .map_err(short_error)?;
            let answers: Vec<String> = lookup
                .answers()
                .iter()
                .map(|r| r.data.to_string())
                .collect();
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
