//! A report for a run that was killed before it could write one, rebuilt by `recover`
//! from the journal and `samples.jsonl`. Expectations are not judged (the run never
//! finished); the measurements are those of every sample the run dated before it died.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::Utc;

use super::journal::JournalEntry;
use super::probe_records::embed_samples;
use super::sample_file::{read_samples, DeclaredProbe, SAMPLES_FILE};
use crate::exit_code::ExitCode;
use crate::measure::{FaultSpan, Tracker};
use crate::report::{ProbeRecord, RunReport, ScenarioInfo, ScenarioMeasurements, SCHEMA_VERSION};
use crate::verdict::Verdict;

/// Stable window assumed for recovery (the scenario's own is not in the journal).
const STABLE_WINDOW: Duration = Duration::from_secs(2);

/// Builds the report from the run's own journal entries (read before `recover` appended
/// anything) and its sample file. `None` when the run wrote no sample file.
pub fn recovered_report(run_dir: &Path, entries: &[JournalEntry]) -> Option<RunReport> {
    let file = run_dir.join(SAMPLES_FILE);
    let mut declared: Vec<DeclaredProbe> = Vec::new();
    let mut trackers: BTreeMap<String, Tracker> = BTreeMap::new();
    read_samples(
        &file,
        |d| declared.push(d),
        |probe, s| trackers.entry(probe.to_string()).or_default().apply(&s),
    )
    .ok()?;
    let (scenario, scenario_file, started_at) = match entries.first() {
        Some(JournalEntry::Started {
            scenario,
            file,
            started_at,
            ..
        }) => (
            scenario.clone(),
            file.clone(),
            started_at.unwrap_or_else(Utc::now),
        ),
        _ => ("unknown".into(), String::new(), Utc::now()),
    };
    let at = |f: fn(&JournalEntry) -> Option<f64>| entries.iter().filter_map(f);
    let span = FaultSpan {
        first_injected_ms: at(|e| match e {
            JournalEntry::Injecting { at_ms, .. } => *at_ms,
            _ => None,
        })
        .reduce(f64::min),
        last_healed_ms: at(|e| match e {
            JournalEntry::Reverting { at_ms, .. } => *at_ms,
            _ => None,
        })
        .reduce(f64::max),
    };
    let mut probes: Vec<ProbeRecord> = declared
        .into_iter()
        .map(|d| {
            let t = trackers.remove(&d.name).unwrap_or_default();
            let measurements = t.measurements(span, STABLE_WINDOW);
            ProbeRecord {
                kind: d.kind,
                target: d.target,
                interval: Duration::from_secs_f64(d.interval_ms / 1000.0),
                timeout: Duration::from_secs_f64(d.timeout_ms / 1000.0),
                max_in_flight: d.max_in_flight,
                scheduled_ticks: 0,
                missed_ticks: 0,
                unfinished_samples: 0,
                samples_embedded: String::new(),
                samples_file: SAMPLES_FILE.into(),
                samples: Vec::new(),
                measurements,
                name: d.name,
            }
        })
        .collect();
    embed_samples(&mut probes, &file);
    let ended_at = Utc::now();
    Some(RunReport {
        schema_version: SCHEMA_VERSION,
        kubedrill_version: env!("CARGO_PKG_VERSION").into(),
        scenario: ScenarioInfo {
            name: scenario,
            description: None,
            file: scenario_file,
            stable_window: STABLE_WINDOW,
        },
        plan: Vec::new(),
        started_at,
        ended_at,
        duration: (ended_at - started_at).to_std().unwrap_or_default(),
        timeline: Vec::new(),
        faults: Vec::new(),
        probes,
        scenario_measurements: ScenarioMeasurements {
            healed_at_ms: span.last_healed_ms,
            recovery: crate::measure::Recovery::NotApplicable,
        },
        expectations: Vec::new(),
        reverts: Vec::new(),
        verdict: Verdict::Aborted,
        exit_code: ExitCode::Aborted.code(),
        reason: Some(
            "the run was killed before it wrote a report; kubedrill recover rebuilt this one \
             from samples.jsonl and the journal (expectations not judged; stable window taken as 2s)"
                .into(),
        ),
    })
}
