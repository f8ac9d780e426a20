//! The engine's event stream: one producer, any number of consumers (live progress,
//! plain log lines). Reports are built from the final state, not from this stream.

use tokio::sync::broadcast;

use crate::measure::Sample;
use crate::report::TimelineEvent;

/// Something the engine did or saw.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// Step `index` of `total` started.
    StepStarted {
        index: usize,
        total: usize,
        description: String,
    },
    /// A timeline entry (fault injected, reverted, abort ...).
    Timeline(TimelineEvent),
    /// A probe's health changed (its first sample, then each change).
    Sample {
        probe: String,
        ok: bool,
        error: Option<String>,
    },
    /// Every sample of a probe, in date order, as it is applied to the probe's
    /// measurements (the web live view folds them into its own tracker).
    Observed { probe: String, sample: Sample },
    /// The run is over.
    Finished,
}

/// Cheap to clone; sending never blocks and never fails the run.
#[derive(Clone)]
pub struct EventSink(broadcast::Sender<EngineEvent>);

impl EventSink {
    /// A sink with room for `capacity` unread events per consumer.
    pub fn new(capacity: usize) -> Self {
        Self(broadcast::channel(capacity).0)
    }

    /// Publishes an event (dropped when nobody listens).
    pub fn send(&self, e: EngineEvent) {
        let _ = self.0.send(e);
    }

    /// A new consumer.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.0.subscribe()
    }
}
