//! The Kubernetes client a probe samples with: the run's connection (context guard
//! included) with the probe's timeout on every request, built on first use.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

use super::short_error;
use crate::engine::RunContext;

/// A lazily built client bounded by the probe timeout.
pub(crate) struct ProbeClient {
    ctx: Arc<RunContext>,
    timeout: Duration,
    client: OnceCell<kube::Client>,
}

impl ProbeClient {
    pub fn new(ctx: &Arc<RunContext>, timeout: Duration) -> Self {
        Self {
            ctx: ctx.clone(),
            timeout,
            client: OnceCell::new(),
        }
    }

    /// The client (connecting, and checking the context, on first use).
    pub async fn get(&self) -> Result<kube::Client, String> {
        self.client
            .get_or_try_init(|| async {
                let connection = self.ctx.cluster.connection().await?;
                connection.client(None, Some(self.transport_timeout()))
            })
            .await
            .cloned()
    }

    /// The run context.
    pub fn ctx(&self) -> &RunContext {
        &self.ctx
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
