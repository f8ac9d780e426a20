//! `tcp`: a TCP connect must succeed.
//!
//! One sample is one connect attempt: the first address of the host, one SYN (see
//! [`super::one_syn`]); the connection is closed as soon as it is established.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{one_syn, short_error, ProbeKind, SampleResult, Sampler};
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// `tcp: { address: "host:port" }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TcpProbe {
    pub address: String,
}

impl ProbeKind for TcpProbe {
    const KIND: &'static str = "tcp";
    const SUMMARY: &'static str =
        "TCP connect to host:port (one SYN per sample); healthy when the connection is accepted";
    const EXAMPLE: &'static str =
        "name: etcd-port\ninterval: 500ms\ntimeout: 1s\ntcp: { address: \"127.0.0.1:2379\" }";

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        let ok = self
            .address
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !ok {
            errs.add(
                at.key("address"),
                format!("`{}` must be host:port", self.address),
            );
        }
    }

    fn target(&self) -> String {
        self.address.clone()
    }

    fn build(&self, _ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        let (host, port) = self
            .address
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
            .ok_or_else(|| format!("`{}` must be host:port", self.address))?;
        Ok(Box::new(TcpSampler {
            host,
            port,
            timeout,
        }))
    }
}

struct TcpSampler {
    host: String,
    port: u16,
    timeout: Duration,
}

impl Sampler for TcpSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let addr = one_syn::first_address(&self.host, self.port)
                .await
                .map_err(short_error)?;
            one_syn::connect(addr, self.timeout)
                .await
                .map_err(short_error)?;
            Ok(None)
        })
    }
}
