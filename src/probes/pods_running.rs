//! `pods-running`: at least `min` pods matching a selector are Running and Ready. An empty
//! match set is never healthy.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::kube_client::{bounded, ProbeClient};
use super::{ProbeKind, SampleResult, Sampler};
use crate::cluster::pods;
use crate::cluster::select::validate_label_selector;
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// `pods-running: { namespace: kube-system, selector: k8s-app=kube-dns, min: 2 }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PodsRunningProbe {
    pub namespace: String,
    pub selector: String,
    #[serde(default = "one")]
    pub min: usize,
}

fn one() -> usize {
    1
}

impl ProbeKind for PodsRunningProbe {
    const KIND: &'static str = "pods-running";
    const SUMMARY: &'static str =
        "at least `min` pods matching a selector are Running and Ready (no match = unhealthy)";
    const EXAMPLE: &'static str = "name: coredns-pods\ninterval: 500ms\ntimeout: 2s\npods-running: { namespace: kube-system, selector: k8s-app=kube-dns, min: 2 }";

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        if self.namespace.trim().is_empty() {
            errs.add(at.key("namespace"), "the namespace is empty");
        }
        validate_label_selector(&self.selector, &at.key("selector"), errs);
        if self.min == 0 {
            errs.add(
                at.key("min"),
                "min must be at least 1: an empty match set is never healthy",
            );
        }
    }

    fn target(&self) -> String {
        format!("pods {} in {}", self.selector, self.namespace)
    }

    fn build(&self, ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        Ok(Box::new(PodsRunningSampler {
            spec: self.clone(),
            client: ProbeClient::new(ctx, timeout),
        }))
    }
}

struct PodsRunningSampler {
    spec: PodsRunningProbe,
    client: ProbeClient,
}

impl Sampler for PodsRunningSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let client = self.client.get().await?;
            let s = &self.spec;
            let found = bounded(
                self.client.timeout(),
                pods::matching(&client, &s.namespace, Some(&s.selector)),
            )
            .await?;
            if found.is_empty() {
                return Err(format!("no pod matches {} in {}", s.selector, s.namespace));
            }
            let running = found
                .iter()
                .filter(|p| pods::phase(p) == "Running" && pods::is_ready(p))
                .count();
            if running >= s.min.max(1) {
                Ok(Some(
                    serde_json::json!({ "running": running, "matching": found.len() }),
                ))
            } else {
                Err(format!(
                    "{running} of {} matching pods Running and Ready (want {})",
                    found.len(),
                    s.min
                ))
            }
        })
    }
}
