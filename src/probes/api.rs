//! `api`: GET /readyz (or /livez) of the API server, through the kubeconfig's server and
//! optionally of each apiserver endpoint separately; optionally the latency of a list.
//!
//! What a sample measures depends on the connection it rides on. Through a TCP load
//! balancer a kept-alive connection stays pinned to the apiserver it first landed on (kind's
//! HAProxy and the lab's keep existing sessions when a backend fails its check), so
//! `connection: fresh` (the default) sends every request with `Connection: close`: each
//! sample opens a new connection, as a new client would, and the load balancer picks a
//! backend for it. `connection: reuse` keeps one connection, as a long-running client does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use kube::api::{Api, ListParams};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::http::HttpConnection;
use super::kube_client::{bounded, ProbeClient};
use super::{ProbeKind, SampleResult, Sampler};
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};
use k8s_openapi::api::discovery::v1::EndpointSlice;

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
/// require: all, list-latency: true, connection: fresh }`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ApiProbe {
    #[serde(default)]
    pub check: HealthCheck,
    /// API server URLs to probe one by one instead of the kubeconfig's server.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Probe every apiserver the `default/kubernetes` EndpointSlice lists (address and
    /// port, found at the first sample).
    #[serde(default)]
    pub discover_endpoints: bool,
    #[serde(default)]
    pub require: Require,
    /// Also time a one-item list of nodes (through the kubeconfig's server).
    #[serde(default)]
    pub list_latency: bool,
    /// `fresh` (default): a new connection per sample; `reuse`: one kept-alive connection.
    #[serde(default)]
    pub connection: HttpConnection,
}

impl ProbeKind for ApiProbe {
    const KIND: &'static str = "api";
    const SUMMARY: &'static str =
        "Kubernetes API /readyz or /livez (kubeconfig server or each apiserver endpoint), a new connection per sample unless `connection: reuse`, optional list latency";
    const EXAMPLE: &'static str =
        "name: api\ninterval: 200ms\ntimeout: 1s\napi: { check: readyz, list-latency: true, connection: fresh }";

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
        let of = if self.discover_endpoints {
            "each apiserver of the default/kubernetes EndpointSlice".to_string()
        } else if self.endpoints.is_empty() {
            "the kubeconfig server".to_string()
        } else {
            self.endpoints.join(", ")
        };
        let connection = match self.connection {
            HttpConnection::Fresh => "a new connection per sample",
            HttpConnection::Reuse => "one kept-alive connection",
        };
        format!("{path} of {of}, {connection}")
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

    /// GET `path`, with `Connection: close` when every sample gets a new connection.
    fn get(&self, path: &str) -> Result<http::Request<Vec<u8>>, String> {
        let mut request = http::Request::get(path);
        if self.connection == HttpConnection::Fresh {
            request = request.header(http::header::CONNECTION, "close");
        }
        request.body(Vec::new()).map_err(|e| e.to_string())
    }
}

struct ApiSampler {
    spec: ApiProbe,
    client: ProbeClient,
    /// The endpoint URLs when probing endpoints separately.
    endpoints: OnceCell<Vec<String>>,
}

impl ApiSampler {
    /// (URL, client) per endpoint; the clients are the run's, shared per endpoint and
    /// built from the same credentials (an exec plugin is not run again per endpoint).
    async fn endpoints(&self) -> Result<Vec<(String, kube::Client)>, String> {
        let urls = self
            .endpoints
            .get_or_try_init(|| async {
                if self.spec.discover_endpoints {
                    discover(&self.client).await
                } else {
                    Ok(self.spec.endpoints.clone())
                }
            })
            .await?;
        let mut clients = Vec::with_capacity(urls.len());
        for u in urls {
            clients.push((u.clone(), self.client.for_server(Some(u)).await?));
        }
        Ok(clients)
    }

    async fn check_endpoints(&self) -> SampleResult {
        let endpoints = self.endpoints().await?;
        let path = self.spec.path();
        // Each endpoint gets a little less than the sample's timeout, so an endpoint that
        // hangs is reported as such beside the others' answers (with `require: any` the
        // sample is healthy when another answered) instead of the whole sample timing out.
        let timeout = self.client.timeout().mul_f64(0.9);
        let results = futures::future::join_all(
            endpoints
                .iter()
                .map(|(_, c)| timed(c, self.spec.get(path), timeout)),
        )
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

/// Sends `request`; the latency in milliseconds when it answered 2xx.
async fn timed(
    client: &kube::Client,
    request: Result<http::Request<Vec<u8>>, String>,
    timeout: Duration,
) -> Result<u64, String> {
    let started = Instant::now();
    bounded(timeout, client.request_text(request?)).await?;
    Ok(started.elapsed().as_millis() as u64)
}

/// `https://ADDRESS:PORT` of every apiserver in the `default/kubernetes` EndpointSlice
/// (what the apiservers themselves publish), IPv6 addresses bracketed.
async fn discover(client: &ProbeClient) -> Result<Vec<String>, String> {
    let c = client.get().await?;
    let lp = ListParams::default().labels("kubernetes.io/service-name=kubernetes");
    let slices = bounded(
        client.timeout(),
        Api::<EndpointSlice>::namespaced(c, "default").list(&lp),
    )
    .await?
    .items;
    let urls = endpoint_urls(&slices);
    if urls.is_empty() {
        return Err("the default/kubernetes EndpointSlice lists no apiserver".to_string());
    }
    Ok(urls)
}

/// The URLs of a set of EndpointSlices: each address with the slice's `https` port (or its
/// only port), in the order listed, without duplicates.
fn endpoint_urls(slices: &[EndpointSlice]) -> Vec<String> {
    let mut urls = Vec::new();
    for slice in slices {
        let ports = slice.ports.as_deref().unwrap_or_default();
        let port = ports
            .iter()
            .find(|p| p.name.as_deref() == Some("https"))
            .or_else(|| (ports.len() == 1).then(|| &ports[0]))
            .and_then(|p| p.port);
        let Some(port) = port else { continue };
        for endpoint in slice.endpoints.iter().flatten() {
            for address in &endpoint.addresses {
                let host = if address.contains(':') {
                    format!("[{address}]")
                } else {
                    address.clone()
                };
                let url = format!("https://{host}:{port}");
                if !urls.contains(&url) {
                    urls.push(url);
                }
            }
        }
    }
    urls
}

impl Sampler for ApiSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            if self.spec.per_endpoint() {
                return self.check_endpoints().await;
            }
            let client = self.client.get().await?;
            let timeout = self.client.timeout();
            let latency = timed(&client, self.spec.get(self.spec.path()), timeout).await?;
            let mut detail = serde_json::json!({ "latency_ms": latency });
            if self.spec.list_latency {
                let list = self.spec.get("/api/v1/nodes?limit=1");
                detail["list_ms"] = timed(&client, list, timeout).await?.into();
            }
            Ok(Some(detail))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};

    fn slice(addresses: &[&str], ports: &[(Option<&str>, i32)]) -> EndpointSlice {
        EndpointSlice {
            address_type: "IPv4".into(),
            endpoints: Some(vec![Endpoint {
                addresses: addresses.iter().map(|a| a.to_string()).collect(),
                ..Default::default()
            }]),
            ports: Some(
                ports
                    .iter()
                    .map(|(name, port)| EndpointPort {
                        name: name.map(str::to_string),
                        port: Some(*port),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn endpoint_urls_take_the_slice_port_and_bracket_ipv6() {
        let slices = [
            slice(&["10.0.0.1", "10.0.0.2"], &[(Some("https"), 443)]),
            slice(&["fd00::1"], &[(None, 6443)]),
            slice(&["10.0.0.1"], &[(Some("https"), 443)]),
            slice(&["10.0.0.9"], &[(Some("a"), 1), (Some("b"), 2)]),
        ];
        assert_eq!(
            super::endpoint_urls(&slices),
            [
                "https://10.0.0.1:443",
                "https://10.0.0.2:443",
                "https://[fd00::1]:6443"
            ]
        );
    }

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
