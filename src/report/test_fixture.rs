//! A realistic report for the renderers' tests: two probes, a fault with an outage and a
//! recovery, a second fault whose revert failed, one failing expectation.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::PlannedStep;
use super::*;
use crate::measure::{measure, sort_by_date, FaultSpan, Recovery};
use crate::scenario::expectation::Expectation;
use crate::verdict::{judge, Verdict};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap()
}

fn at(offset_ms: f64) -> DateTime<Utc> {
    start() + chrono::Duration::milliseconds(offset_ms as i64)
}

/// What one sample found: its latency and its result.
pub(crate) type Outcome = (f64, Result<Option<serde_json::Value>, String>);

/// A probe's samples over `run_ms`: a tick every `step_ms`, `outcome(i, t)` for the sample
/// of tick `i` started at `t`. A tick that finds `max_in_flight` samples still running
/// starts none. Returns the samples ordered by date, the scheduled and the missed ticks.
pub(crate) fn tick_samples(
    step_ms: f64,
    run_ms: f64,
    max_in_flight: usize,
    outcome: impl Fn(usize, f64) -> Outcome,
) -> (Vec<Sample>, u64, u64) {
    let ticks = (run_ms / step_ms) as usize;
    let mut samples: Vec<Sample> = Vec::with_capacity(ticks);
    let mut in_flight: Vec<f64> = Vec::new();
    let mut missed = 0;
    for i in 0..ticks {
        let t = i as f64 * step_ms;
        in_flight.retain(|end| *end > t);
        if in_flight.len() >= max_in_flight {
            missed += 1;
            continue;
        }
        let (latency, result) = outcome(i, t);
        in_flight.push(t + latency);
        samples.push(Sample::new(at(t), t, t + latency, result));
    }
    sort_by_date(&mut samples);
    (samples, ticks as u64, missed)
}

/// A healthy answer after a few milliseconds.
fn healthy(i: usize) -> Outcome {
    (4.0 + (i % 7) as f64, Ok(None))
}

fn probe(
    name: &str,
    kind: &str,
    target: &str,
    step_ms: f64,
    max_in_flight: usize,
    (samples, scheduled_ticks, missed_ticks): (Vec<Sample>, u64, u64),
) -> ProbeRecord {
    let span = FaultSpan {
        first_injected_ms: Some(5000.0),
        last_healed_ms: Some(12000.0),
    };
    ProbeRecord {
        name: name.into(),
        kind: kind.into(),
        target: target.into(),
        interval: Duration::from_secs_f64(step_ms / 1000.0),
        timeout: Duration::from_secs(1),
        max_in_flight: max_in_flight as u64,
        scheduled_ticks,
        missed_ticks,
        unfinished_samples: 0,
        samples_embedded: "all".into(),
        samples_file: "samples.jsonl".into(),
        measurements: measure(&samples, span, Duration::from_secs(2)),
        samples,
    }
}

fn event(offset_ms: f64, kind: &str, step: Option<usize>, message: &str) -> TimelineEvent {
    TimelineEvent {
        at: at(offset_ms),
        offset_ms,
        kind: kind.into(),
        step,
        message: message.into(),
    }
}

/// A 20 s run: `api` is down 6–12.5 s during fault `etcd-1`: its samples hang 1 s (up to
/// three in flight, so every fourth tick is missed), one sent at 12 s is answered late at
/// 12.55 s (a slow success), and it recovers about 500ms after the heal; `dns` fails fast
/// for a second; the revert of `kubelet-1` failed.
pub(crate) fn sample_report() -> RunReport {
    let run_ms = 20_000.0;
    let api = tick_samples(250.0, run_ms, 3, |i, t| {
        if t == 12_000.0 {
            (550.0, Ok(None))
        } else if (6000.0..12_500.0).contains(&t) {
            (1000.0, Err("timed out after 1s".into()))
        } else {
            healthy(i)
        }
    });
    let dns = tick_samples(500.0, run_ms, 1, |i, t| {
        if (7000.0..8000.0).contains(&t) {
            (30.0, Err("SERVFAIL from 10.96.0.10".into()))
        } else {
            healthy(i)
        }
    });
    let probes = vec![
        probe(
            "api",
            "http",
            "https://10.0.0.10:6443/readyz",
            250.0,
            3,
            api,
        ),
        probe(
            "dns",
            "dns",
            "kubernetes.default.svc.cluster.local @10.96.0.10:53",
            500.0,
            1,
            dns,
        ),
    ];
    report_with(probes, run_ms)
}

/// `probes` probes of `samples` samples each over 20 s, flapping every `block` samples,
/// failed samples hanging over the next ticks: the worst cases for the size of the page.
pub(crate) fn flapping_report(probes: usize, samples: usize, block: usize) -> RunReport {
    let run_ms = 20_000.0;
    let step = run_ms / samples as f64;
    let probes = (0..probes)
        .map(|n| {
            let s = tick_samples(step, run_ms, 16, |i, _| {
                if (i / block) % 2 == 1 {
                    (
                        step * 3.5,
                        Err(format!("connection reset by peer (probe {n})")),
                    )
                } else {
                    (step / 2.0, Ok(None))
                }
            });
            probe(
                &format!("flapping-probe-{n}"),
                "tcp",
                "10.0.0.10:6443",
                step,
                16,
                s,
            )
        })
        .collect();
    report_with(probes, run_ms)
}

fn report_with(probes: Vec<ProbeRecord>, run_ms: f64) -> RunReport {
    let expect: Vec<Expectation> = serde_yaml::from_str(
        "[{probe: api, availability: '>= 99%', recovery: '<= 5s'}, {probe: dns, max-outage: '<= 2s', availability: '>= 95%'}]",
    )
    .unwrap();
    let scenario_recovery = probes.iter().fold(Recovery::NotApplicable, |acc, p| {
        acc.worst(p.measurements.recovery)
    });
    let expectations = judge(
        &expect,
        |n| probes.iter().find(|p| p.name == n).map(|p| &p.measurements),
        scenario_recovery,
    );
    RunReport {
        schema_version: SCHEMA_VERSION,
        kubedrill_version: "0.1.0".into(),
        scenario: ScenarioInfo {
            name: "etcd-leader-partition".into(),
            description: Some(
                "Isolating the etcd leader must not break the API for more than 5s.".into(),
            ),
            file: "scenarios/lab/etcd-leader-partition.yaml".into(),
            stable_window: Duration::from_secs(2),
        },
        plan: vec![
            PlannedStep {
                index: 0,
                kind: "wait".into(),
                action: "wait 5s".into(),
                undo: None,
                resolved: None,
                reverts: vec![],
            },
            PlannedStep {
                index: 1,
                kind: "fault".into(),
                action: "fault etcd-1: isolate the etcd leader for 5s".into(),
                undo: Some("remove the partition chain".into()),
                resolved: Some("isolate etcd-0 on cp-0 (leader, term 2)".into()),
                reverts: vec!["remove chain KUBEDRILL-PART-1a2b3c on cp-0".into()],
            },
        ],
        started_at: start(),
        ended_at: at(run_ms),
        duration: Duration::from_secs_f64(run_ms / 1000.0),
        timeline: vec![
            event(0.0, "step-started", Some(0), "wait 5s"),
            event(
                5000.0,
                "fault-injected",
                Some(1),
                "etcd-1: partition etcd leader cp1",
            ),
            event(12000.0, "fault-reverted", Some(1), "etcd-1 reverted"),
            event(
                14000.0,
                "fault-injected",
                Some(2),
                "kubelet-1: stop kubelet on w1",
            ),
            event(
                20000.0,
                "revert-failed",
                Some(2),
                "kubelet-1: ssh: connection refused",
            ),
        ],
        faults: vec![
            FaultRecord {
                id: "etcd-1".into(),
                kind: "etcd-partition".into(),
                description: "partition etcd leader cp1 from its peers".into(),
                step: 1,
                injected_at_ms: Some(5000.0),
                reverted_at_ms: Some(12000.0),
                in_effect_at_ms: None,
                hold_ms: None,
                injection: "injected".into(),
                error: None,
                revert: "reverted".into(),
                details: serde_json::json!({ "leader_before": "cp1", "term_before": 2 }),
            },
            FaultRecord {
                id: "kubelet-1".into(),
                kind: "stop-service".into(),
                description: "stop kubelet on w1".into(),
                step: 2,
                injected_at_ms: Some(14000.0),
                reverted_at_ms: Some(18000.0),
                in_effect_at_ms: None,
                hold_ms: None,
                injection: "injected".into(),
                error: None,
                revert: "failed".into(),
                details: serde_json::Value::Null,
            },
        ],
        probes,
        scenario_measurements: ScenarioMeasurements {
            healed_at_ms: Some(12000.0),
            recovery: scenario_recovery,
        },
        expectations,
        reverts: vec![
            RevertRecord {
                fault_id: "etcd-1".into(),
                description: "run `iptables -D INPUT -p tcp --dport 2380 -j DROP` on node cp1"
                    .into(),
                outcome: "reverted".into(),
                error: None,
                manual: vec![],
                at_ms: Some(12000.0),
                details: serde_json::Value::Null,
            },
            RevertRecord {
                fault_id: "kubelet-1".into(),
                description: "run `systemctl start kubelet` on node w1".into(),
                outcome: "failed".into(),
                error: Some("ssh: connection refused".into()),
                manual: vec![
                    "ssh -i ~/.ssh/drill admin@10.0.0.12 'sudo systemctl start kubelet'".into(),
                ],
                at_ms: Some(20000.0),
                details: serde_json::Value::Null,
            },
        ],
        verdict: Verdict::Error,
        exit_code: 4,
        reason: Some("not every fault was reverted; undo the listed actions by hand".into()),
    }
}
