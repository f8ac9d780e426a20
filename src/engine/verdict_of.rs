//! The end of a run → measurements, expectations, verdict, exit code, report.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::probe_records::probe_records;
use super::sampling::ProbeLog;
use super::state::RunState;
use super::steps::{describe_step, StepsEnd};
use crate::exit_code::ExitCode;
use crate::measure::{FaultSpan, Recovery};
use crate::report::{PlannedStep, RunReport, ScenarioInfo, ScenarioMeasurements, SCHEMA_VERSION};
use crate::scenario::{Scenario, StepAction};
use crate::verdict::{judge, Verdict};

/// Why the timeline stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// The steps ended by themselves.
    Steps(StepsEnd),
    /// An abort condition held.
    Aborted(String),
    /// SIGINT/SIGTERM.
    Signal(&'static str),
    /// A probe or the context could not be built; nothing ran.
    SetupFailed(String),
}

/// The plan as a person reads it.
pub fn planned_steps(s: &Scenario) -> Vec<crate::report::PlannedStep> {
    s.steps
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let (kind, undo) = match &st.action {
                StepAction::Wait(_) => ("wait", None),
                StepAction::Fault { spec, .. } => ("fault", Some(spec.undo())),
                StepAction::Heal(_) => ("heal", None),
                StepAction::WaitUntil(_) => ("wait-until", None),
            };
            PlannedStep {
                index: i,
                kind: kind.into(),
                action: describe_step(st),
                undo,
                resolved: None,
                reverts: Vec::new(),
            }
        })
        .collect()
}

/// Builds the report. `rollback_ok` is `None` when a second signal cut the rollback short.
pub fn decide(
    s: &Scenario,
    state: &RunState,
    logs: Vec<(String, Arc<ProbeLog>)>,
    started_at: DateTime<Utc>,
    ending: Ending,
    rollback_ok: Option<bool>,
) -> RunReport {
    let (timeline, mut faults, reverts) = state.finish();
    for f in &mut faults {
        let outcomes: Vec<&str> = reverts
            .iter()
            .filter(|r| r.fault_id == f.id)
            .map(|r| r.outcome.as_str())
            .collect();
        f.revert = if outcomes.is_empty() {
            "none"
        } else if outcomes.contains(&"failed") {
            "failed"
        } else if outcomes.contains(&"not-run") {
            "not-run"
        } else if outcomes.iter().all(|o| *o == "not-needed") {
            "not-needed"
        } else {
            "reverted"
        }
        .into();
    }
    let span = FaultSpan {
        first_injected_ms: faults
            .iter()
            .filter_map(|f| f.injected_at_ms)
            .reduce(f64::min),
        last_healed_ms: faults
            .iter()
            .filter_map(|f| f.reverted_at_ms)
            .reduce(f64::max),
    };
    let stable = s.settings.stable_window.get();
    let probes = probe_records(s, &logs, span, stable, &state.ctx.run_dir);
    let scenario_recovery = match span.last_healed_ms {
        None => Recovery::NotApplicable,
        Some(_) => probes.iter().fold(Recovery::NotApplicable, |acc, p| {
            acc.worst(p.measurements.recovery)
        }),
    };
    // A run that never started (inventory, probes, context or a guard refused it) has no
    // expectations to judge.
    let expectations = if matches!(ending, Ending::SetupFailed(_)) {
        Vec::new()
    } else {
        judge(
            &s.expect,
            |name| {
                probes
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| &p.measurements)
            },
            scenario_recovery,
        )
    };
    let all_passed = expectations.iter().all(|e| e.passed);
    // A revert whose fault never reached its node had nothing to undo.
    let reverts_ok = rollback_ok == Some(true)
        && reverts
            .iter()
            .all(|r| r.outcome == "reverted" || r.outcome == "not-needed");
    let (verdict, code, reason) = match (&ending, reverts_ok) {
        (_, false) => (
            Verdict::Error,
            ExitCode::RevertFailed,
            Some(revert_reason(&ending)),
        ),
        (Ending::Signal(sig), _) => (
            Verdict::Aborted,
            ExitCode::Aborted,
            Some(format!("interrupted by {sig}")),
        ),
        (Ending::Aborted(why), _) => (Verdict::Aborted, ExitCode::Aborted, Some(why.clone())),
        (Ending::SetupFailed(why), _) => (Verdict::Error, ExitCode::Invalid, Some(why.clone())),
        (Ending::Steps(StepsEnd::InjectFailed(why)), _) => {
            (Verdict::Error, ExitCode::Aborted, Some(why.clone()))
        }
        // Refused before anything was injected: like invalid input, nothing changed.
        (Ending::Steps(StepsEnd::Refused(why)), _)
            if faults.iter().all(|f| f.injected_at_ms.is_none()) =>
        {
            (Verdict::Error, ExitCode::Invalid, Some(why.clone()))
        }
        (Ending::Steps(StepsEnd::Refused(why)), _) => {
            (Verdict::Error, ExitCode::Aborted, Some(why.clone()))
        }
        (Ending::Steps(StepsEnd::StepFailed(why)), _) => (
            Verdict::Fail,
            ExitCode::ExpectationsFailed,
            Some(why.clone()),
        ),
        (Ending::Steps(StepsEnd::Completed), _) if all_passed => {
            (Verdict::Pass, ExitCode::Pass, None)
        }
        (Ending::Steps(StepsEnd::Completed), _) => (
            Verdict::Fail,
            ExitCode::ExpectationsFailed,
            Some("expectations failed".into()),
        ),
    };
    let ended_at = Utc::now();
    RunReport {
        schema_version: SCHEMA_VERSION,
        kubedrill_version: env!("CARGO_PKG_VERSION").into(),
        scenario: ScenarioInfo {
            name: s.metadata.name.clone(),
            description: s.metadata.description.clone(),
            file: s.file.display().to_string(),
            stable_window: stable,
        },
        plan: state.resolve_plan(planned_steps(s)),
        started_at,
        ended_at,
        duration: (ended_at - started_at).to_std().unwrap_or_default(),
        timeline,
        faults,
        probes,
        scenario_measurements: ScenarioMeasurements {
            healed_at_ms: span.last_healed_ms,
            recovery: scenario_recovery,
        },
        expectations,
        reverts,
        verdict,
        exit_code: code.code(),
        reason,
    }
}

fn revert_reason(ending: &Ending) -> String {
    let before = match ending {
        Ending::Signal(sig) => format!(" (after {sig})"),
        Ending::Aborted(why) | Ending::SetupFailed(why) => format!(" (after: {why})"),
        Ending::Steps(StepsEnd::InjectFailed(why))
        | Ending::Steps(StepsEnd::StepFailed(why))
        | Ending::Steps(StepsEnd::Refused(why)) => {
            format!(" (after: {why})")
        }
        Ending::Steps(StepsEnd::Completed) => String::new(),
    };
    format!("not every fault was reverted{before}; undo the listed actions by hand")
}
