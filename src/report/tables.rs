//! The report's tables as plain-text cells; Markdown and HTML each lay them out and
//! escape them in their own way.

use super::format::{injection_cell, offset, opt_ms, pct, revert_cell, revert_outcome};
use super::RunReport;
use crate::measure::format_ms;

/// Column headers and rows of plain text.
pub(crate) struct Table {
    pub headers: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
}

/// The report's tables in reading order, titled; `with_events` adds the timeline events
/// (the HTML page has room for them, a ticket does not).
pub(crate) fn sections(r: &RunReport, with_events: bool) -> Vec<(&'static str, Table)> {
    let mut all = vec![
        ("Expectations", expectations(r)),
        ("Probes", probes(r)),
        ("Outage windows", outages(r)),
        ("Plan", plan(r)),
        ("Faults", faults(r)),
    ];
    if with_events {
        all.push(("Timeline events", events(r)));
    }
    all.push(("Reverts", reverts(r)));
    all
}

/// One row per judged expectation.
pub(crate) fn expectations(r: &RunReport) -> Table {
    Table {
        headers: &["", "Probe", "Metric", "Expected", "Measured"],
        rows: r
            .expectations
            .iter()
            .map(|e| {
                vec![
                    if e.passed { "✅" } else { "❌" }.to_string(),
                    e.probe.clone().unwrap_or_else(|| "(scenario)".into()),
                    e.metric.key().to_string(),
                    e.expected.clone(),
                    e.actual.clone(),
                ]
            })
            .collect(),
    }
}

/// One row of measurements per probe.
pub(crate) fn probes(r: &RunReport) -> Table {
    Table {
        headers: &[
            "Probe",
            "Availability",
            "Outages",
            "Longest outage",
            "Time to detect",
            "Recovery",
            "p50",
            "p95",
            "p99",
            "max",
            "Missed ticks",
        ],
        rows: r
            .probes
            .iter()
            .map(|p| {
                let m = &p.measurements;
                vec![
                    p.name.clone(),
                    pct(m.availability_pct),
                    m.outages.len().to_string(),
                    format_ms(m.longest_outage_ms),
                    opt_ms(m.time_to_detect_ms),
                    m.recovery.describe(),
                    opt_ms(m.latency.p50_ms),
                    opt_ms(m.latency.p95_ms),
                    opt_ms(m.latency.p99_ms),
                    opt_ms(m.latency.max_ms),
                    p.missed_ticks.to_string(),
                ]
            })
            .collect(),
    }
}

/// Every outage window of every probe.
pub(crate) fn outages(r: &RunReport) -> Table {
    Table {
        headers: &["Probe", "Start", "End", "Length"],
        rows: r
            .probes
            .iter()
            .flat_map(|p| {
                p.measurements.outages.iter().map(|o| {
                    vec![
                        p.name.clone(),
                        offset(o.start_ms),
                        o.end_ms
                            .map_or_else(|| "still down at the end".into(), offset),
                        format_ms(o.length_ms),
                    ]
                })
            })
            .collect(),
    }
}

/// Every fault: when it was in place and what it did.
pub(crate) fn faults(r: &RunReport) -> Table {
    Table {
        headers: &["Fault", "Kind", "Injected", "Revert", "Description"],
        rows: r
            .faults
            .iter()
            .map(|f| {
                vec![
                    f.id.clone(),
                    f.kind.clone(),
                    injection_cell(f),
                    revert_cell(f),
                    f.description.clone(),
                ]
            })
            .collect(),
    }
}

/// Every registered revert and its outcome.
pub(crate) fn reverts(r: &RunReport) -> Table {
    Table {
        headers: &["Fault", "Outcome", "At", "Undo"],
        rows: r
            .reverts
            .iter()
            .map(|rv| {
                vec![
                    rv.fault_id.clone(),
                    revert_outcome(rv),
                    opt_offset(rv.at_ms),
                    rv.description.clone(),
                ]
            })
            .collect(),
    }
}

/// Steps, faults, reverts and aborts in order.
pub(crate) fn events(r: &RunReport) -> Table {
    Table {
        headers: &["At", "Event", "Step", "Message"],
        rows: r
            .timeline
            .iter()
            .map(|e| {
                vec![
                    offset(e.offset_ms),
                    e.kind.clone(),
                    e.step.map_or_else(String::new, |s| s.to_string()),
                    e.message.clone(),
                ]
            })
            .collect(),
    }
}

fn opt_offset(ms: Option<f64>) -> String {
    ms.map_or_else(|| "–".to_string(), offset)
}

/// The plan: each step, what it resolved to when it ran, and how it is undone.
pub(crate) fn plan(r: &RunReport) -> Table {
    Table {
        headers: &["#", "Step", "Resolved to", "Undo"],
        rows: r
            .plan
            .iter()
            .map(|p| {
                let undo = if p.reverts.is_empty() {
                    p.undo.clone().unwrap_or_default()
                } else {
                    p.reverts.join("; ")
                };
                vec![
                    (p.index + 1).to_string(),
                    p.action.clone(),
                    p.resolved.clone().unwrap_or_default(),
                    undo,
                ]
            })
            .collect(),
    }
}
