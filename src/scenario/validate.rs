//! Checks that need the whole scenario: names, references, units, sane durations.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::errors::{Errors, KeyPath};
use super::expectation::{Metric, Op, Unit};
use super::load::Gaps;
use super::model::{Scenario, StepAction};

/// Records every problem of a parsed scenario.
pub(crate) fn validate(s: &Scenario, gaps: &Gaps, errs: &mut Errors) {
    if s.metadata.name.trim().is_empty() {
        errs.add("metadata.name", "the scenario name is empty");
    } else if !s
        .metadata
        .name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        errs.add(
            "metadata.name",
            "use letters, digits, `-`, `_` and `.` only (it names the report directory)",
        );
    }
    let mut probes = validate_probes(s, errs);
    for name in &gaps.probe_names {
        probes.entry(name.as_str()).or_insert(usize::MAX);
    }
    validate_steps(s, gaps.steps_written, &probes, errs);
    validate_expectations(s, &probes, errs);
    if s.settings.stable_window.get().is_zero() {
        errs.add("settings.stable-window", "must be longer than zero");
    }
    let mut nodes = BTreeSet::new();
    for (i, n) in s.target.nodes.iter().enumerate() {
        if !nodes.insert(n.name.as_str()) {
            errs.add(
                KeyPath::at("target.nodes").index(i).key("name"),
                format!("node `{}` is listed twice", n.name),
            );
        }
    }
}

fn validate_probes<'a>(s: &'a Scenario, errs: &mut Errors) -> BTreeMap<&'a str, usize> {
    let mut names = BTreeMap::new();
    for p in &s.probes {
        let (i, at) = (p.index, KeyPath::at("probes").index(p.index));
        if p.name.trim().is_empty() {
            errs.add(at.key("name"), "the probe name is empty");
        } else if names.insert(p.name.as_str(), i).is_some() {
            errs.add(
                at.key("name"),
                format!("probe `{}` is defined twice", p.name),
            );
        }
        positive(p.interval.get(), &at.key("interval"), errs);
        positive(p.timeout.get(), &at.key("timeout"), errs);
        if p.max_in_flight == Some(0) {
            errs.add(
                at.key("max-in-flight"),
                "must be at least 1 (1 = one sample at a time)",
            );
        }
        p.spec.validate(&at.key(p.spec.kind()), errs);
    }
    names
}

fn positive(d: Duration, at: &KeyPath, errs: &mut Errors) {
    if d.is_zero() {
        errs.add(at, "must be longer than zero");
    }
}

fn check_probe_ref(name: &str, probes: &BTreeMap<&str, usize>, at: KeyPath, errs: &mut Errors) {
    if !probes.contains_key(name) {
        let known: Vec<_> = probes.keys().copied().collect();
        let list = if known.is_empty() {
            "none are defined".to_string()
        } else {
            format!("defined: {}", known.join(", "))
        };
        errs.add(
            at,
            format!("probe `{name}` is not defined under `probes` ({list})"),
        );
    }
}

fn validate_steps(s: &Scenario, written: usize, probes: &BTreeMap<&str, usize>, errs: &mut Errors) {
    if written == 0 {
        errs.add(
            "steps",
            "there are no steps; add at least one `wait` or `fault`",
        );
    }
    let mut faults: BTreeMap<&str, bool> = BTreeMap::new();
    for step in &s.steps {
        let at = KeyPath::at("steps").index(step.index);
        match &step.action {
            StepAction::Wait(d) => positive(d.get(), &at.key("wait"), errs),
            StepAction::Fault { id, spec, hold } => {
                if faults.insert(id.as_str(), hold.is_some()).is_some() {
                    errs.add(at.key("id"), format!("fault id `{id}` is used twice"));
                }
                if let Some(h) = hold {
                    positive(h.get(), &at.key("for"), errs);
                }
                spec.validate(&at.key("fault").key(spec.kind()), errs);
            }
            StepAction::Heal(id) => match faults.get(id.as_str()) {
                None => errs.add(at.key("heal"), format!("no earlier fault step has `id: {id}`")),
                Some(true) => errs.add(
                    at.key("heal"),
                    format!("fault `{id}` already reverts itself after `for`; drop `for` or this heal step"),
                ),
                Some(false) => {}
            },
            StepAction::WaitUntil(w) => {
                positive(w.timeout.get(), &at.key("wait-until.timeout"), errs);
                positive(w.stable_for.get(), &at.key("wait-until.stable-for"), errs);
                for (j, name) in w.healthy.iter().enumerate() {
                    check_probe_ref(name, probes, at.key("wait-until.healthy").index(j), errs);
                }
                if s.probes.is_empty() {
                    errs.add(at.key("wait-until"), "waits for probes but no probe is defined");
                }
            }
        }
    }
}

fn validate_expectations(s: &Scenario, probes: &BTreeMap<&str, usize>, errs: &mut Errors) {
    for (i, e) in s.expect.iter().enumerate() {
        let at = KeyPath::at("expect").index(i);
        let checks = e.checks();
        if checks.is_empty() {
            errs.add(&at, "sets no expectation; add availability, max-outage, recovery, time-to-detect or latency-p50/p95/p99");
        }
        match &e.probe {
            Some(name) => check_probe_ref(name, probes, at.key("probe"), errs),
            None => {
                for (m, _) in &checks {
                    if *m != Metric::Recovery {
                        errs.add(
                            at.key(m.key()),
                            format!(
                                "`{}` needs a `probe`; only `recovery` is scenario-wide",
                                m.key()
                            ),
                        );
                    }
                }
            }
        }
        for (m, t) in checks {
            if t.unit != m.unit() {
                let want = if m.unit() == Unit::Percent {
                    "a percentage like `>= 99%`"
                } else {
                    "a duration like `<= 5s`"
                };
                errs.add(at.key(m.key()), format!("`{}` takes {want}", m.key()));
            }
        }
    }
    for (i, a) in s.abort_if.iter().enumerate() {
        let at = KeyPath::at("abort-if").index(i);
        check_probe_ref(&a.probe, probes, at.key("probe"), errs);
        if a.outage.unit != Unit::Millis {
            errs.add(at.key("outage"), "takes a duration like `> 60s`");
        } else if !matches!(a.outage.op, Op::Gt | Op::Ge) {
            errs.add(
                at.key("outage"),
                "aborts when an outage grows past a bound: use `>` or `>=`, like `> 60s`",
            );
        }
    }
}
