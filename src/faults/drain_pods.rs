//! Evicting the pods of one node and following each: eviction requested, refusals by
//! disruption budgets, throttling by the server, gone, and its replacement Ready (where
//! and when). Gone-ness and replacements come from one watch per namespace
//! (`drain_watch`), not from requests per pod.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;
use tokio::sync::{oneshot, Semaphore};

use super::drain_watch::{self, Watches};
use super::FaultError;
use crate::cluster::pods::{self, Disposition, Evicted};

/// Eviction (or delete) requests in flight at once, all nodes together: enough that 500
/// pods take a fraction of a second, few enough that the server's priority-and-fairness
/// queues do not answer 429.
const MAX_IN_FLIGHT: usize = 32;

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
    /// What kubectl would warn about it (finished or orphaned DaemonSet pod).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    /// Its controller replaces it (managed, not a DaemonSet's, not finished).
    #[serde(skip)]
    pub replaced: bool,
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
            note: match d {
                Disposition::Evict(note) => note,
                _ => None,
            },
            replaced: owner.is_some_and(|o| o.kind != "DaemonSet") && !pods::is_finished(pod),
        }
    }
}

/// `evict 3 pods (a, b: finished DaemonSet pod, c); skip 2 (ds: DaemonSet-managed, ...)`.
pub fn summary(plans: &[PodPlan]) -> String {
    let (skip, evict): (Vec<&PodPlan>, Vec<&PodPlan>) =
        plans.iter().partition(|p| p.skipped.is_some());
    let names = |v: &[&PodPlan]| {
        v.iter()
            .map(|p| match p.note {
                Some(note) => format!("{}: {note}", p.pod),
                None => p.pod.clone(),
            })
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
    /// What kubectl would warn about it (finished or orphaned DaemonSet pod).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    pub eviction_requested_at: Option<DateTime<Utc>>,
    /// When the request that was accepted was sent.
    pub eviction_accepted_at: Option<DateTime<Utc>>,
    /// Refusals by a PodDisruptionBudget (429 naming the budget) before the eviction was
    /// accepted.
    pub retries: u32,
    pub last_refusal: Option<String>,
    /// 429s from the server's own protection (API priority and fairness), not a budget.
    pub throttled: u32,
    /// 403s because the namespace was terminating, retried as kubectl does.
    pub namespace_terminating: u32,
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
    /// last event that showed it not Ready and `seen_ready_at`; `seen_ready_at` without one.
    pub ready_at: DateTime<Utc>,
    /// When kubedrill's watch first saw it Ready.
    pub seen_ready_at: DateTime<Utc>,
    /// From the evicted pod being gone to its replacement Ready, in milliseconds; negative
    /// when the replacement was Ready before the old pod was gone (an overlap).
    pub ready_after_gone_ms: i64,
}

/// The drain of one node, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct NodeDrain {
    pub node: String,
    /// When kubedrill's cordon of it was answered (every target is cordoned before the
    /// first eviction).
    pub cordoned_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    /// Until every evicted pod was gone, in milliseconds.
    pub drain_ms: u64,
    /// Over its pods: budget refusals, throttling 429s, terminating-namespace 403s.
    pub pdb_refusals: u32,
    pub throttled: u32,
    pub namespace_terminating: u32,
    pub skipped: Vec<PodPlan>,
    pub pods: Vec<PodOutcome>,
}

type Outcomes = Arc<Mutex<Vec<PodOutcome>>>;

fn update(outcomes: &Outcomes, i: usize, f: impl FnOnce(&mut PodOutcome)) {
    f(&mut outcomes.lock().unwrap_or_else(|p| p.into_inner())[i]);
}

/// What every node's drain shares: the client, one watch per namespace, the bound on
/// requests in flight.
pub struct Drainer {
    client: kube::Client,
    watches: Watches,
    slots: Semaphore,
    plan: EvictionPlan,
}

/// A replacement still awaited when a node's pods are all gone.
pub struct Pending {
    i: usize,
    rx: oneshot::Receiver<drain_watch::Ready>,
    until: tokio::time::Instant,
}

impl Drainer {
    pub fn new(client: kube::Client, request_timeout: Duration, plan: EvictionPlan) -> Self {
        Self {
            watches: Watches::new(client.clone(), request_timeout),
            client,
            slots: Semaphore::new(MAX_IN_FLIGHT),
            plan,
        }
    }

    /// Evicts every non-skipped pod of `node` concurrently and waits until each is gone,
    /// by `deadline`; returns the node's report and the replacements still awaited (see
    /// [`Drainer::replacements`]), so the next node does not wait for them.
    pub async fn drain(
        &self,
        node: &str,
        cordoned_at: DateTime<Utc>,
        plans: Vec<PodPlan>,
        deadline: tokio::time::Instant,
    ) -> Result<(NodeDrain, Vec<Pending>), FaultError> {
        let started_at = Utc::now();
        let (skipped, evict): (Vec<PodPlan>, Vec<PodPlan>) =
            plans.into_iter().partition(|p| p.skipped.is_some());
        let outcomes: Outcomes = Arc::new(Mutex::new(
            evict
                .iter()
                .map(|p| PodOutcome {
                    pod: p.pod.clone(),
                    uid: p.uid.clone(),
                    owner: p.owner.clone(),
                    note: p.note,
                    ..Default::default()
                })
                .collect(),
        ));
        let mut watches = Vec::new();
        for p in &evict {
            watches.push(self.watches.of(&p.namespace).await.map_err(FaultError)?);
        }
        let all = futures::future::join_all(evict.iter().enumerate().map(|(i, p)| {
            let (outcomes, watch) = (&outcomes, &watches[i]);
            async move {
                let evicted = tokio::time::timeout_at(deadline, async {
                    let after = self.evict(p, outcomes, i).await?;
                    let gone = watch.gone(&p.uid);
                    let gone_at = gone
                        .await
                        .map_err(|_| FaultError(format!("the watch of {} ended", p.namespace)))?;
                    Ok::<_, FaultError>((after, gone_at))
                })
                .await;
                let (after, gone_at) = match evicted {
                    Err(_) => return Err(None),
                    Ok(Err(e)) => return Err(Some(e)),
                    Ok(Ok(x)) => x,
                };
                update(outcomes, i, |o| {
                    o.gone_at = Some(gone_at);
                    o.gone_after_ms = o
                        .eviction_requested_at
                        .map(|r| (gone_at - r).num_milliseconds().max(0) as u64);
                });
                let pending = match &p.owner_uid {
                    Some(owner) if p.replaced && !self.plan.replacement_timeout.is_zero() => {
                        Some(Pending {
                            i,
                            rx: watch.replacement(owner, after),
                            until: tokio::time::Instant::now() + self.plan.replacement_timeout,
                        })
                    }
                    _ => None,
                };
                Ok((gone_at, pending))
            }
        }));
        let mut done = Vec::new();
        let mut timed_out = false;
        for r in all.await {
            match r {
                Ok(x) => done.push(x),
                Err(Some(e)) => return Err(e),
                Err(None) => timed_out = true,
            }
        }
        if timed_out {
            let errors: Vec<String> = watches.iter().filter_map(|w| w.last_error()).collect();
            return Err(timeout_error(node, self.plan.timeout, &outcomes, &errors));
        }
        let (gone, pending): (Vec<DateTime<Utc>>, Vec<Option<Pending>>) = done.into_iter().unzip();
        let last_gone = gone.into_iter().max().unwrap_or(started_at);
        let pods = outcomes.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let sum = |f: fn(&PodOutcome) -> u32| pods.iter().map(f).sum();
        Ok((
            NodeDrain {
                node: node.to_string(),
                cordoned_at,
                started_at,
                drain_ms: (last_gone - started_at).num_milliseconds().max(0) as u64,
                pdb_refusals: sum(|o| o.retries),
                throttled: sum(|o| o.throttled),
                namespace_terminating: sum(|o| o.namespace_terminating),
                skipped,
                pods,
            },
            pending.into_iter().flatten().collect(),
        ))
    }

    /// Waits for the replacements `pending` (each within the replacement timeout from its
    /// pod being gone) and records them in `node`.
    pub async fn replacements(node: &mut NodeDrain, pending: Vec<Pending>) {
        let found = futures::future::join_all(
            pending
                .into_iter()
                .map(|p| async move { (p.i, tokio::time::timeout_at(p.until, p.rx).await) }),
        )
        .await;
        for (i, ready) in found {
            let Ok(Ok(ready)) = ready else { continue };
            let o = &mut node.pods[i];
            let gone = o.gone_at.unwrap_or(ready.seen_at);
            o.replacement = Some(Replacement {
                pod: ready.pod,
                node: ready.node,
                ready_at: ready.ready_at,
                seen_ready_at: ready.seen_at,
                ready_after_gone_ms: (ready.ready_at - gone).num_milliseconds(),
            });
        }
    }

    /// Requests the eviction (or deletion) until accepted; returns the instant the accepted
    /// request was sent (its replacement is a pod first seen after it).
    async fn evict(
        &self,
        p: &PodPlan,
        outcomes: &Outcomes,
        i: usize,
    ) -> Result<Instant, FaultError> {
        update(outcomes, i, |o| o.eviction_requested_at = Some(Utc::now()));
        let fail = |e: kube::Error| FaultError(format!("cannot evict {}: {e}", p.pod));
        let plan = &self.plan;
        loop {
            let slot = self.slots.acquire().await.expect("never closed");
            let (sent, sent_at) = (Instant::now(), Utc::now());
            let answer = if plan.disable_eviction {
                match pods::delete(
                    &self.client,
                    &p.namespace,
                    &p.name,
                    plan.grace_period_seconds,
                )
                .await
                {
                    Ok(true) => Ok(Evicted::Accepted),
                    Ok(false) => Ok(Evicted::Gone),
                    Err(e) => pods::classify_eviction_error(e),
                }
            } else {
                pods::evict(
                    &self.client,
                    &p.namespace,
                    &p.name,
                    plan.grace_period_seconds,
                )
                .await
            };
            drop(slot);
            match answer.map_err(fail)? {
                Evicted::Accepted | Evicted::Gone => {
                    update(outcomes, i, |o| o.eviction_accepted_at = Some(sent_at));
                    return Ok(sent);
                }
                Evicted::Refused(why) => {
                    update(outcomes, i, |o| {
                        o.retries += 1;
                        o.last_refusal = Some(why);
                    });
                    tokio::time::sleep(plan.retry_interval).await;
                }
                Evicted::Throttled { retry_after, .. } => {
                    update(outcomes, i, |o| o.throttled += 1);
                    tokio::time::sleep(retry_after).await;
                }
                Evicted::NamespaceTerminating(_) => {
                    // kubectl: a pod already being deleted is waited for; else retried.
                    let terminating =
                        pods::is_terminating(&self.client, &p.namespace, &p.name, &p.uid)
                            .await
                            .map_err(fail)?;
                    if terminating {
                        update(outcomes, i, |o| o.eviction_accepted_at = Some(sent_at));
                        return Ok(sent);
                    }
                    update(outcomes, i, |o| o.namespace_terminating += 1);
                    tokio::time::sleep(plan.retry_interval).await;
                }
            }
        }
    }
}

/// The drain's failure with every pod's outcome so far, since the report gets no
/// `NodeDrain` for a drain that did not finish.
fn timeout_error(
    node: &str,
    timeout: Duration,
    outcomes: &Outcomes,
    watch_errors: &[String],
) -> FaultError {
    let outcomes = outcomes.lock().unwrap_or_else(|p| p.into_inner());
    let left = outcomes.iter().filter(|o| o.gone_at.is_none()).count();
    let pods: Vec<String> = outcomes.iter().map(PodOutcome::compact).collect();
    let mut text = format!(
        "drain of {node} did not finish within {}: {left} of {} pod(s) still there; {}",
        humantime::format_duration(timeout),
        outcomes.len(),
        pods.join("; ")
    );
    if !watch_errors.is_empty() {
        text.push_str(&format!(" ({})", watch_errors.join("; ")));
    }
    FaultError(text)
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
        if self.throttled > 0 {
            parts.push(format!(
                "throttled (429 without a budget) {} time(s)",
                self.throttled
            ));
        }
        if self.namespace_terminating > 0 {
            parts.push(format!(
                "namespace terminating (403) {} time(s)",
                self.namespace_terminating
            ));
        }
        parts.push(match self.gone_after_ms {
            Some(ms) => format!("gone after {ms}ms"),
            None => "still there".to_string(),
        });
        format!("{}: {}", self.pod, parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(pod: &str, skipped: Option<&'static str>, note: Option<&'static str>) -> PodPlan {
        PodPlan {
            pod: pod.into(),
            namespace: "ns".into(),
            name: pod.into(),
            uid: "u".into(),
            owner: None,
            owner_uid: None,
            skipped,
            note,
            replaced: false,
        }
    }

    #[test]
    fn the_plan_names_what_kubectl_would_warn_about() {
        let text = summary(&[
            plan("ns/web", None, None),
            plan("ns/done", None, Some("finished DaemonSet pod")),
            plan("ns/logs", Some("DaemonSet-managed"), None),
        ]);
        assert_eq!(
            text,
            "evict 2 pod(s) (ns/web, ns/done: finished DaemonSet pod); skip 1 (ns/logs: DaemonSet-managed)"
        );
    }
}
