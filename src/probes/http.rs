//! `http`: a request whose answer must carry the expected status.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{short_error, ProbeKind, SampleResult, Sampler};
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// `http: { url, method, expect-status, insecure-skip-tls-verify }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HttpProbe {
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    /// Status that counts as healthy; any 2xx when absent.
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// Accept any TLS certificate. Off by default; only for labs with self-signed certs.
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
}

fn default_method() -> String {
    "GET".into()
}

impl ProbeKind for HttpProbe {
    const KIND: &'static str = "http";
    const SUMMARY: &'static str =
        "HTTP request; healthy when the status matches (any 2xx by default)";
    const EXAMPLE: &'static str = "name: web\ninterval: 250ms\ntimeout: 1s\nhttp: { url: \"http://127.0.0.1:8080/healthz\", expect-status: 200 }";

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        match reqwest::Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(u) => errs.add(
                at.key("url"),
                format!("scheme `{}` is not http or https", u.scheme()),
            ),
            Err(e) => errs.add(at.key("url"), format!("`{}` is not a URL: {e}", self.url)),
        }
        if reqwest::Method::from_bytes(self.method.as_bytes()).is_err() {
            errs.add(
                at.key("method"),
                format!("`{}` is not an HTTP method", self.method),
            );
        }
        if let Some(s) = self.expect_status {
            if !(100..=599).contains(&s) {
                errs.add(
                    at.key("expect-status"),
                    format!("{s} is not an HTTP status (100-599)"),
                );
            }
        }
    }

    fn target(&self) -> String {
        format!("{} {}", self.method, redact_url(&self.url))
    }

    fn build(&self, _ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(self.insecure_skip_tls_verify)
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| e.to_string())?;
        let method =
            reqwest::Method::from_bytes(self.method.as_bytes()).map_err(|e| e.to_string())?;
        Ok(Box::new(HttpSampler {
            client,
            method,
            url: self.url.clone(),
            expect: self.expect_status,
        }))
    }
}

/// Drops user:password from a URL before it goes into a report.
pub(crate) fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

struct HttpSampler {
    client: reqwest::Client,
    method: reqwest::Method,
    url: String,
    expect: Option<u16>,
}

impl Sampler for HttpSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let resp = self
                .client
                .request(self.method.clone(), &self.url)
                .send()
                .await
                .map_err(|e| short_error(error_chain(&e)))?;
            let status = resp.status().as_u16();
            let ok = match self.expect {
                Some(want) => status == want,
                None => resp.status().is_success(),
            };
            if ok {
                Ok(Some(serde_json::json!({ "status": status })))
            } else {
                Err(format!("status {status}"))
            }
        })
    }
}

/// The innermost cause is usually the useful part (`connection refused`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}
