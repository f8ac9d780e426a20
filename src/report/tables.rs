//! The report's tables as plain-text cells; Markdown and HTML each lay them out and
//! escape them in their own way.

use super::format::{
    between, injection_cell, instant, offset, opt_ms, pct, pct_text, ranged, revert_cell,
    revert_outcome,
};
use super::{ProbeRecord, RunReport};
use crate::measure::{format_ms, Measurements, OutageWindow, Recovery};

/// Outage windows listed per probe at most; a flapping probe's others are summed up in
/// one row (`report.json` has them all).
pub(crate) const MAX_OUTAGE_ROWS: usize = 50;

/// Column headers and rows of plain text, and a note that explains them when needed.
pub(crate) struct Table {
    pub headers: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
    pub note: Option<String>,
}

impl Table {
    fn new(headers: &'static [&'static str], rows: Vec<Vec<String>>) -> Self {
        Table {
            headers,
            rows,
            note: None,
        }
    }
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

/// Status of a judged expectation: `✅`, `❌`, or `❌ within uncertainty`.
fn expectation_status(passed: bool, within_uncertainty: bool) -> &'static str {
    match (passed, within_uncertainty) {
        (true, _) => "✅",
        (false, true) => "❌ within uncertainty",
        (false, false) => "❌",
    }
}

/// One row per judged expectation.
pub(crate) fn expectations(r: &RunReport) -> Table {
    let mut t = Table::new(
        &["", "Probe", "Metric", "Expected", "Measured"],
        r.expectations
            .iter()
            .map(|e| {
                vec![
                    expectation_status(e.passed, e.within_uncertainty).to_string(),
                    e.probe.clone().unwrap_or_else(|| "(scenario)".into()),
                    e.metric.key().to_string(),
                    e.expected.clone(),
                    e.actual.clone(),
                ]
            })
            .collect(),
    );
    if r.expectations.iter().any(|e| e.within_uncertainty) {
        t.note = Some(
            "Within uncertainty: the threshold lies inside the measured range (the truth lies \
             between two observations), so the expectation was judged against the range's \
             worse end."
                .into(),
        );
    }
    t
}

/// Availability by time with its range: `94.83% (92.31%..97.44%)`.
fn availability(m: &Measurements) -> String {
    match (
        m.availability_pct,
        m.availability_min_pct,
        m.availability_max_pct,
    ) {
        (Some(v), Some(lo), Some(hi)) => ranged(v, lo, Some(hi), pct_text),
        (v, _, _) => pct(v),
    }
}

/// Healthy samples of all samples: `97.50% (78/80)`.
fn sample_success(m: &Measurements) -> String {
    match m.sample_success_pct {
        Some(p) => format!(
            "{} ({}/{})",
            pct_text(p),
            m.samples - m.failed_samples,
            m.samples
        ),
        None => "–".into(),
    }
}

/// The longest outage with its range; `–` without outages.
fn longest_outage(m: &Measurements) -> String {
    if m.outages.is_empty() {
        return "–".into();
    }
    ranged(
        m.longest_outage_ms,
        m.longest_outage_min_ms,
        m.longest_outage_max_ms,
        format_ms,
    )
}

/// Recovery after the last heal with its range: `505ms (250ms..505ms)`, `never`, `n/a`.
pub(crate) fn recovery(rec: Recovery) -> String {
    match rec {
        Recovery::Recovered {
            after_ms,
            after_min_ms,
        } => ranged(after_ms, after_min_ms, Some(after_ms), format_ms),
        other => other.describe(),
    }
}

/// `6/80`, plus the samples still running at the end when there were any.
fn ticks(p: &ProbeRecord) -> String {
    let mut s = format!("{}/{}", p.missed_ticks, p.scheduled_ticks);
    if p.unfinished_samples > 0 {
        s.push_str(&format!(" ({} unfinished)", p.unfinished_samples));
    }
    s
}

/// One row of measurements per probe.
pub(crate) fn probes(r: &RunReport) -> Table {
    let mut t = Table::new(
        &[
            "Probe",
            "Availability (by time)",
            "Healthy samples",
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
        r.probes
            .iter()
            .map(|p| {
                let m = &p.measurements;
                vec![
                    p.name.clone(),
                    availability(m),
                    sample_success(m),
                    m.outages.len().to_string(),
                    longest_outage(m),
                    opt_ms(m.time_to_detect_ms),
                    recovery(m.recovery),
                    opt_ms(m.latency.p50_ms),
                    opt_ms(m.latency.p95_ms),
                    opt_ms(m.latency.p99_ms),
                    opt_ms(m.latency.max_ms),
                    ticks(p),
                ]
            })
            .collect(),
    );
    if !r.probes.is_empty() {
        t.note = Some(
            "Availability is by time: each observation holds until the next; the range is the \
             least and the most it can be, since each state change happened somewhere between \
             two observations. Healthy samples: the per-sample ratio. Recovery: last heal → \
             first healthy observation of a stable streak (the range starts at the last failed \
             one). Missed ticks: ticks that started no sample because too many were still in \
             flight, of those scheduled."
                .into(),
        );
    }
    t
}

/// When a window began: between the last healthy and the first failed observation.
pub(crate) fn went_down(o: &OutageWindow) -> String {
    if o.start_earliest_ms < o.start_ms {
        between(o.start_earliest_ms, o.start_ms)
    } else {
        format!("by {} (first observation)", instant(o.start_ms))
    }
}

/// When a window ended: between the last failed and the first healthy observation.
pub(crate) fn came_back(o: &OutageWindow) -> String {
    match o.end_ms {
        Some(end) => between(o.end_earliest_ms, end),
        None => format!(
            "still down at the end (last seen down {})",
            instant(o.end_earliest_ms)
        ),
    }
}

fn window_row(probe: &str, o: &OutageWindow) -> Vec<String> {
    vec![
        probe.to_string(),
        went_down(o),
        came_back(o),
        ranged(o.length_ms, o.length_min_ms, o.length_max_ms, format_ms),
        o.failed_samples.to_string(),
        o.slow_successes.to_string(),
    ]
}

/// The windows of one probe listed in the table: all of them, or the longest
/// [`MAX_OUTAGE_ROWS`] in the order they happened.
pub(crate) fn listed_windows(windows: &[OutageWindow]) -> Vec<&OutageWindow> {
    if windows.len() <= MAX_OUTAGE_ROWS {
        return windows.iter().collect();
    }
    let mut by_length: Vec<usize> = (0..windows.len()).collect();
    by_length.sort_by(|a, b| {
        let len = |i: usize| windows[i].length_max_ms.unwrap_or(f64::INFINITY);
        len(*b).total_cmp(&len(*a)).then(a.cmp(b))
    });
    by_length.truncate(MAX_OUTAGE_ROWS);
    by_length.sort_unstable();
    by_length.into_iter().map(|i| &windows[i]).collect()
}

/// Every outage window of every probe (at most [`MAX_OUTAGE_ROWS`] per probe).
pub(crate) fn outages(r: &RunReport) -> Table {
    let mut rows = Vec::new();
    for p in &r.probes {
        let all = &p.measurements.outages;
        let listed = listed_windows(all);
        rows.extend(listed.iter().map(|o| window_row(&p.name, o)));
        if listed.len() < all.len() {
            let left_out = all.len() - listed.len();
            let (failed, slow) = all.iter().fold((0, 0), |(f, s), o| {
                (f + o.failed_samples, s + o.slow_successes)
            });
            let listed_failed: u64 = listed.iter().map(|o| o.failed_samples).sum();
            let listed_slow: u64 = listed.iter().map(|o| o.slow_successes).sum();
            rows.push(vec![
                p.name.clone(),
                format!("… {left_out} more windows, none longer"),
                "(report.json has them all)".into(),
                String::new(),
                (failed - listed_failed).to_string(),
                (slow - listed_slow).to_string(),
            ]);
        }
    }
    let mut t = Table::new(
        &[
            "Probe",
            "Went down",
            "Came back",
            "Length",
            "Failed samples",
            "Slow successes",
        ],
        rows,
    );
    if !t.rows.is_empty() {
        t.note = Some(
            "Each boundary lies between two observations: the outage began between the last \
             healthy and the first failed one and ended between the last failed and the first \
             healthy one (a failure is dated when its request was sent, a success when its \
             answer came). Length: first failed → first healthy, with the shortest and longest \
             it can have been. Slow successes: requests sent during the outage but answered \
             only after it."
                .into(),
        );
    }
    t
}

/// Every fault: when it was in place and what it did.
pub(crate) fn faults(r: &RunReport) -> Table {
    Table::new(
        &["Fault", "Kind", "Injected", "Revert", "Description"],
        r.faults
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
    )
}

/// Every registered revert and its outcome.
pub(crate) fn reverts(r: &RunReport) -> Table {
    Table::new(
        &["Fault", "Outcome", "At", "Undo"],
        r.reverts
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
    )
}

/// Steps, faults, reverts and aborts in order.
pub(crate) fn events(r: &RunReport) -> Table {
    Table::new(
        &["At", "Event", "Step", "Message"],
        r.timeline
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
    )
}

fn opt_offset(ms: Option<f64>) -> String {
    ms.map_or_else(|| "–".to_string(), offset)
}

/// The plan: each step, what it resolved to when it ran, and how it is undone.
pub(crate) fn plan(r: &RunReport) -> Table {
    Table::new(
        &["#", "Step", "Resolved to", "Undo"],
        r.plan
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
    )
}
