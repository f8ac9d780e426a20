//! SIGINT / SIGTERM as a stream of "stop" requests.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Listens for SIGINT and SIGTERM; disabled when the engine runs inside a test.
pub struct Signals(Option<(Signal, Signal)>);

impl Signals {
    /// Installs handlers when `enabled`.
    pub fn new(enabled: bool) -> std::io::Result<Self> {
        if !enabled {
            return Ok(Self(None));
        }
        Ok(Self(Some((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))))
    }

    /// Resolves at the next signal (never when disabled).
    pub async fn next(&mut self) -> &'static str {
        match &mut self.0 {
            Some((int, term)) => tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            None => std::future::pending().await,
        }
    }
}
