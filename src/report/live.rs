//! The state of a run as the web live view shows it, folded from the engine's event
//! stream: each probe's samples go through a [`Tracker`] of its own (the same fold the
//! engine uses, so outage windows and availability read as they will in the report), the
//! timeline entries give the current step and the faults in place. [`LiveRun::report`]
//! turns it into a partial [`RunReport`] so the report's SVG timeline draws it.
//!
//! Nothing here holds anything the report would not: probe targets are the probes' own
//! descriptions (never secrets), messages and errors are the timeline's and the samples'.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{FaultRecord, ProbeRecord, RunReport, ScenarioInfo, ScenarioMeasurements};
use super::{TimelineEvent, SCHEMA_VERSION};
use crate::engine::EngineEvent;
use crate::measure::{FaultSpan, Recovery, Sample, Tracker};
use crate::scenario::Scenario;
use crate::verdict::Verdict;

/// Samples kept per probe for the chart's sample spans (the tracker keeps the rest of
/// what is measured, whatever the run's length).
const KEPT_SAMPLES: usize = 2000;
/// Timeline entries kept for the page's list of recent events.
const KEPT_EVENTS: usize = 500;

/// One run as seen so far.
#[derive(Debug, Clone)]
pub struct LiveRun {
    pub(crate) scenario: ScenarioInfo,
    pub(crate) started_at: DateTime<Utc>,
    /// The step running now: (index, total, description).
    pub(crate) step: Option<(usize, usize, String)>,
    /// What the run is doing beside its steps (`reverting everything`, `watching recovery`).
    pub(crate) phase: Option<String>,
    pub(crate) timeline: VecDeque<TimelineEvent>,
    pub(crate) faults: Vec<FaultRecord>,
    pub(crate) probes: Vec<LiveProbe>,
    /// The last heal (start of a revert), ms since the run started.
    pub(crate) healed_at_ms: Option<f64>,
    pub(crate) first_injected_ms: Option<f64>,
    /// The latest offset the engine reported (a sample's end or a timeline entry).
    pub(crate) latest_ms: f64,
    /// Events this view missed because it fell behind (its counts are then partial).
    pub(crate) missed_events: u64,
    pub(crate) finished: bool,
}

/// One probe as seen so far.
#[derive(Debug, Clone)]
pub struct LiveProbe {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) target: String,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) tracker: Tracker,
    /// The latest samples, oldest first.
    pub(crate) samples: VecDeque<Sample>,
    /// Samples dropped from `samples` (still measured by the tracker).
    pub(crate) dropped: u64,
}

impl LiveProbe {
    /// The latest sample applied.
    pub(crate) fn last(&self) -> Option<&Sample> {
        self.samples.back()
    }
}

impl LiveRun {
    /// A run of `s` about to start.
    pub fn new(s: &Scenario) -> Self {
        LiveRun {
            scenario: ScenarioInfo {
                name: s.metadata.name.clone(),
                description: s.metadata.description.clone(),
                file: s.file.display().to_string(),
                stable_window: s.settings.stable_window.get(),
            },
            started_at: Utc::now(),
            step: None,
            phase: None,
            timeline: VecDeque::new(),
            faults: Vec::new(),
            probes: s
                .probes
                .iter()
                .map(|p| LiveProbe {
                    name: p.name.clone(),
                    kind: p.spec.kind().into(),
                    target: p.spec.target(),
                    interval: p.interval.get(),
                    timeout: p.timeout.get(),
                    tracker: Tracker::default(),
                    samples: VecDeque::new(),
                    dropped: 0,
                })
                .collect(),
            healed_at_ms: None,
            first_injected_ms: None,
            latest_ms: 0.0,
            missed_events: 0,
            finished: false,
        }
    }

    /// Folds one engine event in.
    pub fn apply(&mut self, e: &EngineEvent) {
        match e {
            EngineEvent::StepStarted {
                index,
                total,
                description,
            } => self.step = Some((*index, *total, description.clone())),
            EngineEvent::Timeline(t) => self.timeline_entry(t),
            EngineEvent::Observed { probe, sample } => self.observed(probe, sample),
            EngineEvent::Sample { .. } => {}
            EngineEvent::Finished => self.finished = true,
        }
    }

    fn observed(&mut self, probe: &str, sample: &Sample) {
        self.latest_ms = self.latest_ms.max(sample.end_ms);
        let Some(p) = self.probes.iter_mut().find(|p| p.name == probe) else {
            return;
        };
        p.tracker.apply(sample);
        p.samples.push_back(sample.clone());
        if p.samples.len() > KEPT_SAMPLES {
            p.samples.pop_front();
            p.dropped += 1;
        }
    }

    fn timeline_entry(&mut self, t: &TimelineEvent) {
        self.latest_ms = self.latest_ms.max(t.offset_ms);
        if t.kind == "run-started" {
            self.started_at = t.at;
        }
        let at = t.offset_ms;
        // Fault entries read `ID: what`.
        let (id, rest) = t.message.split_once(": ").unwrap_or((&t.message, ""));
        match t.kind.as_str() {
            "fault-injected" => {
                self.first_injected_ms.get_or_insert(at);
                self.faults.push(FaultRecord {
                    id: id.to_string(),
                    kind: String::new(),
                    description: rest.to_string(),
                    step: t.step.unwrap_or(0),
                    injected_at_ms: Some(at),
                    reverted_at_ms: None,
                    in_effect_at_ms: Some(at),
                    hold_ms: None,
                    injection: "injected".into(),
                    error: None,
                    revert: String::new(),
                    details: serde_json::Value::Null,
                });
            }
            "fault-reverted" | "revert-not-needed" | "revert-failed" => {
                let failed = t.kind == "revert-failed";
                if let Some(f) = self
                    .faults
                    .iter_mut()
                    .rev()
                    .find(|f| f.id == id && (f.revert.is_empty() || failed))
                {
                    f.reverted_at_ms.get_or_insert(at);
                    f.revert = if failed { "failed" } else { "reverted" }.into();
                }
                self.healed_at_ms = Some(at);
            }
            "abort" => self.phase = Some(format!("aborted: {}", t.message)),
            "step-finished" | "step-failed"
                if self.step.as_ref().is_some_and(|(i, n, _)| i + 1 == *n) =>
            {
                self.phase = Some("steps done: final rollback and recovery watch".into());
            }
            _ => {}
        }
        self.timeline.push_back(t.clone());
        if self.timeline.len() > KEPT_EVENTS {
            self.timeline.pop_front();
        }
    }

    /// Faults injected and not reverted yet.
    pub fn faults_in_place(&self) -> impl Iterator<Item = &FaultRecord> {
        self.faults
            .iter()
            .filter(|f| f.revert.is_empty() || f.revert == "failed")
    }

    fn span(&self) -> FaultSpan {
        FaultSpan {
            first_injected_ms: self.first_injected_ms,
            last_healed_ms: self.healed_at_ms,
        }
    }

    /// The run so far as a report (no plan, expectations or verdict yet) ending at `now_ms`,
    /// for the report's timeline chart.
    pub fn report(&self, now_ms: f64) -> RunReport {
        let now_ms = now_ms.max(self.latest_ms).max(1.0);
        let span = self.span();
        let stable = self.scenario.stable_window;
        let probes = self
            .probes
            .iter()
            .map(|p| ProbeRecord {
                name: p.name.clone(),
                kind: p.kind.clone(),
                target: p.target.clone(),
                interval: p.interval,
                timeout: p.timeout,
                max_in_flight: 0,
                scheduled_ticks: 0,
                missed_ticks: 0,
                unfinished_samples: 0,
                // Only the chart reads these; it draws the samples near state changes.
                samples_embedded: "all".into(),
                samples_file: String::new(),
                samples: p.samples.iter().cloned().collect(),
                measurements: p.tracker.measurements(span, stable),
            })
            .collect();
        let duration = Duration::from_secs_f64(now_ms / 1000.0);
        RunReport {
            schema_version: SCHEMA_VERSION,
            kubedrill_version: env!("CARGO_PKG_VERSION").into(),
            scenario: self.scenario.clone(),
            plan: Vec::new(),
            started_at: self.started_at,
            ended_at: self.started_at + duration,
            duration,
            timeline: self.timeline.iter().cloned().collect(),
            faults: self.faults.clone(),
            probes,
            scenario_measurements: ScenarioMeasurements {
                healed_at_ms: self.healed_at_ms,
                recovery: Recovery::NotApplicable,
            },
            expectations: Vec::new(),
            reverts: Vec::new(),
            verdict: Verdict::Pass,
            exit_code: 0,
            reason: None,
        }
    }
}
