//! The run report: everything a run observed, versioned, written as `report.json` and
//! re-rendered into the other formats by `kubedrill report`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::measure::Measurements;
pub use crate::measure::{Dating, Sample};
use crate::verdict::{ExpectationResult, Verdict};

/// Bumped whenever a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 2;

/// One finished (or aborted) run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub struct RunReport {
    pub schema_version: u32,
    pub kubedrill_version: String,
    pub scenario: ScenarioInfo,
    /// The resolved plan: what each step does and how it is undone.
    pub plan: Vec<PlannedStep>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// Run length in milliseconds.
    #[serde(with = "crate::scenario::duration::millis")]
    pub duration: Duration,
    /// Steps, faults, reverts and aborts in the order they happened.
    pub timeline: Vec<TimelineEvent>,
    pub faults: Vec<FaultRecord>,
    pub probes: Vec<ProbeRecord>,
    /// Scenario-wide measurements (recovery of all probes together).
    pub scenario_measurements: ScenarioMeasurements,
    pub expectations: Vec<ExpectationResult>,
    /// Every revert that was registered, in the order they ran.
    pub reverts: Vec<RevertRecord>,
    pub verdict: Verdict,
    pub exit_code: i32,
    /// Why the run was aborted or errored, in words.
    pub reason: Option<String>,
}

/// Which scenario ran.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: Option<String>,
    pub file: String,
    /// Stable window used for recovery, in milliseconds.
    #[serde(with = "crate::scenario::duration::millis")]
    pub stable_window: Duration,
}

/// A step of the plan as a person reads it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlannedStep {
    pub index: usize,
    /// `wait`, `fault`, `heal` or `wait-until`.
    pub kind: String,
    /// What the step does.
    pub action: String,
    /// How it is undone (faults only).
    pub undo: Option<String>,
    /// What the fault resolved to when it ran (nodes, pods, leader ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// The reverts registered for it when it ran, in the order they would run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reverts: Vec<String>,
}

/// Something that happened at a moment of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimelineEvent {
    pub at: DateTime<Utc>,
    /// Milliseconds since the run started (monotonic clock).
    pub offset_ms: f64,
    /// `step-started`, `step-finished`, `step-failed`, `fault-injected`, `fault-reverted`,
    /// `revert-failed`, `abort`, `signal`.
    pub kind: String,
    pub step: Option<usize>,
    pub message: String,
}

/// One injected fault and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultRecord {
    pub id: String,
    pub kind: String,
    pub description: String,
    pub step: usize,
    /// When the injection started.
    pub injected_at_ms: Option<f64>,
    /// When the first revert of this fault started (the heal moment).
    pub reverted_at_ms: Option<f64>,
    /// When the fault took effect (the kill, the stop); its hold counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_effect_at_ms: Option<f64>,
    /// Its `for`: reverted at `in_effect_at_ms` + this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ms: Option<f64>,
    /// `injected`, `failed` (see `error`) or `interrupted` (a signal or abort cut it short).
    #[serde(default)]
    pub injection: String,
    /// Why the injection failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How its reverts ended: `reverted`, `failed`, `not-run`, or `none` (nothing to undo).
    #[serde(default)]
    pub revert: String,
    /// Fault-specific details (commands run, pods evicted, leaders, ...).
    #[serde(default)]
    pub details: serde_json::Value,
}

impl FaultRecord {
    /// True when the fault is known to be undone (or had nothing to undo).
    pub fn undone(&self) -> bool {
        match self.revert.as_str() {
            "" => self.reverted_at_ms.is_some(),
            other => other == "reverted" || other == "none",
        }
    }
}

/// A probe, all its samples and what they measure.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProbeRecord {
    pub name: String,
    pub kind: String,
    /// What the probe checks, in words (URL, server, command ...; never secrets).
    pub target: String,
    #[serde(with = "crate::scenario::duration::millis")]
    pub interval: Duration,
    #[serde(with = "crate::scenario::duration::millis")]
    pub timeout: Duration,
    /// Most samples allowed in flight at once.
    pub max_in_flight: u64,
    /// Ticks of the schedule from the first to the last (one sample each, or missed).
    pub scheduled_ticks: u64,
    /// Ticks that started no sample because `max_in_flight` samples were still running.
    pub missed_ticks: u64,
    /// Samples still running when the probe stopped (never dated, not counted).
    #[serde(default)]
    pub unfinished_samples: u64,
    /// `all` when `samples` holds every sample; `near-state-changes` when the run had too
    /// many and `samples` holds those around state changes (every sample is in
    /// `samples_file`).
    pub samples_embedded: String,
    /// Every sample of the run, one JSON line each (relative to the run directory).
    pub samples_file: String,
    /// Samples ordered by the instant they are dated by.
    pub samples: Vec<Sample>,
    pub measurements: Measurements,
}

/// Measurements over all probes together.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioMeasurements {
    /// Last heal (revert) offset in milliseconds, if any fault was injected.
    pub healed_at_ms: Option<f64>,
    /// Worst recovery across probes.
    pub recovery: crate::measure::Recovery,
}

/// A revert that was registered before its fault was injected.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RevertRecord {
    pub fault_id: String,
    pub description: String,
    /// `reverted`, `failed`, `not-run`.
    pub outcome: String,
    pub error: Option<String>,
    /// What to run by hand if the revert failed or did not run.
    pub manual: Vec<String>,
    pub at_ms: Option<f64>,
    /// What the revert's commands did (exit code, trimmed output, duration), when known.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}
