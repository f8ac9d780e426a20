//! `lease`: a leader-election Lease. Healthy while it has a holder that keeps renewing it
//! (renewTime advances at least once per leaseDurationSeconds, timed locally); the holder is
//! in every sample's detail. When the holder changes, that sample's detail has the failover
//! time on kubedrill's own clock (from the sample that saw the old holder's last renewal,
//! the last evidence it led, to the first sample that sees the new holder) and, apart, the
//! holders' own timestamps (the old holder's last renewTime seen, the new holder's
//! acquireTime), which come from two clocks and are never subtracted. A lease its holder released (empty holderIdentity) is a handover, not
//! an outage, until nobody has taken it for the old holder's lease duration.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use serde::{Deserialize, Serialize};

use super::kube_client::{bounded, ProbeClient};
use super::{ProbeKind, SampleResult, Sampler};
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// `lease: { namespace: kube-system, name: kube-controller-manager, require-fresh: true }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LeaseProbe {
    #[serde(default = "kube_system")]
    pub namespace: String,
    pub name: String,
    /// Unhealthy when the sampler has seen renewTime not advance for longer than
    /// leaseDurationSeconds (nobody leads), timed on the local clock.
    #[serde(default = "yes")]
    pub require_fresh: bool,
}

fn kube_system() -> String {
    "kube-system".to_string()
}

fn yes() -> bool {
    true
}

impl ProbeKind for LeaseProbe {
    const KIND: &'static str = "lease";
    const SUMMARY: &'static str =
        "leader-election Lease: holder in the detail, failover time (kubedrill's clock) when it changes, unhealthy when not renewed within its duration; a released lease is a handover";
    const EXAMPLE: &'static str = "name: kcm-leader\ninterval: 500ms\ntimeout: 2s\nlease: { namespace: kube-system, name: kube-controller-manager }";

    fn needs_cluster(&self) -> bool {
        true
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        if self.name.trim().is_empty() {
            errs.add(at.key("name"), "the Lease name is empty");
        }
    }

    fn target(&self) -> String {
        format!("Lease {}/{}", self.namespace, self.name)
    }

    fn build(&self, ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        Ok(Box::new(LeaseSampler {
            spec: self.clone(),
            client: ProbeClient::new(ctx, timeout),
            watch: LeaseWatch::default(),
        }))
    }
}

/// The last holder seen, with its last renewTime and when (on the local monotonic clock)
/// the sampler first saw that renewal.
#[derive(Debug, Clone)]
struct Held {
    holder: String,
    renewed: Option<Timestamp>,
    renewal_seen: Instant,
    duration: Option<Duration>,
}

struct LeaseSampler {
    spec: LeaseProbe,
    client: ProbeClient,
    watch: LeaseWatch,
}

/// What the sampler remembers of the Lease between samples.
#[derive(Default)]
struct LeaseWatch {
    state: Mutex<WatchState>,
}

#[derive(Default)]
struct WatchState {
    last: Option<Held>,
    /// When the sampler first saw the Lease released by `last`'s holder.
    released: Option<Instant>,
}

/// One look at the Lease: what the sampler reads from it.
struct View<'a> {
    /// The holder; `None` when holderIdentity is empty or missing.
    holder: Option<&'a str>,
    renewed: Option<Timestamp>,
    acquired: Option<Timestamp>,
    duration: Option<Duration>,
}

/// What one look at the Lease told, against the previous looks.
#[derive(Debug)]
enum Observation {
    /// A holder. `failover` when it took over from another holder (or re-took a released
    /// lease); `overdue` when it has gone unrenewed longer than its duration.
    Held {
        failover: Option<serde_json::Value>,
        unrenewed_for: Duration,
        overdue: Option<Duration>,
    },
    /// Released by `by` `since` ago; `allowed` is `by`'s lease duration.
    Released {
        by: String,
        since: Duration,
        allowed: Option<Duration>,
    },
    /// No holder, and none seen before.
    NoHolder,
}

fn rfc3339(t: Option<Timestamp>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| t.to_string().into())
}

impl LeaseWatch {
    /// Records what this sample saw at `now`. Freshness is judged by renewTime advancing
    /// between samples, timed on the local clock, never by comparing the server's renewTime
    /// with the local wall clock (clock skew would read as an outage). The first sample
    /// counts as a renewal: nothing tells yet whether the holder still renews.
    fn observe(&self, view: &View, now: Instant) -> Observation {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(holder) = view.holder else {
            let Some(prev) = st.last.as_ref() else {
                return Observation::NoHolder;
            };
            let (by, allowed) = (prev.holder.clone(), prev.duration);
            let since = *st.released.get_or_insert(now);
            return Observation::Released {
                by,
                since: now.saturating_duration_since(since),
                allowed,
            };
        };
        let released = st.released.take();
        let (failover, renewal_seen) = match st.last.as_ref() {
            None => (None, now),
            Some(prev) if prev.holder == holder && released.is_none() => {
                let renewal = prev.renewed != view.renewed;
                (None, if renewal { now } else { prev.renewal_seen })
            }
            Some(prev) => {
                // Both ends on the sampler's clock, from the sample that saw the old
                // holder's last renewal; the holders' timestamps are only reported.
                let gap = now.saturating_duration_since(prev.renewal_seen);
                let failover = serde_json::json!({
                    "from": prev.holder,
                    "to": holder,
                    "failover_ms": gap.as_millis() as u64,
                    "released": released.is_some(),
                    "holder_times": {
                        "old_renew": rfc3339(prev.renewed),
                        "new_acquire": rfc3339(view.acquired),
                    },
                });
                (Some(failover), now)
            }
        };
        let unrenewed_for = now.saturating_duration_since(renewal_seen);
        let overdue = view
            .duration
            .and_then(|d| unrenewed_for.checked_sub(d))
            .filter(|d| !d.is_zero());
        st.last = Some(Held {
            holder: holder.to_string(),
            renewed: view.renewed,
            renewal_seen,
            duration: view.duration,
        });
        Observation::Held {
            failover,
            unrenewed_for,
            overdue,
        }
    }
}

fn lease_duration(spec: &LeaseSpec) -> Option<Duration> {
    Some(Duration::from_secs(
        u64::try_from(spec.lease_duration_seconds?).ok()?,
    ))
}

impl Sampler for LeaseSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let client = self.client.get().await?;
            let api: Api<Lease> = Api::namespaced(client, &self.spec.namespace);
            let lease = bounded(self.client.timeout(), api.get(&self.spec.name)).await?;
            let spec = lease.spec.unwrap_or_default();
            let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
            let view = View {
                holder,
                renewed: spec.renew_time.as_ref().map(|t| t.0),
                acquired: spec.acquire_time.as_ref().map(|t| t.0),
                duration: lease_duration(&spec),
            };
            let seen = self.watch.observe(&view, Instant::now());
            let transitions = spec.lease_transitions;
            match seen {
                Observation::NoHolder => Err(format!("Lease {} has no holder", self.spec.name)),
                Observation::Released { by, since, allowed } => {
                    let late = allowed.filter(|a| since > *a && self.spec.require_fresh);
                    if let Some(a) = late {
                        return Err(format!(
                            "lease released by {by} {}ms ago and not taken within its {}s duration",
                            since.as_millis(),
                            a.as_secs()
                        ));
                    }
                    Ok(Some(serde_json::json!({
                        "holder": null,
                        "released_by": by,
                        "released_ms": since.as_millis() as u64,
                        "transitions": transitions,
                    })))
                }
                Observation::Held {
                    failover,
                    unrenewed_for,
                    overdue,
                } => {
                    // A new holder counts as a renewal, so the sample that sees a failover
                    // is never failed for freshness.
                    if let Some(late) = overdue.filter(|_| self.spec.require_fresh) {
                        return Err(format!(
                            "lease held by {} not renewed for {}ms ({}ms past its {}s duration)",
                            holder.unwrap_or_default(),
                            unrenewed_for.as_millis(),
                            late.as_millis(),
                            spec.lease_duration_seconds.unwrap_or_default()
                        ));
                    }
                    let mut detail = serde_json::json!({
                        "holder": holder,
                        "transitions": transitions,
                    });
                    if let Some(f) = failover {
                        detail["failover"] = f;
                    }
                    Ok(Some(detail))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Option<Timestamp> {
        Some(Timestamp::from_millisecond(ms).unwrap())
    }

    fn held<'a>(holder: &'a str, renewed: i64, acquired: Option<i64>) -> View<'a> {
        View {
            holder: Some(holder),
            renewed: at(renewed),
            acquired: acquired.and_then(at),
            duration: Some(Duration::from_secs(15)),
        }
    }

    fn unpack(o: Observation) -> (Option<serde_json::Value>, Duration, Option<Duration>) {
        match o {
            Observation::Held {
                failover,
                unrenewed_for,
                overdue,
            } => (failover, unrenewed_for, overdue),
            other => panic!("not held: {other:?}"),
        }
    }

    #[test]
    fn failover_is_timed_on_the_samplers_clock_from_the_last_renewal_seen() {
        let s = LeaseWatch::default();
        let t0 = Instant::now();
        let secs = |n: u64| t0 + Duration::from_secs(n);
        // renewTime far from the local clock does not matter; only its advancing does.
        assert_eq!(
            unpack(s.observe(&held("a", 1_000, None), t0)).1,
            Duration::ZERO
        );
        let renewed = unpack(s.observe(&held("a", 3_000, None), secs(10)));
        assert_eq!((renewed.1, renewed.2), (Duration::ZERO, None));
        // Fresh (within 15s of the renewal seen at 10s) up to 25s, overdue after.
        assert_eq!(unpack(s.observe(&held("a", 3_000, None), secs(24))).2, None);
        let stale = unpack(s.observe(&held("a", 3_000, None), secs(26)));
        assert_eq!(stale.2, Some(Duration::from_secs(1)));
        // b's clock is hours ahead of a's: its acquireTime is reported, not subtracted.
        let over = unpack(s.observe(&held("b", 9_000_000, Some(8_999_500)), secs(27)));
        assert_eq!(over.1, Duration::ZERO, "a new holder is fresh");
        let f = over.0.expect("failover");
        assert_eq!(
            (f["from"].as_str(), f["to"].as_str()),
            (Some("a"), Some("b"))
        );
        assert_eq!(
            f["failover_ms"], 17_000,
            "from the sample that saw a's last renewal (10s) to 27s"
        );
        assert_eq!(f["released"], false);
        assert_eq!(f["holder_times"]["old_renew"], rfc3339(at(3_000)));
        assert_eq!(f["holder_times"]["new_acquire"], rfc3339(at(8_999_500)));
    }

    #[test]
    fn a_released_lease_is_a_handover() {
        let s = LeaseWatch::default();
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        assert!(matches!(
            s.observe(
                &View {
                    holder: None,
                    renewed: None,
                    acquired: None,
                    duration: None
                },
                t0
            ),
            Observation::NoHolder
        ));
        unpack(s.observe(&held("a", 1_000, None), ms(0)));
        unpack(s.observe(&held("a", 2_000, None), ms(1_000)));
        let empty = View {
            holder: None,
            renewed: at(2_500),
            acquired: None,
            duration: Some(Duration::from_secs(1)),
        };
        match s.observe(&empty, ms(1_500)) {
            Observation::Released { by, since, allowed } => {
                assert_eq!((by.as_str(), since), ("a", Duration::ZERO));
                assert_eq!(allowed, Some(Duration::from_secs(15)), "a's duration");
            }
            other => panic!("{other:?}"),
        }
        match s.observe(&empty, ms(2_500)) {
            Observation::Released { since, .. } => assert_eq!(since, Duration::from_secs(1)),
            other => panic!("{other:?}"),
        }
        let f = unpack(s.observe(&held("b", 3_000, Some(3_000)), ms(3_000)))
            .0
            .expect("failover");
        assert_eq!(f["from"], "a");
        assert_eq!(f["released"], true);
        assert_eq!(
            f["failover_ms"], 2_000,
            "from the sample that saw a's last renewal (1s) to b's (3s)"
        );
    }
}
