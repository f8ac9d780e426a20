//! Evicting the pods of one node and following each: eviction requested, refusals by
//! disruption budgets, gone, and its replacement Ready (where and when).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;

use super::FaultError;
use crate::cluster::pods::{self, Disposition, Evicted};

/// How often gone-ness and replacements are polled (the fake API has no watch; a poll is
/// also what kubectl does while waiting for deletion).
const POLL: Duration = Duration::from_millis(200);

/// How pods are evicted.
#[derive(Debug, Clone, Copy)]
pub struct EvictionPlan {
    pub grace_period_seconds: Option<i64>,
    pub disable_eviction: bool,
    pub timeout: Duration,
    pub retry_interval: Duration,
    pub replacement_timeout: Duration,
}

/// A pod of the node and what the drain does with it.
#[derive(Debug, Clone, Serialize)]
pub struct PodPlan {
    pub pod: String,
    #[serde(skip)]
    pub namespace: String,
    #[serde(skip)]
    pub name: String,
    pub uid: String,
    /// `Kind/name` of its controller.
    pub owner: Option<String>,
    #[serde(skip)]
    pub owner_uid: Option<String>,
    /// Why it is left alone, when it is.
    pub skipped: Option<&'static str>,
}

impl PodPlan {
    /// The plan for `pod` given its disposition (never `Refuse`).
    pub fn of(pod: &Pod, d: Disposition) -> Self {
        let owner = pods::controller(pod);
        Self {
            pod: pods::full_name(pod),
            namespace: pods::namespace(pod).to_string(),
            name: pods::name(pod).to_string(),
            uid: pods::uid(pod).to_string(),
            owner: owner.map(|o| format!("{}/{}", o.kind, o.name)),
            owner_uid: owner.map(|o| o.uid.clone()),
            skipped: match d {
                Disposition::Skip(why) => Some(why),
                _ => None,
            },
        }
    }
}

/// `evict 3 pods (a, b, c); skip 2 (ds: DaemonSet-managed, ...)`.
pub fn summary(plans: &[PodPlan]) -> String {
    let (skip, evict): (Vec<&PodPlan>, Vec<&PodPlan>) =
        plans.iter().partition(|p| p.skipped.is_some());
    let names = |v: &[&PodPlan]| {
        v.iter()
            .map(|p| p.pod.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = format!("evict {} pod(s)", evict.len());
    if !evict.is_empty() {
        text.push_str(&format!(" ({})", names(&evict)));
    }
    if !skip.is_empty() {
        let why: Vec<String> = skip
            .iter()
            .map(|p| format!("{}: {}", p.pod, p.skipped.unwrap_or_default()))
            .collect();
        text.push_str(&format!("; skip {} ({})", skip.len(), why.join(", ")));
    }
    text
}

/// What happened to one evicted pod, for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PodOutcome {
    pub pod: String,
    pub uid: String,
    pub owner: Option<String>,
    pub eviction_requested_at: Option<DateTime<Utc>>,
    /// Refusals (429) before the eviction was accepted.
    pub retries: u32,
    pub last_refusal: Option<String>,
    pub gone_at: Option<DateTime<Utc>>,
    /// From the first eviction request to gone, in milliseconds.
    pub gone_after_ms: Option<u64>,
    pub replacement: Option<Replacement>,
}

/// The pod that took an evicted pod's place.
#[derive(Debug, Clone, Serialize)]
pub struct Replacement {
    pub pod: String,
    pub node: String,
    /// When it turned Ready: the Ready condition's `lastTransitionTime`, kept between the
    /// last poll that saw it not Ready and `seen_ready_at`; `seen_ready_at` without one.
    pub ready_at: DateTime<Utc>,
    /// When kubedrill's poll first saw it Ready.
    pub seen_ready_at: DateTime<Utc>,
    /// From the evicted pod being gone to its replacement Ready, in milliseconds.
    pub ready_after_gone_ms: u64,
}

/// The drain of one node, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct NodeDrain {
    pub node: String,
    pub started_at: DateTime<Utc>,
    /// Until every evicted pod was gone, in milliseconds.
    pub drain_ms: u64,
    pub skipped: Vec<PodPlan>,
    pub pods: Vec<PodOutcome>,
}

type Outcomes = Arc<Mutex<Vec<PodOutcome>>>;

fn update(outcomes: &Outcomes, i: usize, f: impl FnOnce(&mut PodOutcome)) {
    f(&mut outcomes.lock().unwrap_or_else(|p| p.into_inner())[i]);
}

/// Evicts every non-skipped pod of `node` concurrently and waits until each is gone, within
/// the drain timeout; each pod's replacement is watched from the moment that pod is gone,
/// within the replacement timeout.
pub async fn drain(
    client: &kube::Client,
    node: &str,
    plans: Vec<PodPlan>,
    plan: &EvictionPlan,
) -> Result<NodeDrain, FaultError> {
    let started_at = Utc::now();
    let started = Instant::now();
    let (skipped, evict): (Vec<PodPlan>, Vec<PodPlan>) =
        plans.into_iter().partition(|p| p.skipped.is_some());
    let known = existing_uids(client, &evict).await?;
    let outcomes: Outcomes = Arc::new(Mutex::new(
        evict
            .iter()
            .map(|p| PodOutcome {
                pod: p.pod.clone(),
                uid: p.uid.clone(),
                owner: p.owner.clone(),
                ..Default::default()
            })
            .collect(),
    ));
    let claimed = Mutex::new(known);
    let deadline = tokio::time::Instant::from_std(started + plan.timeout);
    let all = futures::future::try_join_all(evict.iter().enumerate().map(|(i, p)| {
        let (outcomes, claimed) = (&outcomes, &claimed);
        async move {
            let gone =
                tokio::time::timeout_at(deadline, evict_until_gone(client, p, plan, outcomes, i))
                    .await
                    .map_err(|_| None)?
                    .map_err(Some)?;
            if p.owner_uid.is_some() && !plan.replacement_timeout.is_zero() {
                let watch = watch_replacement(client, p, started_at, claimed, outcomes, i);
                let _ = tokio::time::timeout(plan.replacement_timeout, watch).await;
            }
            Ok::<Instant, Option<FaultError>>(gone)
        }
    }));
    let gone = match all.await {
        Err(None) => return Err(timeout_error(node, plan.timeout, &outcomes)),
        Err(Some(e)) => return Err(e),
        Ok(gone) => gone,
    };
    let last_gone = gone.into_iter().max().unwrap_or(started);
    let drain_ms = last_gone.duration_since(started).as_millis() as u64;
    let pods = outcomes.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(NodeDrain {
        node: node.to_string(),
        started_at,
        drain_ms,
        skipped,
        pods,
    })
}

/// Uids of every pod in the namespaces involved, so pre-existing siblings are never taken
/// for replacements.
async fn existing_uids(
    client: &kube::Client,
    evict: &[PodPlan],
) -> Result<BTreeSet<String>, FaultError> {
    let namespaces: BTreeSet<&str> = evict.iter().map(|p| p.namespace.as_str()).collect();
    let mut uids = BTreeSet::new();
    for ns in namespaces {
        let found = pods::matching(client, ns, None)
            .await
            .map_err(|e| FaultError(format!("cannot list pods in {ns}: {e}")))?;
        uids.extend(found.iter().map(|p| pods::uid(p).to_string()));
    }
    Ok(uids)
}

async fn evict_until_gone(
    client: &kube::Client,
    p: &PodPlan,
    plan: &EvictionPlan,
    outcomes: &Outcomes,
    i: usize,
) -> Result<Instant, FaultError> {
    let requested = Instant::now();
    update(outcomes, i, |o| o.eviction_requested_at = Some(Utc::now()));
    let fail = |e: kube::Error| FaultError(format!("cannot evict {}: {e}", p.pod));
    loop {
        let answer = if plan.disable_eviction {
            pods::delete(client, &p.namespace, &p.name, plan.grace_period_seconds)
                .await
                .map(|deleted| {
                    if deleted {
                        Evicted::Accepted
                    } else {
                        Evicted::Gone
                    }
                })
        } else {
            pods::evict(client, &p.namespace, &p.name, plan.grace_period_seconds).await
        };
        match answer.map_err(fail)? {
            Evicted::Accepted | Evicted::Gone => break,
            Evicted::Refused(why) => {
                update(outcomes, i, |o| {
                    o.retries += 1;
                    o.last_refusal = Some(why);
                });
                tokio::time::sleep(plan.retry_interval).await;
            }
        }
    }
    loop {
        let gone = pods::is_gone(client, &p.namespace, &p.name, &p.uid).await;
        if gone.map_err(|e| FaultError(format!("cannot check {}: {e}", p.pod)))? {
            let after = requested.elapsed().as_millis() as u64;
            update(outcomes, i, |o| {
                o.gone_at = Some(Utc::now());
                o.gone_after_ms = Some(after);
            });
            return Ok(Instant::now());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The drain's failure with every pod's outcome so far, since the report gets no
/// `NodeDrain` for a drain that did not finish.
fn timeout_error(node: &str, timeout: Duration, outcomes: &Outcomes) -> FaultError {
    let outcomes = outcomes.lock().unwrap_or_else(|p| p.into_inner());
    let left = outcomes.iter().filter(|o| o.gone_at.is_none()).count();
    let pods: Vec<String> = outcomes.iter().map(PodOutcome::compact).collect();
    FaultError(format!(
        "drain of {node} did not finish within {}: {left} of {} pod(s) still there; {}",
        humantime::format_duration(timeout),
        outcomes.len(),
        pods.join("; ")
    ))
}

impl PodOutcome {
    /// `ns/pod: eviction requested 10:00:01.250Z, refused 4 time(s), last: WHY, still there`.
    fn compact(&self) -> String {
        let mut parts = vec![match self.eviction_requested_at {
            Some(at) => format!("eviction requested {}", at.format("%H:%M:%S%.3fZ")),
            None => "eviction not requested".to_string(),
        }];
        if self.retries > 0 {
            parts.push(format!("refused {} time(s)", self.retries));
        }
        if let Some(why) = &self.last_refusal {
            parts.push(format!("last refusal: {why}"));
        }
        parts.push(match self.gone_after_ms {
            Some(ms) => format!("gone after {ms}ms"),
            None => "still there".to_string(),
        });
        format!("{}: {}", self.pod, parts.join(", "))
    }
}

/// Until the evicted pod `p` (which has a controller) has a Ready replacement: a pod of the
/// same controller that did not exist when the drain started and that no other evicted pod
/// took (the caller bounds it).
async fn watch_replacement(
    client: &kube::Client,
    p: &PodPlan,
    drain_started: DateTime<Utc>,
    claimed: &Mutex<BTreeSet<String>>,
    outcomes: &Outcomes,
    i: usize,
) {
    let owner = p.owner_uid.as_deref();
    // Not Ready at the previous poll's request: the replacement turned Ready after that.
    let mut not_ready_since = drain_started;
    loop {
        let asked_at = Utc::now();
        if let Ok(found) = pods::matching(client, &p.namespace, None).await {
            let seen_at = Utc::now();
            let mut claimed = claimed.lock().unwrap_or_else(|p| p.into_inner());
            let new = found.iter().find(|c| {
                pods::is_ready(c)
                    && !claimed.contains(pods::uid(c))
                    && pods::controller(c).map(|o| o.uid.as_str()) == owner
            });
            if let Some(new) = new {
                claimed.insert(pods::uid(new).to_string());
                let ready_at = ready_time(new, not_ready_since, seen_at);
                record_replacement(outcomes, i, new, ready_at, seen_at);
                return;
            }
            not_ready_since = asked_at;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// When `pod` turned Ready: its Ready condition's `lastTransitionTime` when the server gives
/// one, kept within what the polls saw (not Ready at `after`, Ready at `seen_at`), since the
/// server's clock may be skewed and real servers give whole seconds; else `seen_at`.
fn ready_time(pod: &Pod, after: DateTime<Utc>, seen_at: DateTime<Utc>) -> DateTime<Utc> {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    let transition = conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .and_then(|t| DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond() as u32));
    match transition {
        Some(t) if after <= seen_at => t.clamp(after, seen_at),
        Some(_) | None => seen_at,
    }
}

fn record_replacement(
    outcomes: &Outcomes,
    i: usize,
    new: &Pod,
    ready_at: DateTime<Utc>,
    seen_at: DateTime<Utc>,
) {
    update(outcomes, i, |o| {
        let gone = o.gone_at.unwrap_or(seen_at);
        o.replacement = Some(Replacement {
            pod: pods::full_name(new),
            node: pods::node_of(new).to_string(),
            ready_at,
            seen_ready_at: seen_at,
            ready_after_gone_ms: (ready_at - gone).num_milliseconds().max(0) as u64,
        });
    });
}
