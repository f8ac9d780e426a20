//! Ground truth for the measurements. A real target (HTTP, TCP and DNS in a namespace of
//! its own, see `support::truth_target`) is cut and healed with iptables at instants this
//! test logs (each change bracketed by wall-clock readings taken right before and right
//! after `iptables-restore`); kubedrill probes it and its report must agree with the log:
//! every outage boundary, the longest outage, the recovery time and the verdict of
//! expectations set two intervals either side of the truth.
//!
//! What the report promises (schema 2): a sample starts at every tick even while earlier
//! ones are in flight; a healthy sample is dated at its END, a failed one at its START; one
//! attempt per sample. So, whatever the timeout:
//! - the first unhealthy observation of a window (`start_ms`) was sent after the cut was
//!   applied, and at most one interval after it (a tick falls inside every interval);
//! - the last healthy observation before it (`start_earliest_ms`) was answered before the
//!   cut;
//! - the first healthy observation after it (`end_ms`) was answered after the heal, by a
//!   sample started at most one interval after the heal;
//! - the last unhealthy observation (`end_earliest_ms`) was sent before the heal.
//!
//! A 1 s timeout above the interval changes none of this: a sample sent into a DROP cut fails
//! at its timeout but is dated at its start (inside the cut); if the kernel's retransmitted
//! SYN gets through after the heal before the timeout, it is a healthy sample dated at its
//! end (after the heal), which is true as well.
//!
//! Tolerances: "within one interval of the truth" means measured ∈ [truth_before − interval
//! − SLACK_MS, truth_after + interval + SLACK_MS], truth_before/after being the logged bracket
//! mapped to run offsets. The tight error-bar checks above use SLACK_MS alone.
//!
//! A loaded machine stalls the whole test process now and then (every probe's samples
//! start late at once, answers are read late; `truth.sh`'s own brackets widen with it). Two
//! things follow, both printed in the table, never silent: a boundary may be late by what
//! the very sample defining it shows (its start after its tick, its answer read later than
//! the probe's median latency: `Timing`), and a window of timeouts away from every cut,
//! during a visible stall, is slowness the truth does not know of: listed, not judged (a
//! window with any other error, or without a stall, fails). A late median start would be
//! the engine's fault and fails. The target's servers and this process run at nice -10.
//! Stalls of tens of ms still defeat 20 ms probes: run this module alone (`timing` group).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Child;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use crate::common::{read_report, temp_dir, write};
use crate::support::truth_target::{
    self, CutMode, TruthTarget, WallBracket, WallCut, DNS_ANSWER, DNS_NAME,
};

/// Slack on top of the interval for scheduling and packet timing, in ms: a probe's tick may
/// fire a few ms late on this loaded 2-core machine, its packet leaves a moment after the
/// sample starts, and a healthy answer over the veth takes ~1-2 ms before its end is read.
const SLACK_MS: f64 = 10.0;

/// Settings of every run with a fault: recovery = 1 s healthy (a few samples even at 500 ms).
const SETTINGS: &str = "stable-window: 1s, recovery-timeout: 10s";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http,
    Tcp,
    Dns,
    DnsTcp,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Tcp => "tcp",
            Kind::Dns => "dns",
            Kind::DnsTcp => "dnstcp",
        }
    }
}

/// The matrix's schedules (interval, timeout in ms): each interval with a timeout below it
/// and one above it.
const SCHEDULES: [(u64, u64); 6] = [
    (20, 15),
    (20, 1000),
    (100, 50),
    (100, 1000),
    (500, 200),
    (500, 1000),
];

#[derive(Debug, Clone, Copy)]
struct ProbeSpec {
    kind: Kind,
    interval_ms: u64,
    timeout_ms: u64,
}

impl ProbeSpec {
    fn name(&self) -> String {
        format!(
            "{}-i{}-t{}",
            self.kind.label(),
            self.interval_ms,
            self.timeout_ms
        )
    }

    fn yaml(&self, t: &TruthTarget) -> String {
        let dns = |protocol: &str| {
            format!(
                "dns: {{ server: \"{}\", name: {DNS_NAME}, record-type: A, protocol: {protocol}, expect: [\"{DNS_ANSWER}\"] }}",
                t.dns_server()
            )
        };
        let spec = match self.kind {
            Kind::Http => format!("http: {{ url: \"{}\" }}", t.http_url()),
            Kind::Tcp => format!("tcp: {{ address: \"{}\" }}", t.tcp_address()),
            Kind::Dns => dns("udp"),
            Kind::DnsTcp => dns("tcp"),
        };
        format!(
            "  - {{ name: {}, interval: {}ms, timeout: {}ms, {spec} }}\n",
            self.name(),
            self.interval_ms,
            self.timeout_ms
        )
    }
}

/// Every schedule for each kind.
fn matrix_probes(kinds: &[Kind]) -> Vec<ProbeSpec> {
    kinds
        .iter()
        .flat_map(|&kind| {
            SCHEDULES
                .iter()
                .map(move |&(interval_ms, timeout_ms)| ProbeSpec {
                    kind,
                    interval_ms,
                    timeout_ms,
                })
        })
        .collect()
}

fn scenario_yaml(name: &str, settings: &str, probes: &str, steps: &str) -> String {
    format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: {name} }}\n\
         settings: {{ {settings} }}\nprobes:\n{probes}steps:\n{steps}"
    )
}

fn probes_yaml(probes: &[ProbeSpec], t: &TruthTarget) -> String {
    probes.iter().map(|p| p.yaml(t)).collect()
}

/// A `command` fault step: `inject` and `revert` are `truth.sh` actions.
fn fault_step(t: &TruthTarget, inject: &[&str], revert: &[&str], hold_ms: u64) -> String {
    format!(
        "  - id: cut\n    fault:\n      command: {{ inject: {}, revert: {}, timeout: 20s }}\n    for: {hold_ms}ms\n",
        t.argv_yaml(inject),
        t.argv_yaml(revert)
    )
}

// ---------------------------------------------------------------------------------------
// The report as the contract describes it (read from report.json).

#[derive(Debug, Deserialize)]
struct ProbeView {
    name: String,
    kind: String,
    interval: f64,
    timeout: f64,
    scheduled_ticks: u64,
    missed_ticks: u64,
    /// Samples still running when the probe stopped: neither a sample nor a missed tick.
    #[serde(default)]
    unfinished_samples: u64,
    max_in_flight: u64,
    samples_embedded: String,
    samples: Vec<SampleView>,
    measurements: MeasurementsView,
}

#[derive(Debug, Deserialize)]
struct SampleView {
    at: DateTime<Utc>,
    start_ms: f64,
    end_ms: f64,
    dated_by: String,
    ok: bool,
    #[allow(dead_code)]
    latency_ms: f64,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MeasurementsView {
    samples: u64,
    failed_samples: u64,
    outages: Vec<WindowView>,
    longest_outage_ms: f64,
    longest_outage_min_ms: f64,
    longest_outage_max_ms: Option<f64>,
    time_to_detect_ms: Option<f64>,
    recovery: RecoveryView,
}

#[derive(Debug, Deserialize)]
struct WindowView {
    start_ms: f64,
    start_earliest_ms: f64,
    end_ms: Option<f64>,
    end_earliest_ms: f64,
    length_ms: f64,
    length_min_ms: f64,
    length_max_ms: Option<f64>,
    failed_samples: u64,
    slow_successes: u64,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "status", rename_all = "kebab-case")]
enum RecoveryView {
    NotApplicable,
    Recovered { after_ms: f64, after_min_ms: f64 },
    Never,
}

impl RecoveryView {
    fn text(&self) -> String {
        match self {
            RecoveryView::NotApplicable => "n/a".into(),
            RecoveryView::Never => "never".into(),
            RecoveryView::Recovered {
                after_ms,
                after_min_ms,
            } => format!("{after_ms:.0} [min {after_min_ms:.0}]"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Runs.

struct Run {
    report: kubedrill::report::RunReport,
    probes: Vec<ProbeView>,
    /// How late the machine let each probe's samples start, from every sample of the run.
    timing: BTreeMap<String, Timing>,
    /// Wall clock (ms since the epoch) of run offset 0.
    wall_zero_ms: f64,
    run_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// A scenario loaded and ready to run (so a background schedule can start right before).
struct Prepared {
    scenario: kubedrill::scenario::Scenario,
    dir: tempfile::TempDir,
}

fn prepare(yaml: &str) -> Prepared {
    let dir = temp_dir();
    let path = write(dir.path(), "scenario.yaml", yaml);
    let scenario =
        kubedrill::scenario::load_file(&path, &Default::default()).unwrap_or_else(|errs| {
            let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            panic!("invalid scenario:\n{}\n---\n{yaml}", errs.join("\n"))
        });
    Prepared { scenario, dir }
}

async fn execute(p: Prepared) -> Run {
    let opts = kubedrill::engine::RunOptions {
        report_root: p.dir.path().join("reports"),
        cluster: Default::default(),
        events: kubedrill::engine::EventSink::new(4096),
        handle_signals: false,
    };
    let outcome = kubedrill::engine::run(&p.scenario, &opts)
        .await
        .expect("run");
    // The engine leaves the files to its caller (the CLI): report.json as `run` writes it.
    kubedrill::report::write_reports(&outcome.report, &outcome.run_dir, &[]).expect("report.json");
    let json = read_report(&outcome.run_dir);
    assert_eq!(json["schema_version"], 2, "report.json schema");
    let probes: Vec<ProbeView> = json["probes"]
        .as_array()
        .expect("probes")
        .iter()
        .map(|p| {
            serde_json::from_value(p.clone())
                .unwrap_or_else(|e| panic!("probe record does not follow the contract: {e}\n{p:#}"))
        })
        .collect();
    let wall_zero_ms = wall_zero(&probes);
    let timing = timing_of(&outcome.run_dir, &probes);
    Run {
        report: outcome.report,
        probes,
        timing,
        wall_zero_ms,
        run_dir: outcome.run_dir,
        _dir: p.dir,
    }
}

async fn run_scenario(yaml: &str) -> Run {
    execute(prepare(yaml)).await
}

/// When this machine let a probe's samples run, from every sample (`samples.jsonl`).
///
/// Ticks fall at `origin + n * interval`; a sample starts at the latest tick due when the
/// runtime wakes up, so `(start - origin) mod interval` is how late it started. A loaded
/// machine stalls the whole process now and then (every probe late at once, answers read
/// late): a boundary may then be late by what the sample defining it shows, and the table
/// says so. Systematic lateness would be the engine's: the median is checked.
struct Timing {
    interval: f64,
    origin: f64,
    /// Median latency of healthy samples.
    healthy_median_ms: f64,
    samples: Vec<SampleView>,
}

impl Timing {
    fn new(interval: f64, mut samples: Vec<SampleView>) -> Self {
        samples.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        let s0 = samples.first().map_or(0.0, |s| s.start_ms);
        // The origin: the most common phase (most samples start on time).
        let mut phases: Vec<f64> = samples
            .iter()
            .map(|s| {
                let r = (s.start_ms - s0).rem_euclid(interval);
                if r >= interval / 2.0 {
                    r - interval
                } else {
                    r
                }
            })
            .collect();
        phases.sort_by(f64::total_cmp);
        let origin = s0 + phases.get(phases.len() / 2).copied().unwrap_or(0.0);
        let mut healthy: Vec<f64> = samples
            .iter()
            .filter(|s| s.ok)
            .map(|s| s.end_ms - s.start_ms)
            .collect();
        healthy.sort_by(f64::total_cmp);
        Timing {
            interval,
            origin,
            healthy_median_ms: healthy.get(healthy.len() / 2).copied().unwrap_or(0.0),
            samples,
        }
    }

    /// How late a sample started at `start_ms` was (≥ 0, up to an interval; a start a
    /// little before the median phase is on time).
    fn late(&self, start_ms: f64) -> f64 {
        let r = (start_ms - self.origin).rem_euclid(self.interval);
        if r > self.interval - 3.0 {
            0.0
        } else {
            r
        }
    }

    /// How much later than usual the healthy answer dated `end_ms` was read (≥ 0).
    fn slow(&self, end_ms: f64) -> f64 {
        self.samples
            .iter()
            .find(|s| s.ok && (s.end_ms - end_ms).abs() < 1e-6)
            .map_or(0.0, |s| {
                (s.end_ms - s.start_ms - self.healthy_median_ms).max(0.0)
            })
    }

    /// Lateness of the healthy sample dated `end_ms` as a whole: started late, answer read late.
    fn late_answer(&self, end_ms: f64) -> f64 {
        self.samples
            .iter()
            .find(|s| s.ok && (s.end_ms - end_ms).abs() < 1e-6)
            .map_or(0.0, |s| self.late(s.start_ms) + self.slow(end_ms))
    }

    fn lateness(&self) -> Vec<f64> {
        self.samples.iter().map(|s| self.late(s.start_ms)).collect()
    }
}

/// Every sample of every probe, from the run's `samples.jsonl`.
fn timing_of(run_dir: &Path, probes: &[ProbeView]) -> BTreeMap<String, Timing> {
    let text = std::fs::read_to_string(run_dir.join("samples.jsonl")).expect("samples.jsonl");
    let mut by_probe: BTreeMap<String, Vec<SampleView>> = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("samples.jsonl line");
        if v["line"] == "sample" {
            let probe = v["probe"].as_str().expect("probe").to_string();
            let sample: SampleView = serde_json::from_value(v).expect("sample line");
            by_probe.entry(probe).or_default().push(sample);
        }
    }
    probes
        .iter()
        .map(|p| {
            let samples = by_probe.remove(&p.name).unwrap_or_default();
            (p.name.clone(), Timing::new(p.interval, samples))
        })
        .collect()
}

impl Run {
    /// The worst stall seen by any probe between `from` and `to` (ms): samples started late,
    /// healthy answers read late.
    fn stall(&self, from: f64, to: f64) -> f64 {
        self.timing
            .values()
            .flat_map(|t| {
                t.samples
                    .iter()
                    .filter(move |s| s.start_ms >= from && s.start_ms <= to)
                    .map(move |s| {
                        t.late(s.start_ms)
                            .max(if s.ok { t.slow(s.end_ms) } else { 0.0 })
                    })
            })
            .fold(0.0, f64::max)
    }
}

/// Wall clock of offset 0: every sample's `at` is the wall clock of its `start_ms`; the
/// median over all of them ignores the odd sample whose two readings were split by a
/// preemption.
fn wall_zero(probes: &[ProbeView]) -> f64 {
    let mut zeros: Vec<f64> = probes
        .iter()
        .flat_map(|p| &p.samples)
        .map(|s| s.at.timestamp_nanos_opt().expect("at") as f64 / 1e6 - s.start_ms)
        .collect();
    assert!(!zeros.is_empty(), "no samples at all");
    zeros.sort_by(f64::total_cmp);
    zeros[zeros.len() / 2]
}

/// A truth bracket in run offsets (ms).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bracket {
    lo: f64,
    hi: f64,
}

impl Bracket {
    fn shift(self, by: f64) -> Bracket {
        Bracket {
            lo: self.lo - by,
            hi: self.hi - by,
        }
    }

    /// Within one interval (plus slack) of the bracket, `late` more allowed above it: how
    /// late the machine let the sample defining `v` run (see `Timing`).
    fn near_late(self, v: f64, interval: f64, late: f64) -> bool {
        v >= self.lo - interval - SLACK_MS && v <= self.hi + interval + SLACK_MS + late
    }

    fn text(self) -> String {
        format!("[{:.1}, {:.1}]", self.lo, self.hi)
    }
}

#[derive(Debug, Clone)]
struct TruthCut {
    mode: String,
    cut: Bracket,
    heal: Option<Bracket>,
}

impl TruthCut {
    /// Shortest and longest the cut can have lasted.
    fn length(&self) -> Option<Bracket> {
        self.heal.map(|h| Bracket {
            lo: h.lo - self.cut.hi,
            hi: h.hi - self.cut.lo,
        })
    }
}

impl Run {
    fn offset(&self, b: WallBracket) -> Bracket {
        Bracket {
            lo: b.before_ms - self.wall_zero_ms,
            hi: b.after_ms - self.wall_zero_ms,
        }
    }

    fn truth(&self, cuts: &[WallCut]) -> Vec<TruthCut> {
        cuts.iter()
            .map(|c| TruthCut {
                mode: c.mode.clone(),
                cut: self.offset(c.cut),
                heal: c.heal.map(|h| self.offset(h)),
            })
            .collect()
    }

    /// kubedrill's first injection and last heal (start of the last revert), in offsets.
    fn fault_span(&self) -> (Option<f64>, Option<f64>) {
        let f = &self.report.faults;
        (
            f.iter().filter_map(|f| f.injected_at_ms).reduce(f64::min),
            f.iter().filter_map(|f| f.reverted_at_ms).reduce(f64::max),
        )
    }

    fn measurements(&self, name: &str) -> Option<&kubedrill::measure::Measurements> {
        self.report
            .probes
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.measurements)
    }
}

// ---------------------------------------------------------------------------------------
// Judging a run against the truth.

/// What the truth says recovery (ms after kubedrill's heal) must be for one probe.
#[derive(Debug, Clone, Copy)]
enum RecoveryTruth {
    NotApplicable,
    Never,
    Within(Bracket),
}

/// One expectation and whether it must pass.
struct ExpectationCase {
    yaml: String,
    must_pass: bool,
}

/// Collects the table and the failures of one run.
struct Verdicts {
    /// One row per probe: truth vs measured at a glance.
    summary: Vec<String>,
    /// Every window, bound and expectation of every probe.
    table: String,
    failures: Vec<String>,
}

impl Verdicts {
    fn new(title: &str, run: &Run, truth: &[TruthCut]) -> Self {
        let (injected, healed) = run.fault_span();
        let mut table = format!(
            "\n=== {title}   (run dir {})\nkubedrill: injected at {}, healed (revert started) at {}; all times ms since run start; slack {SLACK_MS} ms\n",
            run.run_dir.display(),
            injected.map_or("-".into(), |v| format!("{v:.1}")),
            healed.map_or("-".into(), |v| format!("{v:.1}")),
        );
        for (i, c) in truth.iter().enumerate() {
            let _ = writeln!(
                table,
                "truth cut #{} ({}): cut {} heal {} length {}",
                i + 1,
                c.mode,
                c.cut.text(),
                c.heal.map_or("never".into(), Bracket::text),
                c.length().map_or("open".into(), Bracket::text),
            );
        }
        // How late samples started on the probes' schedules: sporadic lateness is the machine,
        // a late median would be the engine.
        let mut late: Vec<f64> = run.timing.values().flat_map(Timing::lateness).collect();
        late.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            late.get(((late.len() as f64 - 1.0) * q) as usize)
                .copied()
                .unwrap_or(0.0)
        };
        let (p50, p99, max) = (pick(0.5), pick(0.99), pick(1.0));
        let _ = writeln!(
            table,
            "sample starts after their tick: median {p50:.2} ms, p99 {p99:.1} ms, max {max:.1} ms ({} samples)",
            late.len()
        );
        let widest = truth
            .iter()
            .flat_map(|c| [Some(c.cut), c.heal])
            .flatten()
            .map(|b| b.hi - b.lo)
            .fold(0.0, f64::max);
        let _ = writeln!(
            table,
            "widest truth bracket {widest:.1} ms (a few ms on a quiet machine; tens of ms mean this machine stalled, and samples with it)"
        );
        let mut failures = Vec::new();
        if p50 > 2.0 {
            failures.push(format!(
                "samples start {p50:.2} ms after their tick (median): the engine is late, not the machine"
            ));
        }
        Verdicts {
            summary: vec![format!(
                "{:<16} {:>9}  {:>10}  {:>22}  {:>22}  {:>40}  {:>36}  {}",
                "probe",
                "ticks",
                "windows",
                "start - cut (ms)",
                "end - heal (ms)",
                "longest outage: truth | measured",
                "recovery: truth | measured",
                "result"
            )],
            table,
            failures,
        }
    }

    fn fail(&mut self, probe: &str, what: String) {
        let _ = writeln!(self.table, "    FAIL: {what}");
        self.failures.push(format!("{probe}: {what}"));
    }

    fn check(&mut self, probe: &str, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.fail(probe, what());
        }
    }

    /// Prints the table and panics listing the failures, if any.
    fn finish(self) {
        let summary = self.summary.join("\n");
        println!("{}\n{summary}", self.table);
        assert!(
            self.failures.is_empty(),
            "{} failure(s) against the ground truth:\n{}\n{}\n\n{summary}",
            self.failures.len(),
            self.failures.join("\n"),
            self.table
        );
    }
}

/// Which measured window matched which truth cuts.
struct Matched {
    first: usize,
    last: usize,
}

/// Checks one probe: bookkeeping, every window against the cuts, the longest outage,
/// recovery, time to detect and the verdict of expectations around the truth.
fn check_probe(
    v: &mut Verdicts,
    run: &Run,
    p: &ProbeView,
    truth: &[TruthCut],
    recovery: RecoveryTruth,
) {
    let name = p.name.as_str();
    let iv = p.interval;
    let t = &run.timing[name];
    let (_, healed) = run.fault_span();
    let failures_before = v.failures.len();
    // Windows of slowness under load (see below): (start, end).
    let mut load_windows: Vec<(f64, Option<f64>)> = Vec::new();
    // The most any matched window's ends were allowed for stalls.
    let mut longest_allow: f64 = 0.0;
    // Boundary errors of matched windows: measured minus the middle of the truth bracket.
    let (mut start_err, mut end_err) = (Vec::new(), Vec::new());
    let m = &p.measurements;
    let _ = writeln!(
        v.table,
        "--- {name} ({} interval {iv:.0} timeout {:.0} max-in-flight {}): ticks {} = samples {} + missed {} + unfinished {}; failed {}; samples embedded: {}",
        p.kind,
        p.timeout,
        p.max_in_flight,
        p.scheduled_ticks,
        m.samples,
        p.missed_ticks,
        p.unfinished_samples,
        m.failed_samples,
        p.samples_embedded,
    );

    // Bookkeeping.
    v.check(
        name,
        m.samples + p.missed_ticks + p.unfinished_samples == p.scheduled_ticks,
        || {
            format!(
                "samples {} + missed ticks {} + unfinished {} != scheduled ticks {}",
                m.samples, p.missed_ticks, p.unfinished_samples, p.scheduled_ticks
            )
        },
    );
    if let Some(s) = p
        .samples
        .iter()
        .find(|s| s.dated_by != if s.ok { "end" } else { "start" } || s.end_ms < s.start_ms)
    {
        v.fail(
            name,
            format!(
                "sample started {:.1} ended {:.1} ok {} is dated by {:?}",
                s.start_ms, s.end_ms, s.ok, s.dated_by
            ),
        );
    }

    // Windows against the cuts. A cut is certain to be seen when it outlasts an interval
    // (plus slack): some tick falls inside it. Two cuts are certain to be told apart when the
    // healthy gap between them outlasts an interval; closer cuts form one cluster, and a
    // window may then start at any of its cuts and end at the heal of the same or a later one.
    let required = |c: &TruthCut| c.length().is_none_or(|l| l.lo > iv + SLACK_MS);
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    for (i, c) in truth.iter().enumerate() {
        let joins = match (clusters.last(), i.checked_sub(1).map(|j| &truth[j])) {
            (Some(_), Some(prev)) => prev.heal.is_none_or(|h| c.cut.lo - h.hi <= iv + SLACK_MS),
            _ => false,
        };
        if joins {
            clusters.last_mut().unwrap().push(i);
        } else {
            clusters.push(vec![i]);
        }
    }
    let mut matched: Vec<Matched> = Vec::new();
    for (k, w) in m.outages.iter().enumerate() {
        let _ = writeln!(
            v.table,
            "  window {}: start [earliest {:.1}, {:.1}] end [earliest {:.1}, {}] length {:.1} [min {:.1}, max {}] failed {} slow successes {}",
            k + 1,
            w.start_earliest_ms,
            w.start_ms,
            w.end_earliest_ms,
            w.end_ms.map_or("open".into(), |e| format!("{e:.1}")),
            w.length_ms,
            w.length_min_ms,
            w.length_max_ms.map_or("-".into(), |e| format!("{e:.1}")),
            w.failed_samples,
            w.slow_successes,
        );
        // Candidates: cut i where the window starts, heal j where it ends, both within one
        // interval. Within a cluster several can be; prefer one whose error bars hold the
        // truth (a 500 ms probe may end a window between two close cuts and miss the second),
        // then the closest.
        // Stalls of the machine around this window's boundaries (0 on a quiet machine).
        let late_start = t.late(w.start_ms);
        let late_end = w.end_ms.map_or(0.0, |e| t.late_answer(e));
        let slow_before = t.slow(w.start_earliest_ms);
        if late_start.max(late_end).max(slow_before) > 1.0 {
            let _ = writeln!(
                v.table,
                "    stall allowance: first unhealthy sample started {late_start:.1} ms late, first healthy one {late_end:.1} ms late, last healthy answer read {slow_before:.1} ms late"
            );
        }
        let mut best: Option<(bool, f64, usize, usize)> = None;
        for cluster in &clusters {
            for (a, &i) in cluster.iter().enumerate() {
                for &j in &cluster[a..] {
                    let (c, h) = (truth[i].cut, truth[j].heal);
                    if !c.near_late(w.start_ms, iv, late_start) {
                        continue;
                    }
                    let mut holds = w.start_ms >= c.lo - SLACK_MS
                        && w.start_earliest_ms <= c.hi + SLACK_MS + slow_before;
                    let score = match (w.end_ms, h) {
                        (None, None) => 0.0,
                        (Some(e), Some(h)) if h.near_late(e, iv, late_end) => {
                            holds &= e >= h.lo - SLACK_MS && w.end_earliest_ms <= h.hi + SLACK_MS;
                            (e - h.hi).abs()
                        }
                        _ => continue,
                    } + (w.start_ms - c.hi).abs();
                    if best.is_none_or(|(bh, bs, _, _)| (holds, -score) > (bh, -bs)) {
                        best = Some((holds, score, i, j));
                    }
                }
            }
        }
        let Some((_, _, i, j)) = best else {
            let errors: Vec<&str> = p
                .samples
                .iter()
                .filter(|s| !s.ok && s.start_ms >= w.start_ms && s.start_ms <= w.end_earliest_ms)
                .filter_map(|s| s.error.as_deref())
                .collect();
            let away_from_cuts = truth.iter().all(|c| {
                w.start_ms > c.heal.map_or(f64::INFINITY, |h| h.hi) + iv + SLACK_MS
                    || w.end_ms.is_some_and(|e| e < c.cut.lo - SLACK_MS)
            });
            // Timeouts away from every cut while the machine visibly stalled (samples of any
            // probe started or read late around them) are slowness the truth does not know
            // of, not an outage boundary: listed, not judged. Without such a stall, or with
            // any other error, the window is a failure.
            let only_timeouts = !errors.is_empty()
                && errors
                    .iter()
                    .all(|e| e.contains("timed out") || e.contains("within"));
            let stall = run.stall(w.start_ms - p.timeout, w.end_earliest_ms + p.timeout);
            let evidence = ((p.timeout - t.healthy_median_ms) / 3.0).max(3.0);
            if away_from_cuts && only_timeouts && stall >= evidence {
                let _ = writeln!(
                    v.table,
                    "    not judged: timeouts while the truth says healthy, during a {stall:.1} ms stall of this machine (load)"
                );
                load_windows.push((w.start_ms, w.end_ms));
                continue;
            }
            v.fail(
                name,
                format!(
                    "window {} ({:.1} → {}) matches no cut within one interval (errors: {:?}; largest stall around it {stall:.1} ms)",
                    k + 1,
                    w.start_ms,
                    w.end_ms.map_or("open".into(), |e| format!("{e:.1}")),
                    &errors[..errors.len().min(3)],
                ),
            );
            continue;
        };
        let (cut, heal) = (truth[i].cut, truth[j].heal);
        let _ = writeln!(
            v.table,
            "    = truth cut #{} {} .. heal #{} {}",
            i + 1,
            cut.text(),
            j + 1,
            heal.map_or("never".into(), Bracket::text)
        );
        // The error bars must hold the truth.
        v.check(name, w.start_ms >= cut.lo - SLACK_MS, || {
            format!(
                "window {}: first unhealthy observation {:.1} before the cut {}",
                k + 1,
                w.start_ms,
                cut.text()
            )
        });
        v.check(
            name,
            w.start_earliest_ms <= cut.hi + SLACK_MS + slow_before,
            || {
                format!(
                    "window {}: last healthy observation {:.1} after the cut {}",
                    k + 1,
                    w.start_earliest_ms,
                    cut.text()
                )
            },
        );
        v.check(
            name,
            w.start_earliest_ms <= w.start_ms && w.end_earliest_ms >= w.start_ms,
            || format!("window {}: error bars out of order", k + 1),
        );
        match (w.end_ms, heal) {
            (Some(e), Some(h)) => {
                v.check(name, e >= h.lo - SLACK_MS, || {
                    format!(
                        "window {}: first healthy observation {e:.1} before the heal {}",
                        k + 1,
                        h.text()
                    )
                });
                v.check(name, w.end_earliest_ms <= h.hi + SLACK_MS, || {
                    format!(
                        "window {}: last unhealthy observation {:.1} after the heal {}",
                        k + 1,
                        w.end_earliest_ms,
                        h.text()
                    )
                });
                let truth_len = Bracket {
                    lo: h.lo - cut.hi,
                    hi: h.hi - cut.lo,
                };
                longest_allow = longest_allow.max(late_start + late_end);
                v.check(
                    name,
                    w.length_ms >= truth_len.lo - iv - SLACK_MS - late_start
                        && w.length_ms <= truth_len.hi + iv + SLACK_MS + late_end,
                    || {
                        format!(
                            "window {}: length {:.1} not within one interval of {}",
                            k + 1,
                            w.length_ms,
                            truth_len.text()
                        )
                    },
                );
                v.check(
                    name,
                    w.length_min_ms <= w.length_ms
                        && w.length_max_ms.is_some_and(|x| x >= w.length_ms),
                    || format!("window {}: length outside its own error bar", k + 1),
                );
            }
            (None, None) => v.check(name, w.length_max_ms.is_none(), || {
                format!("window {}: open but has a maximum length", k + 1)
            }),
            _ => unreachable!("matched above"),
        }
        start_err.push(format!("{:+.0}", w.start_ms - (cut.lo + cut.hi) / 2.0));
        end_err.push(match (w.end_ms, heal) {
            (Some(e), Some(h)) => format!("{:+.0}", e - (h.lo + h.hi) / 2.0),
            _ => "open".into(),
        });
        matched.push(Matched { first: i, last: j });
    }
    for (k, c) in truth.iter().enumerate() {
        let covering = matched
            .iter()
            .filter(|mw| mw.first <= k && k <= mw.last)
            .count();
        if required(c) {
            v.check(name, covering == 1, || {
                format!(
                    "truth cut #{} {} .. {} is seen by {covering} windows, not exactly one",
                    k + 1,
                    c.cut.text(),
                    c.heal.map_or("never".into(), Bracket::text)
                )
            });
        }
    }

    // Longest outage: at least the longest cut certain to be seen, at most the longest
    // cluster (a window may span a cluster of close cuts).
    let open = truth.iter().any(|c| c.heal.is_none());
    let longest_lo = truth
        .iter()
        .filter(|c| required(c))
        .filter_map(|c| c.length().map(|l| l.lo))
        .fold(0.0, f64::max);
    let longest_hi = clusters
        .iter()
        .filter_map(|cl| {
            let (first, last) = (&truth[cl[0]], &truth[*cl.last().unwrap()]);
            last.heal.map(|h| h.hi - first.cut.lo)
        })
        .fold(0.0, f64::max);
    let longest_truth = Bracket {
        lo: longest_lo,
        hi: longest_hi,
    };
    let _ = writeln!(
        v.table,
        "  longest outage: truth {} measured {:.1} [min {:.1}, max {}]; recovery: truth {} measured {}; time to detect {}",
        if open { "open".into() } else { longest_truth.text() },
        m.longest_outage_ms,
        m.longest_outage_min_ms,
        m.longest_outage_max_ms.map_or("-".into(), |x| format!("{x:.1}")),
        match recovery {
            RecoveryTruth::NotApplicable => "n/a".into(),
            RecoveryTruth::Never => "never".into(),
            RecoveryTruth::Within(b) => b.text(),
        },
        m.recovery.text(),
        m.time_to_detect_ms.map_or("-".into(), |x| format!("{x:.1}")),
    );
    // Slowness under load (not judged) still open when the run ended leaves the longest
    // outage without an upper bound, as it should; the truth's own outage is then judged by
    // its window above.
    let open_by_load = !open && load_windows.last().is_some_and(|(_, end)| end.is_none());
    if open_by_load {
        let _ = writeln!(
            v.table,
            "  slowness under load still open at the end: no upper bound on the longest outage"
        );
        v.check(name, m.longest_outage_max_ms.is_none(), || {
            format!(
                "a window is open at the end but longest_outage_max_ms is {:?}",
                m.longest_outage_max_ms
            )
        });
    } else if open {
        v.check(name, m.longest_outage_max_ms.is_none(), || {
            format!(
                "an outage is still open at the end but longest_outage_max_ms is {:?}",
                m.longest_outage_max_ms
            )
        });
        v.check(
            name,
            m.outages.last().is_some_and(|w| w.end_ms.is_none()),
            || "the last window is not open although the target stayed down".into(),
        );
    } else {
        v.check(
            name,
            m.longest_outage_ms >= longest_truth.lo - iv - SLACK_MS - longest_allow
                && m.longest_outage_ms <= longest_truth.hi + iv + SLACK_MS + longest_allow,
            || {
                format!(
                    "longest outage {:.1} not within one interval of {}",
                    m.longest_outage_ms,
                    longest_truth.text()
                )
            },
        );
        v.check(
            name,
            m.longest_outage_min_ms <= m.longest_outage_ms
                && m.longest_outage_max_ms
                    .is_some_and(|x| x >= m.longest_outage_ms),
            || "longest outage outside its own error bar".into(),
        );
    }

    // Recovery. Slowness under load after the heal (not judged above) delays it truly: the
    // truth then extends to the end of that slowness.
    let recovery = match (recovery, healed) {
        (RecoveryTruth::Within(b), Some(healed)) => {
            let slow_until = load_windows
                .iter()
                .filter(|(start, _)| *start >= healed + b.lo - SLACK_MS)
                .filter_map(|(_, end)| *end)
                .map(|end| end - healed)
                .fold(b.hi, f64::max);
            if slow_until > b.hi {
                let _ = writeln!(
                    v.table,
                    "  recovery truth extended to {slow_until:.1}: slowness under load after the heal"
                );
            }
            RecoveryTruth::Within(Bracket {
                lo: b.lo,
                hi: slow_until,
            })
        }
        (r, _) => r,
    };
    let recovery_allow = match (&m.recovery, healed) {
        (RecoveryView::Recovered { after_ms, .. }, Some(healed)) => {
            t.late_answer(healed + after_ms)
        }
        _ => 0.0,
    };
    match (recovery, &m.recovery) {
        (RecoveryTruth::NotApplicable, RecoveryView::NotApplicable) => {}
        (RecoveryTruth::Never, RecoveryView::Never) => {}
        (
            RecoveryTruth::Within(b),
            RecoveryView::Recovered {
                after_ms,
                after_min_ms,
            },
        ) => {
            v.check(name, b.near_late(*after_ms, iv, recovery_allow), || {
                format!(
                    "recovery {after_ms:.1} not within one interval of {} (stall allowance {recovery_allow:.1})",
                    b.text()
                )
            });
            v.check(name, *after_min_ms <= b.hi + SLACK_MS, || {
                format!(
                    "recovery lower bound {after_min_ms:.1} above the truth {}",
                    b.text()
                )
            });
        }
        (want, got) => v.fail(
            name,
            format!("recovery {} but the truth is {want:?}", got.text()),
        ),
    }

    // Time to detect: the first cut, if certain to be seen, from kubedrill's injection.
    let (injected, _) = run.fault_span();
    let slow_first = |inj: f64| {
        load_windows
            .iter()
            .any(|(start, _)| *start >= inj && *start <= truth[0].cut.hi + iv + SLACK_MS)
    };
    if let (Some(inj), Some(first)) = (injected, truth.first()) {
        if slow_first(inj) {
            let _ = writeln!(
                v.table,
                "  time to detect not judged: slowness under load came first"
            );
        } else if required(first) {
            let b = first.cut.shift(inj);
            match m.time_to_detect_ms {
                Some(d) => v.check(
                    name,
                    d >= b.lo - SLACK_MS && d <= b.hi + iv + SLACK_MS + t.late(inj + d),
                    || {
                        format!(
                            "time to detect {d:.1} not within one interval after {}",
                            b.text()
                        )
                    },
                ),
                None => v.fail(name, "the first cut was never detected".into()),
            }
        }
    }

    // Expectations two intervals either side of the truth.
    let mut cases = Vec::new();
    let ms = |x: f64| format!("{}ms", x.max(0.0).round() as i64);
    let exp = |metric: &str, threshold: f64| {
        format!("{{probe: {name}, {metric}: '<= {}'}}", ms(threshold))
    };
    if open || open_by_load {
        // Still down at the end: the outage has no upper bound, so no `<=` can pass.
        cases.push(ExpectationCase {
            yaml: exp("max-outage", 3_600_000.0),
            must_pass: false,
        });
    } else {
        cases.push(ExpectationCase {
            // Each of the window's two ends gets its slack (see the module comment).
            yaml: exp(
                "max-outage",
                (longest_truth.hi + 2.0 * (iv + SLACK_MS) + longest_allow).ceil(),
            ),
            must_pass: true,
        });
        if longest_truth.lo > 2.0 * iv {
            cases.push(ExpectationCase {
                yaml: exp("max-outage", (longest_truth.lo - 2.0 * iv).floor()),
                must_pass: false,
            });
        }
    }
    match recovery {
        RecoveryTruth::Within(b) => {
            cases.push(ExpectationCase {
                yaml: exp(
                    "recovery",
                    (b.hi + 2.0 * iv + SLACK_MS + recovery_allow).ceil(),
                ),
                must_pass: true,
            });
            if b.lo > 2.0 * iv {
                cases.push(ExpectationCase {
                    yaml: exp("recovery", (b.lo - 2.0 * iv).floor()),
                    must_pass: false,
                });
            }
        }
        RecoveryTruth::Never => cases.push(ExpectationCase {
            yaml: exp("recovery", 3_600_000.0),
            must_pass: false,
        }),
        RecoveryTruth::NotApplicable => {}
    }
    let expectations: Vec<kubedrill::scenario::expectation::Expectation> = cases
        .iter()
        .map(|c| serde_yaml::from_str(&c.yaml).unwrap_or_else(|e| panic!("{}: {e}", c.yaml)))
        .collect();
    let results = kubedrill::verdict::judge(
        &expectations,
        |n| run.measurements(n),
        run.report.scenario_measurements.recovery,
    );
    assert_eq!(results.len(), cases.len(), "one result per expectation");
    for (c, r) in cases.iter().zip(&results) {
        let rj = serde_json::to_value(r).expect("result json");
        let _ = writeln!(
            v.table,
            "  expect {} {}: actual {} → {} (within uncertainty: {}), must {}",
            rj["metric"].as_str().unwrap_or("?"),
            rj["expected"].as_str().unwrap_or("?"),
            rj["actual"].as_str().unwrap_or("?"),
            if r.passed { "pass" } else { "fail" },
            rj["within_uncertainty"],
            if c.must_pass { "pass" } else { "fail" },
        );
        v.check(name, r.passed == c.must_pass, || {
            format!(
                "expectation {} judged {} (actual {}), must {}",
                c.yaml,
                if r.passed { "passed" } else { "failed" },
                rj["actual"].as_str().unwrap_or("?"),
                if c.must_pass { "pass" } else { "fail" }
            )
        });
    }

    let required_cuts = truth.iter().filter(|c| required(c)).count();
    let failed = v.failures.len() - failures_before;
    v.summary.push(format!(
        "{:<16} {:>9}  {:>10}  {:>22}  {:>22}  {:>40}  {:>36}  {}",
        name,
        format!("{}+{}", m.samples, p.missed_ticks),
        format!("{} ({} req)", m.outages.len(), required_cuts),
        start_err.join(" "),
        end_err.join(" "),
        format!(
            "{} | {:.0} [{:.0}, {}]",
            if open {
                "open".into()
            } else {
                longest_truth.text()
            },
            m.longest_outage_ms,
            m.longest_outage_min_ms,
            m.longest_outage_max_ms
                .map_or("-".into(), |x| format!("{x:.0}"))
        ),
        format!(
            "{} | {}",
            match recovery {
                RecoveryTruth::NotApplicable => "n/a".into(),
                RecoveryTruth::Never => "never".into(),
                RecoveryTruth::Within(b) => b.text(),
            },
            m.recovery.text()
        ),
        match (failed, load_windows.len()) {
            (0, 0) => "ok".to_string(),
            (0, n) => format!("ok ({n} slow under load, not judged)"),
            (f, 0) => format!("FAIL ({f})"),
            (f, n) => format!("FAIL ({f}; {n} slow under load, not judged)"),
        }
    ));
}

/// Every probe of the run judged against `truth`; `recovery` gives each probe's truth. On
/// failure (or with `KDT_TRUTH_KEEP` set) the run directory (report.json, samples.jsonl) is
/// kept and named.
fn judge_run(
    title: &str,
    run: Run,
    truth: &[TruthCut],
    recovery: impl Fn(&ProbeView) -> RecoveryTruth,
) {
    let mut v = Verdicts::new(title, &run, truth);
    for p in &run.probes {
        check_probe(&mut v, &run, p, truth, recovery(p));
    }
    if !v.failures.is_empty() || std::env::var_os("KDT_TRUTH_KEEP").is_some() {
        let kept = run._dir.keep();
        let _ = writeln!(v.table, "run directory kept: {}", kept.display());
    }
    v.finish();
}

/// Truth recovery after kubedrill's heal: from the heal instant of `cut` (logged) minus
/// kubedrill's `reverted_at_ms`.
fn recovery_from(run: &Run, heal: Option<Bracket>) -> RecoveryTruth {
    let (_, healed) = run.fault_span();
    let healed = healed.expect("kubedrill healed the fault");
    match heal {
        Some(h) => RecoveryTruth::Within(h.shift(healed)),
        None => RecoveryTruth::Never,
    }
}

// ---------------------------------------------------------------------------------------
// The matrix: http, tcp and dns at 20/100/500 ms, each with a timeout below and above the
// interval, against one cut (DROP or REJECT) of 0.3, 1 or 3 s held by a `command` fault.

/// `baseline_ms` differs per case so the cut falls at a different phase of the probes'
/// ticks (which start with the run): 1073, 1137, 1219, 1291, 1367 and 1449 ms leave 13, 17,
/// 19, 11, 7 and 9 ms after a 20 ms tick, 73, 37, 19, 91, 67 and 49 after a 100 ms tick and
/// 73 to 449 after a 500 ms tick.
async fn matrix_case(mode: CutMode, hold_ms: u64, baseline_ms: u64) {
    let t = TruthTarget::up();
    let probes = matrix_probes(&[Kind::Http, Kind::Tcp, Kind::Dns]);
    let steps = format!(
        "  - wait: {baseline_ms}ms\n{}",
        fault_step(&t, &[mode.action()], &["heal"], hold_ms)
    );
    let name = format!("truth-{}-{hold_ms}ms", mode.label());
    let run = run_scenario(&scenario_yaml(
        &name,
        SETTINGS,
        &probes_yaml(&probes, &t),
        &steps,
    ))
    .await;
    let truth = run.truth(&t.cuts());
    assert_eq!(truth.len(), 1, "one cut logged: {truth:?}");
    assert!(truth[0].heal.is_some(), "the cut was healed: {truth:?}");
    let recovery = recovery_from(&run, truth[0].heal);
    judge_run(&name, run, &truth, |_| recovery);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_cut_of_300ms_is_measured_within_one_interval() {
    matrix_case(CutMode::Drop, 300, 1073).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_cut_of_1s_is_measured_within_one_interval() {
    matrix_case(CutMode::Drop, 1000, 1137).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_cut_of_3s_is_measured_within_one_interval() {
    matrix_case(CutMode::Drop, 3000, 1219).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_cut_of_300ms_is_measured_within_one_interval() {
    matrix_case(CutMode::Reject, 300, 1291).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_cut_of_1s_is_measured_within_one_interval() {
    matrix_case(CutMode::Reject, 1000, 1367).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_cut_of_3s_is_measured_within_one_interval() {
    matrix_case(CutMode::Reject, 3000, 1449).await;
}

/// DNS over TCP once, with this test's own fresh dnsmasq (its TCP children hang after
/// cuts, so more cases would measure dnsmasq rather than kubedrill).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_over_tcp_drop_cut_of_1s_is_measured_within_one_interval() {
    let t = TruthTarget::up();
    let probes = matrix_probes(&[Kind::DnsTcp]);
    let steps = format!(
        "  - wait: 1s\n{}",
        fault_step(&t, &[CutMode::Drop.action()], &["heal"], 1000)
    );
    let name = "truth-dns-tcp-drop-1000ms";
    let run = run_scenario(&scenario_yaml(
        name,
        SETTINGS,
        &probes_yaml(&probes, &t),
        &steps,
    ))
    .await;
    let truth = run.truth(&t.cuts());
    assert_eq!(truth.len(), 1, "one cut logged: {truth:?}");
    let recovery = recovery_from(&run, truth[0].heal);
    judge_run(name, run, &truth, |_| recovery);
}

/// Flaps: three 200 ms cuts 300 ms apart must be three windows for every probe whose
/// interval (plus slack) is shorter than both the cuts and the gaps (20 and 100 ms). A
/// 500 ms probe may miss a cut or a gap: its windows must still each match the cuts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_flaps_are_three_windows() {
    let t = TruthTarget::up();
    let probes = matrix_probes(&[Kind::Http, Kind::Tcp, Kind::Dns]);
    let cut = CutMode::Drop.action();
    let inject = [
        cut,
        "sleep:0.2",
        "heal",
        "sleep:0.3",
        cut,
        "sleep:0.2",
        "heal",
        "sleep:0.3",
        cut,
    ];
    let steps = format!("  - wait: 1s\n{}", fault_step(&t, &inject, &["heal"], 200));
    let name = "truth-flaps";
    let run = run_scenario(&scenario_yaml(
        name,
        SETTINGS,
        &probes_yaml(&probes, &t),
        &steps,
    ))
    .await;
    let truth = run.truth(&t.cuts());
    assert_eq!(truth.len(), 3, "three cuts logged: {truth:?}");
    let recovery = recovery_from(&run, truth[2].heal);
    judge_run(name, run, &truth, |_| recovery);
}

/// Cuts at random instants and of random lengths (30 ms to 2.5 s, DROP or REJECT), made by
/// a background process kubedrill knows nothing of, during one long `wait`. Every cut that
/// outlasts a probe's interval must be one window of that probe, matching it within one
/// interval; every window must match a cut. `KDT_TRUTH_SEED` replays a schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_cuts_by_a_background_process_each_appear_as_a_window() {
    let seed: u64 = std::env::var("KDT_TRUTH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let (actions, total_ms) = random_schedule(seed);
    let t = TruthTarget::up();
    let probes = matrix_probes(&[Kind::Http, Kind::Tcp, Kind::Dns]);
    // The schedule starts after 1.5 s of baseline; 1.5 s more after its last heal.
    let steps = format!("  - wait: {}ms\n", total_ms + 1500);
    let name = "truth-random";
    let prepared = prepare(&scenario_yaml(
        name,
        SETTINGS,
        &probes_yaml(&probes, &t),
        &steps,
    ));
    let schedule: Child = t.spawn_script(&actions);
    let run = execute(prepared).await;
    let out = schedule.wait_with_output().expect("schedule");
    assert!(
        out.status.success(),
        "the background schedule failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth = run.truth(&t.cuts());
    assert!(
        truth.iter().all(|c| c.heal.is_some()),
        "the schedule ends healed: {truth:?}"
    );
    judge_run(
        &format!("{name} (seed {seed}: KDT_TRUTH_SEED={seed} replays it)"),
        run,
        &truth,
        |_| RecoveryTruth::NotApplicable,
    );
}

/// `truth.sh` actions: 1.5 s baseline, then cuts of 30 ms to 2.5 s (log-uniform, DROP or
/// REJECT) separated by 0.4 to 1.5 s healthy, for about 11 s. Returns the actions and the
/// planned length in ms.
fn random_schedule(seed: u64) -> (Vec<String>, u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut actions = vec!["sleep:1.5".to_string()];
    let mut total = 1500u64;
    while total < 12_500 {
        let len = (30f64.ln() + rng.random::<f64>() * (2500f64.ln() - 30f64.ln())).exp() as u64;
        let mode = if rng.random::<bool>() {
            CutMode::Drop
        } else {
            CutMode::Reject
        };
        let gap = rng.random_range(400..1500u64);
        actions.push(mode.action().to_string());
        actions.push(format!("sleep:{:.3}", len as f64 / 1000.0));
        actions.push("heal".to_string());
        actions.push(format!("sleep:{:.3}", gap as f64 / 1000.0));
        total += len + gap;
    }
    actions.pop();
    (actions, total)
}

/// A heal followed 300 ms later by a 300 ms blip: recovery is measured after the blip, to
/// the first healthy streak lasting the stable window (1 s, longer than the 300 ms of
/// health before the blip). Probes whose interval is shorter than the blip are certain to
/// see it; a 500 ms probe may not, so its truth spans both heals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_is_measured_after_a_blip_that_follows_the_heal() {
    let t = TruthTarget::up();
    let probes = matrix_probes(&[Kind::Http, Kind::Tcp, Kind::Dns]);
    let cut = CutMode::Drop.action();
    let revert = ["heal", "sleep:0.3", cut, "sleep:0.3", "heal"];
    let steps = format!("  - wait: 1s\n{}", fault_step(&t, &[cut], &revert, 1000));
    let name = "truth-blip";
    let run = run_scenario(&scenario_yaml(
        name,
        SETTINGS,
        &probes_yaml(&probes, &t),
        &steps,
    ))
    .await;
    let truth = run.truth(&t.cuts());
    assert_eq!(truth.len(), 2, "the cut and the blip logged: {truth:?}");
    let (_, healed) = run.fault_span();
    let healed = healed.expect("healed");
    let (first_heal, blip) = (truth[0].heal.unwrap(), &truth[1]);
    let blip_heal = blip.heal.unwrap();
    let blip_len = blip.length().unwrap();
    judge_run(name, run, &truth, |p| {
        if blip_len.lo > p.interval + SLACK_MS {
            RecoveryTruth::Within(blip_heal.shift(healed))
        } else {
            RecoveryTruth::Within(Bracket {
                lo: first_heal.lo - healed,
                hi: blip_heal.hi - healed,
            })
        }
    });
}

/// The revert does not bring the service back: recovery is never, the last window is open
/// and no `<=` expectation on outage or recovery can pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_still_down_after_the_revert_never_recovers() {
    let t = TruthTarget::up();
    let probes = matrix_probes(&[Kind::Http, Kind::Tcp, Kind::Dns]);
    let steps = format!(
        "  - wait: 1s\n  - id: cut\n    fault:\n      command: {{ inject: {}, revert: [\"true\"] }}\n    for: 1s\n",
        t.argv_yaml(&[CutMode::Reject.action()])
    );
    let name = "truth-never";
    let run = run_scenario(&scenario_yaml(
        name,
        "stable-window: 1s, recovery-timeout: 2s",
        &probes_yaml(&probes, &t),
        &steps,
    ))
    .await;
    let truth = run.truth(&t.cuts());
    assert_eq!(truth.len(), 1, "one cut logged: {truth:?}");
    assert!(truth[0].heal.is_none(), "never healed: {truth:?}");
    assert_eq!(
        run.report.scenario_measurements.recovery,
        kubedrill::measure::Recovery::Never
    );
    judge_run(name, run, &truth, |_| RecoveryTruth::Never);
}

/// A probe whose samples take 150 ms, every 100 ms, with at most one in flight: every
/// other tick finds the previous sample still running and is missed, once. With 250 ms
/// samples two ticks of three are missed; with two allowed in flight none is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_ticks_are_the_ticks_the_in_flight_bound_refused() {
    let _serial = truth_target::exclusive();
    let probe = |name: &str, secs: &str, max_in_flight: u64| {
        format!(
            "  - {{ name: {name}, interval: 100ms, timeout: 1s, max-in-flight: {max_in_flight}, command: {{ argv: [sleep, \"{secs}\"] }} }}\n"
        )
    };
    let probes = [
        probe("slow-150-one", "0.15", 1),
        probe("slow-250-one", "0.25", 1),
        probe("slow-150-two", "0.15", 2),
    ]
    .concat();
    let run = run_scenario(&scenario_yaml(
        "truth-missed-ticks",
        "stable-window: 1s",
        &probes,
        "  - wait: 3s\n",
    ))
    .await;
    let mut table = String::from(
        "\nprobe          ticks  samples  missed  unfinished  missed by the starts  max-in-flight\n",
    );
    let mut failures = Vec::new();
    for p in &run.probes {
        let m = &p.measurements;
        // What the schedule says: between two consecutive starts, every tick but the one
        // that started the later sample was missed (starts sit on ticks).
        let starts: Vec<f64> = p.samples.iter().map(|s| s.start_ms).collect();
        let mut sorted = starts.clone();
        sorted.sort_by(f64::total_cmp);
        let between: u64 = sorted
            .windows(2)
            .map(|w| (((w[1] - w[0]) / p.interval).round() as u64).saturating_sub(1))
            .sum();
        let _ = writeln!(
            table,
            "{:<14} {:>5}  {:>7}  {:>6}  {:>10}  {:>20}  {:>13}",
            p.name,
            p.scheduled_ticks,
            m.samples,
            p.missed_ticks,
            p.unfinished_samples,
            between,
            p.max_in_flight
        );
        let mut fail = |what: String| failures.push(format!("{}: {what}", p.name));
        if p.samples_embedded != "all" || p.samples.len() as u64 != m.samples {
            fail(format!(
                "a 3 s run embeds {} of {} samples ({})",
                p.samples.len(),
                m.samples,
                p.samples_embedded
            ));
            continue;
        }
        // Samples still running when the run stopped are neither samples nor missed ticks
        // (the report counts them as `unfinished_samples`).
        if m.samples + p.missed_ticks + p.unfinished_samples != p.scheduled_ticks {
            fail(format!(
                "samples {} + missed {} + unfinished {} != scheduled {}",
                m.samples, p.missed_ticks, p.unfinished_samples, p.scheduled_ticks
            ));
        }
        // The ticks between the first start and the last, plus those missed after the last
        // start while it ran (at most two with 250 ms samples).
        if p.missed_ticks < between || p.missed_ticks > between + 2 {
            fail(format!(
                "missed ticks {} but the sample starts leave {between} ticks unused",
                p.missed_ticks
            ));
        }
        let span_ticks = ((sorted[sorted.len() - 1] - sorted[0]) / p.interval).round() as u64 + 1;
        if p.scheduled_ticks < span_ticks
            || p.scheduled_ticks > span_ticks + 2 + p.unfinished_samples
        {
            fail(format!(
                "scheduled ticks {} but the samples span {span_ticks} ticks",
                p.scheduled_ticks
            ));
        }
        if !(29..=33).contains(&p.scheduled_ticks) {
            fail(format!(
                "{} ticks scheduled in a 3 s run at 100 ms",
                p.scheduled_ticks
            ));
        }
        let (s, missed) = (p.scheduled_ticks as f64, p.missed_ticks as f64);
        let want = match p.name.as_str() {
            "slow-150-one" => s / 2.0,
            "slow-250-one" => s * 2.0 / 3.0,
            _ => 0.0,
        };
        if (missed - want).abs() > 1.5 {
            fail(format!(
                "missed {missed} of {s} ticks, expected about {want:.1}"
            ));
        }
        if m.failed_samples != 0 {
            fail(format!("{} samples failed", m.failed_samples));
        }
    }
    println!("{table}");
    assert!(failures.is_empty(), "{}\n{table}", failures.join("\n"));
}
