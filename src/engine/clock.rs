//! One monotonic origin per run; wall-clock timestamps beside monotonic offsets.

use tokio::time::Instant;

/// The run's time origin (wall-clock times are taken per sample and event).
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    pub origin: Instant,
}

impl RunClock {
    /// Starts the clock now.
    pub fn start() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    /// Milliseconds since the origin.
    pub fn offset_ms(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.origin).as_secs_f64() * 1000.0
    }

    /// Milliseconds since the origin, now.
    pub fn now_ms(&self) -> f64 {
        self.offset_ms(Instant::now())
    }
}
