//! The Kubernetes client a probe samples with: the run's shared client for the probe's
//! timeout (context guard included; built once per run, so an exec credential plugin runs
//! once, not per probe).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::short_error;
use crate::engine::RunContext;

/// The run's client bounded by the probe timeout.
pub(crate) struct ProbeClient {
    ctx: Arc<RunContext>,
    timeout: Duration,
}

impl ProbeClient {
    pub fn new(ctx: &Arc<RunContext>, timeout: Duration) -> Self {
        Self {
            ctx: ctx.clone(),
            timeout,
        }
    }

    /// The client (connecting, and checking the context, on first use).
    pub async fn get(&self) -> Result<kube::Client, String> {
        self.for_server(None).await
    }

    /// The client for apiserver `server` instead of the kubeconfig's (same credentials).
    pub async fn for_server(&self, server: Option<&str>) -> Result<kube::Client, String> {
        let timeout = Some(self.transport_timeout());
        self.ctx.cluster.client_for(server, timeout).await
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The client's own socket timeouts: a little longer than the probe timeout, so that
    /// [`bounded`] fires first and the sample says "timed out after ..." rather than a
    /// transport error; they remain a safety net.
    pub fn transport_timeout(&self) -> Duration {
        self.timeout + Duration::from_millis(250)
    }
}

/// Runs one API call within `timeout`; errors become a short sample text.
pub(crate) async fn bounded<T, E: std::fmt::Display>(
    timeout: Duration,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, call).await {
        Ok(r) => r.map_err(short_error),
        Err(_) => Err(format!(
            "timed out after {}",
            humantime::format_duration(timeout)
        )),
    }
}
