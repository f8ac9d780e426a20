//! Probe tasks: each probe starts a sample at every tick of its own fixed schedule, even
//! while earlier samples are still running, up to `max_in_flight` at once. A tick that
//! finds the bound reached is a missed tick, counted once.
//!
//! Finished samples are dated (healthy at their end, failed at their start) and held in a
//! reorder buffer until no running sample can still be dated earlier, then applied in date
//! order to the probe's [`Tracker`] and streamed to `samples.jsonl`. Memory per probe is
//! bounded by the in-flight samples and the state changes, not by the run's length.

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::clock::RunClock;
use super::events::{EngineEvent, EventSink};
use super::sample_file::SampleFile;
use crate::measure::{Sample, Tracker};
use crate::probes::Sampler;

/// What one probe observed so far, shared between its task and the engine.
pub struct ProbeLog {
    tracker: Mutex<Tracker>,
    /// Ticks of the schedule that came due.
    pub scheduled_ticks: AtomicU64,
    /// Ticks that found `max_in_flight` samples running and started none.
    pub missed_ticks: AtomicU64,
    /// Samples still running when the probe stopped (never dated).
    pub unfinished: AtomicU64,
    pub max_in_flight: u64,
    pub interval: Duration,
}

impl ProbeLog {
    fn new(max_in_flight: u64, interval: Duration) -> Self {
        Self {
            interval,
            tracker: Mutex::default(),
            scheduled_ticks: AtomicU64::new(0),
            missed_ticks: AtomicU64::new(0),
            unfinished: AtomicU64::new(0),
            max_in_flight,
        }
    }

    /// Looks at the reconstructed state (settled observations only).
    pub fn read<T>(&self, f: impl FnOnce(&Tracker) -> T) -> T {
        f(&self.tracker.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The default bound on samples in flight: enough to start one at every tick while
/// earlier ones run into their timeout.
pub fn default_max_in_flight(interval: Duration, timeout: Duration) -> u64 {
    let ratio = timeout.as_nanos().div_ceil(interval.as_nanos().max(1));
    ratio as u64 + 1
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
    pub max_in_flight: u64,
    pub sampler: Box<dyn Sampler>,
}

/// Where a probe task reports.
#[derive(Clone)]
pub struct ProbeOutputs {
    pub clock: RunClock,
    /// Bumped when any probe's state changes (healthy ↔ unhealthy).
    pub changes: Arc<watch::Sender<u64>>,
    pub events: EventSink,
    pub file: Arc<SampleFile>,
}

/// Starts the probe; it stops when `stop` turns true.
pub fn spawn_probe(p: ProbeSchedule, out: ProbeOutputs, stop: watch::Receiver<bool>) -> ProbeTask {
    let log = Arc::new(ProbeLog::new(p.max_in_flight.max(1), p.interval));
    let name = p.name.clone();
    let handle = tokio::spawn(sample_loop(p, out, stop, log.clone()));
    ProbeTask { name, log, handle }
}

/// A finished sample waiting in the reorder buffer (a min-heap on its date).
struct Dated(Sample);

impl PartialEq for Dated {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == CmpOrdering::Equal
    }
}
impl Eq for Dated {}
impl PartialOrd for Dated {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Dated {
    fn cmp(&self, o: &Self) -> CmpOrdering {
        o.0.dated_ms().total_cmp(&self.0.dated_ms())
    }
}

async fn sample_loop(
    p: ProbeSchedule,
    out: ProbeOutputs,
    mut stop: watch::Receiver<bool>,
    log: Arc<ProbeLog>,
) {
    let origin = Instant::now();
    let interval_ns = p.interval.as_nanos().max(1);
    let mut next_tick: u64 = 0;
    let mut running = FuturesUnordered::new();
    // seq → start offset of each running sample; the smallest bounds the reorder buffer.
    let mut starts: BTreeMap<u64, f64> = BTreeMap::new();
    let mut buffer: BinaryHeap<Dated> = BinaryHeap::new();
    let mut settle = Settler {
        name: &p.name,
        out: &out,
        log: &log,
        last_ok: None,
    };
    loop {
        let due_at = origin + p.interval.mul_f64(next_tick as f64);
        tokio::select! {
            // Ticks first: a stream of finished samples must never delay the schedule.
            biased;
            _ = stop.wait_for(|s| *s) => break,
            _ = tokio::time::sleep_until(due_at) => {
                let now = Instant::now();
                // A late wake-up starts one sample for the latest due tick; the ticks it
                // slept through are missed, each counted once.
                let due = (now.saturating_duration_since(origin).as_nanos() / interval_ns) as u64;
                let due = due.max(next_tick);
                let mut missed = due - next_tick;
                if (running.len() as u64) < log.max_in_flight {
                    let start_ms = out.clock.offset_ms(now);
                    starts.insert(due, start_ms);
                    running.push(take_sample(&p, &out.clock, due, start_ms, now));
                } else {
                    missed += 1;
                }
                log.scheduled_ticks.fetch_add(due - next_tick + 1, Ordering::Relaxed);
                log.missed_ticks.fetch_add(missed, Ordering::Relaxed);
                next_tick = due + 1;
            }
            Some((seq, sample)) = running.next(), if !running.is_empty() => {
                starts.remove(&seq);
                buffer.push(Dated(sample));
                let horizon = starts.values().next().copied().unwrap_or(f64::INFINITY);
                settle.until(&mut buffer, horizon.min(out.clock.now_ms()));
            }
        }
    }
    // Samples still running end within their timeout: wait for them, so an outage still
    // going on at the end is observed to the last tick and not cut short by a timeout.
    let drain = async {
        while let Some((_, sample)) = running.next().await {
            buffer.push(Dated(sample));
        }
    };
    if tokio::time::timeout(p.timeout + DRAIN_MARGIN, drain)
        .await
        .is_err()
    {
        log.unfinished
            .fetch_add(running.len() as u64, Ordering::Relaxed);
    }
    settle.until(&mut buffer, f64::INFINITY);
}

/// Beyond the timeout, how long a stopping probe waits for its last samples.
const DRAIN_MARGIN: Duration = Duration::from_millis(500);

async fn take_sample(
    p: &ProbeSchedule,
    clock: &RunClock,
    seq: u64,
    start_ms: f64,
    started: Instant,
) -> (u64, Sample) {
    let at = Utc::now() - chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
    // An answer the runtime hands over after the deadline (this machine stalled) stays
    // healthy: the target did answer, and the stall is not the target's outage.
    let result = match tokio::time::timeout(p.timeout, p.sampler.sample()).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "timed out after {}",
            humantime::format_duration(p.timeout)
        )),
    };
    (seq, Sample::new(at, start_ms, clock.now_ms(), result))
}

/// Applies settled samples in date order.
struct Settler<'a> {
    name: &'a str,
    out: &'a ProbeOutputs,
    log: &'a ProbeLog,
    /// Health of the last applied sample (to publish changes only).
    last_ok: Option<bool>,
}

impl Settler<'_> {
    /// Applies every buffered sample dated at or before `horizon`.
    fn until(&mut self, buffer: &mut BinaryHeap<Dated>, horizon: f64) {
        while buffer.peek().is_some_and(|d| d.0.dated_ms() <= horizon) {
            let Some(Dated(sample)) = buffer.pop() else {
                break;
            };
            self.log
                .tracker
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .apply(&sample);
            self.out.file.append(self.name, &sample);
            self.out.events.send(EngineEvent::Observed {
                probe: self.name.to_string(),
                sample: sample.clone(),
            });
            if self.last_ok != Some(sample.ok) {
                self.last_ok = Some(sample.ok);
                self.out.changes.send_modify(|n| *n += 1);
                self.out.events.send(EngineEvent::Sample {
                    probe: self.name.to_string(),
                    ok: sample.ok,
                    error: sample.error.clone(),
                });
            }
        }
    }
}

impl ProbeTask {
    /// Waits for the task to end after `stop` was set.
    pub async fn join(self) -> (String, Arc<ProbeLog>) {
        let _ = self.handle.await;
        (self.name, self.log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_bound_covers_the_timeout() {
        let ms = Duration::from_millis;
        assert_eq!(default_max_in_flight(ms(100), ms(1000)), 11);
        assert_eq!(default_max_in_flight(ms(100), ms(50)), 2);
        assert_eq!(default_max_in_flight(ms(20), ms(1000)), 51);
        assert_eq!(default_max_in_flight(ms(300), ms(1000)), 5);
    }
}
