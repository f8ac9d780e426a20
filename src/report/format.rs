//! Value formatting shared by the renderers, so every format words a value the same way.

use chrono::{DateTime, SecondsFormat, Utc};

use super::{FaultRecord, RevertRecord, RunReport};
use crate::measure::format_ms;
use crate::verdict::Verdict;

/// `PASS`, `FAIL`, `ABORTED`, `ERROR`.
pub(crate) fn verdict_label(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Aborted => "ABORTED",
        Verdict::Error => "ERROR",
    }
}

/// RFC 3339 in UTC with milliseconds: `2024-05-01T10:00:00.000Z`.
pub(crate) fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An offset since the run started: `+850ms`, `+12.00s`.
pub(crate) fn offset(ms: f64) -> String {
    format!("+{}", format_ms(ms))
}

/// An instant since the run started, to the millisecond: `+12.345s`.
pub(crate) fn instant(ms: f64) -> String {
    format!("+{:.3}s", ms / 1000.0)
}

/// An instant known to lie in `from..=to`: `+12.095–12.345s`, or `+12.345s` when the two
/// agree to the millisecond.
pub(crate) fn between(from: f64, to: f64) -> String {
    let (a, b) = (
        format!("{:.3}", from / 1000.0),
        format!("{:.3}", to / 1000.0),
    );
    if a == b {
        format!("+{b}s")
    } else {
        format!("+{a}–{b}s")
    }
}

/// A measured value with the range the truth lies in: `6.50s (6.25s..6.75s)`, just the
/// value when the range is narrower than the text shows, and `≥ 6.25s (still down at the
/// end)` when it has no upper bound.
pub(crate) fn ranged(
    value: f64,
    low: f64,
    high: Option<f64>,
    text: impl Fn(f64) -> String,
) -> String {
    let (v, lo) = (text(value), text(low));
    match high.map(&text) {
        Some(hi) if lo == hi => v,
        Some(hi) => format!("{v} ({lo}..{hi})"),
        None if v == lo => format!("≥ {lo} (still down at the end)"),
        None => format!("{v} (≥ {lo}, still down at the end)"),
    }
}

/// A percentage: `98.50%`.
pub(crate) fn pct_text(p: f64) -> String {
    format!("{p:.2}%")
}

/// A duration that may be missing: `1.20s` or `–`.
pub(crate) fn opt_ms(ms: Option<f64>) -> String {
    ms.map_or_else(|| "–".to_string(), format_ms)
}

/// A percentage that may be missing: `98.50%` or `–`.
pub(crate) fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| "–".to_string(), pct_text)
}

/// The run length in milliseconds, never zero (it divides the timeline's width).
pub(crate) fn run_ms(r: &RunReport) -> f64 {
    (r.duration.as_secs_f64() * 1000.0).max(1.0)
}

/// When a fault was in place: injection → revert, or → end of run if it was not undone.
/// `None` when it was never injected.
pub(crate) fn fault_span(f: &FaultRecord, run_ms: f64) -> Option<(f64, f64)> {
    let end = f.reverted_at_ms.filter(|_| f.undone()).unwrap_or(run_ms);
    f.injected_at_ms.map(|start| (start, end))
}

/// The injection as a table cell: `+3.20s`, or `failed at +3.20s: why`.
pub(crate) fn injection_cell(f: &FaultRecord) -> String {
    let at = f
        .injected_at_ms
        .map_or_else(|| "not injected".into(), offset);
    match (f.injection.as_str(), &f.error) {
        ("failed", Some(e)) => format!("failed at {at}: {e}"),
        ("failed", None) => format!("failed at {at}"),
        ("interrupted", _) => format!("interrupted at {at}"),
        _ => match (f.in_effect_at_ms, f.hold_ms) {
            (Some(e), Some(h)) => format!("{at}, in effect {}, held {}", offset(e), format_ms(h)),
            (Some(e), None) => format!("{at}, in effect {}", offset(e)),
            _ => at,
        },
    }
}

/// The revert as a table cell: `reverted (started +9.58s)`, `FAILED`, `not run`, `nothing to undo`.
pub(crate) fn revert_cell(f: &FaultRecord) -> String {
    let started = f.reverted_at_ms.map(offset);
    match (f.revert.as_str(), started) {
        ("failed", Some(at)) => format!("FAILED (started {at})"),
        ("failed", None) => "FAILED".into(),
        ("not-run", _) => "NOT RUN".into(),
        ("none", _) => "nothing to undo".into(),
        (_, Some(at)) => format!("reverted (started {at})"),
        (_, None) => "never".into(),
    }
}

/// Reverts that did not run to completion: what a person must undo by hand.
pub(crate) fn unfinished_reverts(r: &RunReport) -> impl Iterator<Item = &RevertRecord> {
    r.reverts.iter().filter(|rv| rv.outcome != "reverted")
}

/// `failed (ssh: connection refused)` or `reverted`.
pub(crate) fn revert_outcome(rv: &RevertRecord) -> String {
    match &rv.error {
        Some(e) => format!("{} ({e})", rv.outcome),
        None => rv.outcome.clone(),
    }
}

/// Per fault, its report details and those of its reverts as pretty JSON (leaders and
/// failover times, per-pod drain outcomes, command results); faults without any are left out.
pub(crate) fn fault_details(r: &RunReport) -> Vec<(String, String)> {
    r.faults
        .iter()
        .filter_map(|f| {
            let reverts: Vec<&serde_json::Value> = r
                .reverts
                .iter()
                .filter(|rv| rv.fault_id == f.id && !rv.details.is_null())
                .map(|rv| &rv.details)
                .collect();
            if f.details.is_null() && reverts.is_empty() {
                return None;
            }
            let both = serde_json::json!({ "fault": f.details, "reverts": reverts });
            Some((
                f.id.clone(),
                serde_json::to_string_pretty(&both).unwrap_or_default(),
            ))
        })
        .collect()
}
