//! `api`: GET /readyz (or /livez) of the API server, through the kubeconfig's server and
//! optionally of each control-plane endpoint separately; optionally the latency of a list.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::kube_client::{bounded, ProbeClient};
use super::{ProbeKind, SampleResult, Sampler};
use crate::cluster::nodes::internal_ip;
use crate::cluster::select::{role_of, NodeRole};
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// Which health endpoint to ask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthCheck {
    #[default]
    Readyz,
    Livez,
}

/// When several endpoints are probed, how many must answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Require {
    #[default]
    All,
    Any,
}

/// `api: { check: readyz, endpoints: [https://10.0.0.1:6443], discover-endpoints: false,
/// require: all, list-latency: true }`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ApiProbe {
    #[serde(default)]
    pub check: HealthCheck,
    /// API server URLs to probe one by one instead of the kubeconfig's server.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Probe `https://<InternalIP>:6443` of every control-plane node (found at the first sample).
    #[serde(default)]
    pub discover_endpoints: bool,
    #[serde(default)]
    pub require: Require,
    /// Also time a one-item list of nodes (through the kubeconfig's server).
    #[serde(default)]
    pub list_latency: bool,
}

impl ProbeKind for ApiProbe {
    const KIND: &'static str = "api";
    const SUMMARY: &'static str =
        "Kubernetes API /readyz or /livez (kubeconfig server or each control-plane endpoint), optional list latency";
    const EXAMPLE: &'static str =
        "name: api\ninterval: 200ms\ntimeout: 1s\napi: { check: readyz, list-latency: true }";

    fn needs_cluster(&self) -> bool {
        true
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        for (i, e) in self.endpoints.iter().enumerate() {
            if !(e.starts_with("https://") || e.starts_with("http://")) {
                errs.add(
                    at.key("endpoints").index(i),
                    "an endpoint is a URL, e.g. https://10.0.0.1:6443",
                );
            }
        }
        if self.discover_endpoints && !self.endpoints.is_empty() {
            errs.add(at, "give `endpoints` or `discover-endpoints`, not both");
        }
        // The list is timed through the kubeconfig's server only; with endpoints it was
        // silently skipped, so refuse the combination instead of measuring nothing.
        if self.list_latency && self.per_endpoint() {
            errs.add(
                at.key("list-latency"),
                "`list-latency` times a list through the kubeconfig's server and cannot be \
                 combined with `endpoints` or `discover-endpoints`; use a second `api` probe \
                 with `list-latency: true` and no endpoints",
            );
        }
    }

    fn target(&self) -> String {
        let path = self.path();
        if self.discover_endpoints {
            format!("{path} of each control-plane node")
        } else if self.endpoints.is_empty() {
            format!("{path} of the kubeconfig server")
        } else {
            format!("{path} of {}", self.endpoints.join(", "))
        }
    }

    fn build(&self, ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        Ok(Box::new(ApiSampler {
            spec: self.clone(),
            client: ProbeClient::new(ctx, timeout),
            endpoints: OnceCell::new(),
        }))
    }
}

impl ApiProbe {
    fn path(&self) -> &'static str {
        match self.check {
            HealthCheck::Readyz => "/readyz",
            HealthCheck::Livez => "/livez",
        }
    }

    fn per_endpoint(&self) -> bool {
        self.discover_endpoints || !self.endpoints.is_empty()
    }
}

struct ApiSampler {
    spec: ApiProbe,
    client: ProbeClient,
    /// (URL, client) per endpoint when probing endpoints separately.
    endpoints: OnceCell<Vec<(String, kube::Client)>>,
}

impl ApiSampler {
    async fn endpoints(&self) -> Result<&Vec<(String, kube::Client)>, String> {
        self.endpoints
            .get_or_try_init(|| async {
                let urls = if self.spec.discover_endpoints {
                    discover(&self.client).await?
                } else {
                    self.spec.endpoints.clone()
                };
                let connection = self.client.ctx().cluster.connection().await?;
                urls.into_iter()
                    .map(|u| {
                        let c =
                            connection.client(Some(&u), Some(self.client.transport_timeout()))?;
                        Ok((u, c))
                    })
                    .collect()
            })
            .await
    }

    async fn check_endpoints(&self) -> SampleResult {
        let endpoints = self.endpoints().await?;
        let path = self.spec.path();
        // Each endpoint gets a little less than the sample's timeout, so an endpoint that
        // hangs is reported as such beside the others' answers (with `require: any` the
        // sample is healthy when another answered) instead of the whole sample timing out.
        let timeout = self.client.timeout().mul_f64(0.9);
        let results =
            futures::future::join_all(endpoints.iter().map(|(_, c)| health(c, path, timeout)))
                .await;
        let mut detail = serde_json::Map::new();
        let mut failed = Vec::new();
        for ((url, _), r) in endpoints.iter().zip(&results) {
            let text = match r {
                Ok(ms) => format!("ok {ms}ms"),
                Err(e) => {
                    failed.push(format!("{url}: {e}"));
                    e.clone()
                }
            };
            detail.insert(url.clone(), text.into());
        }
        let healthy = match self.spec.require {
            Require::All => failed.is_empty(),
            Require::Any => failed.len() < endpoints.len(),
        };
        if healthy {
            Ok(Some(serde_json::json!({ "endpoints": detail })))
        } else {
            Err(failed.join("; "))
        }
    }
}

/// GET `path`; the latency in milliseconds when it answered 2xx.
async fn health(client: &kube::Client, path: &str, timeout: Duration) -> Result<u64, String> {
    let started = Instant::now();
    let request = http_get(path)?;
    bounded(timeout, client.request_text(request)).await?;
    Ok(started.elapsed().as_millis() as u64)
}

fn http_get(path: &str) -> Result<http::Request<Vec<u8>>, String> {
    http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| e.to_string())
}

/// `https://<InternalIP>:6443` of every control-plane node.
async fn discover(client: &ProbeClient) -> Result<Vec<String>, String> {
    let c = client.get().await?;
    let nodes: Vec<Node> = bounded(
        client.timeout(),
        Api::<Node>::all(c).list(&ListParams::default()),
    )
    .await?
    .items;
    let urls: Vec<String> = nodes
        .iter()
        .filter(|n| role_of(n) == NodeRole::ControlPlane)
        .filter_map(internal_ip)
        .map(|ip| format!("https://{ip}:6443"))
        .collect();
    if urls.is_empty() {
        return Err("no control-plane node with an InternalIP found".to_string());
    }
    Ok(urls)
}

impl Sampler for ApiSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            if self.spec.per_endpoint() {
                return self.check_endpoints().await;
            }
            let client = self.client.get().await?;
            let timeout = self.client.timeout();
            let latency = health(&client, self.spec.path(), timeout).await?;
            let mut detail = serde_json::json!({ "latency_ms": latency });
            if self.spec.list_latency {
                let started = Instant::now();
                let lp = ListParams::default().limit(1);
                bounded(timeout, Api::<Node>::all(client).list(&lp)).await?;
                detail["list_ms"] = (started.elapsed().as_millis() as u64).into();
            }
            Ok(Some(detail))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn errors_of(api: &str) -> Vec<String> {
        let doc = format!(
            "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: t }}\ntarget: {{ context: c }}\nprobes:\n  - name: api\n    interval: 1s\n    api: {api}\nsteps:\n  - wait: 1s\n"
        );
        match crate::scenario::load_str(Path::new("t.yaml"), &doc, &Default::default()) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn list_latency_is_refused_with_endpoints() {
        for api in [
            "{ endpoints: [\"https://10.0.0.1:6443\"], list-latency: true }",
            "{ discover-endpoints: true, list-latency: true }",
        ] {
            let errs = errors_of(api);
            assert_eq!(errs.len(), 1, "{api}: {errs:?}");
            assert!(
                errs[0].contains("probes[0].api.list-latency")
                    && errs[0].contains("cannot be combined"),
                "{errs:?}"
            );
        }
        assert_eq!(errors_of("{ list-latency: true }"), Vec::<String>::new());
        assert_eq!(
            errors_of("{ discover-endpoints: true }"),
            Vec::<String>::new()
        );
    }
}
