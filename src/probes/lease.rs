//! `lease`: a leader-election Lease. Healthy while it has a holder whose lease has not
//! expired; the holder is in every sample's detail, and when it changes the failover time
//! (new acquireTime minus the old holder's last renewTime) is in that sample's detail.

use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// Unhealthy when renewTime is older than leaseDurationSeconds (nobody leads).
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
        "leader-election Lease: holder in the detail, failover time when it changes, unhealthy when expired";
    const EXAMPLE: &'static str = "name: kcm-leader\ninterval: 500ms\ntimeout: 2s\nlease: { namespace: kube-system, name: kube-controller-manager }";

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
            last: Mutex::new(None),
        }))
    }
}

/// The holder seen at the previous sample, with its last renewTime.
#[derive(Debug, Clone)]
struct Held {
    holder: String,
    renewed: Option<Timestamp>,
}

struct LeaseSampler {
    spec: LeaseProbe,
    client: ProbeClient,
    last: Mutex<Option<Held>>,
}

impl LeaseSampler {
    /// Records `now_held`; the failover detail when the holder changed since the last sample.
    fn observe(&self, now_held: &Held, acquired: Option<Timestamp>) -> Option<serde_json::Value> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let change = match last.as_ref() {
            Some(prev) if prev.holder != now_held.holder => {
                let gap = match (prev.renewed, acquired) {
                    (Some(r), Some(a)) => Some((a.as_millisecond() - r.as_millisecond()).max(0)),
                    _ => None,
                };
                Some(serde_json::json!({
                    "from": prev.holder, "to": now_held.holder, "failover_ms": gap,
                }))
            }
            _ => None,
        };
        *last = Some(now_held.clone());
        change
    }
}

fn expired(spec: &LeaseSpec, now: Timestamp) -> Option<i64> {
    let renewed = spec.renew_time.as_ref()?.0;
    let duration_ms = i64::from(spec.lease_duration_seconds?) * 1000;
    let age = now.as_millisecond() - renewed.as_millisecond();
    (age > duration_ms).then_some(age - duration_ms)
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
            let held = Held {
                holder: holder.clone(),
                renewed: spec.renew_time.as_ref().map(|t| t.0),
            };
            let failover = self.observe(&held, spec.acquire_time.as_ref().map(|t| t.0));
            if self.spec.require_fresh {
                if let Some(late) = expired(&spec, Timestamp::now()) {
                    return Err(format!("lease held by {holder} expired {late}ms ago"));
                }
            }
            let mut detail = serde_json::json!({
                "holder": holder,
                "transitions": spec.lease_transitions,
            });
            if let Some(f) = failover {
                detail["failover"] = f;
            }
            Ok(Some(detail))
        })
    }
}
