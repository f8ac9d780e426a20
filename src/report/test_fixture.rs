//! A realistic report for the renderers' tests: two probes, a fault with an outage and a
//! recovery, a second fault whose revert failed, one failing expectation.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::measure::{measure, FaultSpan, Recovery};
use crate::scenario::expectation::Expectation;
use crate::verdict::{judge, Verdict};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap()
}

fn at(offset_ms: f64) -> DateTime<Utc> {
    start() + chrono::Duration::milliseconds(offset_ms as i64)
}

/// Samples every `step_ms` over `run_ms`, failing with `error` inside `[down_from, down_to)`.
pub(crate) fn samples(step_ms: f64, run_ms: f64, down: (f64, f64), error: &str) -> Vec<Sample> {
    (0..(run_ms / step_ms) as usize)
        .map(|i| {
            let offset_ms = i as f64 * step_ms;
            let ok = !(down.0..down.1).contains(&offset_ms);
            Sample {
                at: at(offset_ms),
                offset_ms,
                ok,
                latency_ms: if ok { 4.0 + (i % 7) as f64 } else { 1000.0 },
                error: (!ok).then(|| error.to_string()),
                detail: None,
            }
        })
        .collect()
}

fn probe(name: &str, kind: &str, target: &str, step_ms: f64, samples: Vec<Sample>) -> ProbeRecord {
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
        missed_ticks: 0,
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

/// A 20 s run: `api` is down 6–12.5 s during fault `etcd-1` and recovers 500ms after the
/// heal; `dns` blips once; the revert of `kubelet-1` failed.
pub(crate) fn sample_report() -> RunReport {
    let run_ms = 20_000.0;
    let probes = vec![
        probe(
            "api",
            "http",
            "https://10.0.0.10:6443/readyz",
            250.0,
            samples(250.0, run_ms, (6000.0, 12500.0), "connection refused"),
        ),
        probe(
            "dns",
            "dns",
            "kubernetes.default.svc.cluster.local @10.96.0.10:53",
            500.0,
            samples(500.0, run_ms, (7000.0, 8000.0), "timeout after 1s"),
        ),
    ];
    let expect: Vec<Expectation> = serde_yaml::from_str(
        "[{probe: api, availability: '>= 99%', recovery: '<= 5s'}, {probe: dns, max-outage: '<= 2s'}]",
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
        plan: vec![],
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
                details: serde_json::Value::Null,
            },
            FaultRecord {
                id: "kubelet-1".into(),
                kind: "stop-service".into(),
                description: "stop kubelet on w1".into(),
                step: 2,
                injected_at_ms: Some(14000.0),
                reverted_at_ms: None,
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
            },
        ],
        verdict: Verdict::Error,
        exit_code: 4,
        reason: Some("not every fault was reverted; undo the listed actions by hand".into()),
    }
}
