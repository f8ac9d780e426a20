//! `tcp`: a TCP connect must succeed.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{short_error, ProbeKind, SampleResult, Sampler};
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
        "TCP connect to host:port; healthy when the connection is accepted";
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

    fn build(
        &self,
        _ctx: &Arc<RunContext>,
        _timeout: Duration,
    ) -> Result<Box<dyn Sampler>, String> {
        Ok(Box::new(TcpSampler {
            address: self.address.clone(),
        }))
    }
}

struct TcpSampler {
    address: String,
}

impl Sampler for TcpSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            tokio::net::TcpStream::connect(&self.address)
                .await
                .map_err(short_error)?;
            Ok(None)
        })
    }
}
