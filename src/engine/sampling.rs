//! Probe tasks: each probe samples on its own fixed schedule, with a per-sample timeout.
//! A hanging target only delays its own probe; ticks missed meanwhile are counted and
//! skipped, never bunched.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::clock::RunClock;
use super::events::{EngineEvent, EventSink};
use crate::probes::Sampler;
use crate::report::Sample;

/// Samples of one probe, shared between its task and the engine.
#[derive(Default)]
pub struct ProbeLog {
    pub samples: Mutex<Vec<Sample>>,
    pub missed_ticks: AtomicU64,
}

impl ProbeLog {
    /// A copy of the samples so far.
    pub fn snapshot(&self) -> Vec<Sample> {
        self.read(<[Sample]>::to_vec)
    }

    /// Looks at the samples so far without copying them (for checks on every tick).
    pub fn read<T>(&self, f: impl FnOnce(&[Sample]) -> T) -> T {
        f(&self.samples.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A running probe.
pub struct ProbeTask {
    pub name: String,
    pub log: Arc<ProbeLog>,
    handle: JoinHandle<()>,
}

/// Everything a probe task needs.
pub struct ProbeSchedule {
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub sampler: Box<dyn Sampler>,
}

/// Starts the probe; it stops when `stop` turns true. `tick` is bumped after every sample.
pub fn spawn_probe(
    p: ProbeSchedule,
    clock: RunClock,
    stop: watch::Receiver<bool>,
    tick: Arc<watch::Sender<u64>>,
    events: EventSink,
) -> ProbeTask {
    let log = Arc::new(ProbeLog::default());
    let name = p.name.clone();
    let task_log = log.clone();
    let handle = tokio::spawn(sample_loop(p, clock, stop, tick, events, task_log));
    ProbeTask { name, log, handle }
}

async fn sample_loop(
    p: ProbeSchedule,
    clock: RunClock,
    mut stop: watch::Receiver<bool>,
    tick: Arc<watch::Sender<u64>>,
    events: EventSink,
    log: Arc<ProbeLog>,
) {
    let mut ticker = tokio::time::interval_at(Instant::now(), p.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        let scheduled = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            t = ticker.tick() => t,
        };
        let started = Instant::now();
        let at = Utc::now();
        let result = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            r = tokio::time::timeout(p.timeout, p.sampler.sample()) => r,
        };
        let latency = started.elapsed();
        let (ok, error, detail) = match result {
            Ok(Ok(detail)) => (true, None, detail),
            Ok(Err(e)) => (false, Some(e), None),
            Err(_) => (
                false,
                Some(format!(
                    "timed out after {}",
                    humantime::format_duration(p.timeout)
                )),
                None,
            ),
        };
        let missed = (Instant::now()
            .saturating_duration_since(scheduled)
            .as_nanos()
            / p.interval.as_nanos().max(1)) as u64;
        if missed > 0 {
            log.missed_ticks.fetch_add(missed, Ordering::Relaxed);
        }
        let sample = Sample {
            at,
            offset_ms: clock.offset_ms(started),
            ok,
            latency_ms: latency.as_secs_f64() * 1000.0,
            error,
            detail,
        };
        events.send(EngineEvent::Sample {
            probe: p.name.clone(),
            ok,
            error: sample.error.clone(),
        });
        log.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sample);
        tick.send_modify(|n| *n += 1);
    }
}

impl ProbeTask {
    /// Waits for the task to end after `stop` was set.
    pub async fn join(self) -> (String, Arc<ProbeLog>) {
        let _ = self.handle.await;
        (self.name, self.log)
    }
}
