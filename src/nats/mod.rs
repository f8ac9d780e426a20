//! NATS JetStream from the outside: the monitoring endpoints (`/jsz`, `/healthz`) reached
//! directly or through the Kubernetes API server's pod proxy, the servers a run knows,
//! who the majority says leads, and the stream drills publish to.

mod monitor;
mod servers;
mod stream;

pub use monitor::{HealthzMode, LeaderOf, Monitor, MonitorEndpoint, PodProxy};
pub use servers::{agreed_leader, inventory_servers, NatsPods, NatsServer};
pub use stream::{ensure_stream, stream_status, StreamStatus};

use std::future::Future;
use std::time::{Duration, Instant};

/// Calls `f` every `every` until it returns `Ok`, or `within` has passed; then the last
/// error. Waits are explicit here because reverts report what they last saw.
pub(crate) async fn poll_until<T, F, Fut>(
    within: Duration,
    every: Duration,
    mut f: F,
) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        let last = match f().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if Instant::now() + every > deadline {
            return Err(format!(
                "{last} (still, after {})",
                humantime::format_duration(within)
            ));
        }
        tokio::time::sleep(every).await;
    }
}
