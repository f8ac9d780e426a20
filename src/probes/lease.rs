//! `lease`: a leader-election Lease. Healthy while it has a holder that keeps renewing it
//! (renewTime advances at least once per leaseDurationSeconds, timed locally); the holder is
//! in every sample's detail, and when it changes the failover time (new acquireTime minus the
//! old holder's last renewTime seen) is in that sample's detail.

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
        "leader-election Lease: holder in the detail, failover time when it changes, unhealthy when not renewed within its duration";
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

/// The holder seen at the previous sample, with its last renewTime and when (on the local
/// monotonic clock) the sampler last saw the Lease renewed.
#[derive(Debug, Clone)]
struct Held {
    holder: String,
    renewed: Option<Timestamp>,
    renewal_seen: Instant,
}

struct LeaseSampler {
    spec: LeaseProbe,
    client: ProbeClient,
    watch: LeaseWatch,
}

/// What the sampler remembers of the Lease between samples.
#[derive(Default)]
struct LeaseWatch {
    last: Mutex<Option<Held>>,
}

/// What one look at the Lease told, against the previous look.
struct Observation {
    /// The failover detail when the holder changed since the last sample.
    failover: Option<serde_json::Value>,
    /// How long the sampler has seen no renewal.
    unrenewed_for: Duration,
}

impl LeaseWatch {
    /// Records what this sample saw. Freshness is judged by renewTime advancing between
    /// samples, timed on the local clock, never by comparing the server's renewTime with the
    /// local wall clock (clock skew would read as an outage). The first sample counts as a
    /// renewal: nothing tells yet whether the holder still renews.
    fn observe(
        &self,
        holder: &str,
        renewed: Option<Timestamp>,
        acquired: Option<Timestamp>,
        now: Instant,
    ) -> Observation {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let (failover, renewal_seen) = match last.as_ref() {
            None => (None, now),
            Some(prev) => {
                let changed = prev.holder != holder;
                let failover = changed.then(|| {
                    // From the old holder's last renewTime the sampler saw to the new
                    // holder's acquireTime (both written by the cluster, not read locally).
                    let gap = match (prev.renewed, acquired) {
                        (Some(r), Some(a)) => {
                            Some((a.as_millisecond() - r.as_millisecond()).max(0))
                        }
                        _ => None,
                    };
                    serde_json::json!({ "from": prev.holder, "to": holder, "failover_ms": gap })
                });
                let renewal = changed || prev.renewed != renewed;
                (failover, if renewal { now } else { prev.renewal_seen })
            }
        };
        *last = Some(Held {
            holder: holder.to_string(),
            renewed,
            renewal_seen,
        });
        Observation {
            failover,
            unrenewed_for: now.saturating_duration_since(renewal_seen),
        }
    }
}

/// How long past `leaseDurationSeconds` the Lease has gone unrenewed, when it has.
fn overdue(spec: &LeaseSpec, unrenewed_for: Duration) -> Option<Duration> {
    let duration = Duration::from_secs(u64::try_from(spec.lease_duration_seconds?).ok()?);
    unrenewed_for.checked_sub(duration).filter(|d| !d.is_zero())
}

impl Sampler for LeaseSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let client = self.client.get().await?;
            let api: Api<Lease> = Api::namespaced(client, &self.spec.namespace);
            let lease = bounded(self.client.timeout(), api.get(&self.spec.name)).await?;
            let spec = lease.spec.unwrap_or_default();
            let Some(holder) = spec.holder_identity.clone().filter(|h| !h.is_empty()) else {
                return Err(format!("Lease {} has no holder", self.spec.name));
            };
            let seen = self.watch.observe(
                &holder,
                spec.renew_time.as_ref().map(|t| t.0),
                spec.acquire_time.as_ref().map(|t| t.0),
                Instant::now(),
            );
            // A new holder counts as a renewal, so the sample that sees a failover is never
            // failed for freshness; the error still names it, should that ever change.
            if self.spec.require_fresh {
                if let Some(late) = overdue(&spec, seen.unrenewed_for) {
                    let mut error = format!(
                        "lease held by {holder} not renewed for {}ms ({}ms past its {}s duration)",
                        seen.unrenewed_for.as_millis(),
                        late.as_millis(),
                        spec.lease_duration_seconds.unwrap_or_default()
                    );
                    if let Some(f) = &seen.failover {
                        error.push_str(&format!("; failover {f}"));
                    }
                    return Err(error);
                }
            }
            let mut detail = serde_json::json!({
                "holder": holder,
                "transitions": spec.lease_transitions,
            });
            if let Some(f) = seen.failover {
                detail["failover"] = f;
            }
            Ok(Some(detail))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Option<Timestamp> {
        Some(Timestamp::from_millisecond(ms).unwrap())
    }

    #[test]
    fn freshness_is_renewals_seen_and_a_failover_is_a_renewal() {
        let s = LeaseWatch::default();
        let t0 = Instant::now();
        let spec = LeaseSpec {
            lease_duration_seconds: Some(15),
            ..Default::default()
        };
        // renewTime far from the local clock does not matter; only its advancing does.
        assert_eq!(
            s.observe("a", at(1_000), None, t0).unrenewed_for,
            Duration::ZERO
        );
        let renewed = s.observe("a", at(3_000), None, t0 + Duration::from_secs(10));
        assert_eq!(renewed.unrenewed_for, Duration::ZERO);
        let stale = s.observe("a", at(3_000), None, t0 + Duration::from_secs(26));
        assert_eq!(
            overdue(&spec, stale.unrenewed_for),
            Some(Duration::from_secs(1))
        );
        // The new holder took over long after the old one's last renewal seen (3s).
        let over = s.observe("b", at(20_000), at(19_500), t0 + Duration::from_secs(27));
        assert_eq!(over.unrenewed_for, Duration::ZERO, "a new holder is fresh");
        let f = over.failover.expect("failover");
        assert_eq!(
            (f["from"].as_str(), f["to"].as_str()),
            (Some("a"), Some("b"))
        );
        assert_eq!(f["failover_ms"], 16_500);
    }
}
