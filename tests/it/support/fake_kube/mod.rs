//! A stateful fake Kubernetes API server for tests, faithful enough for the real `kubectl`.
//!
//! It speaks plain HTTP/1.1 on `127.0.0.1` (random port) and implements:
//! - `/version`, `/healthz`, `/readyz`, `/livez` ("ok"), and unaggregated discovery (`/api`,
//!   `/apis`, `/api/v1`, `/apis/{apps,policy,coordination.k8s.io}/v1`) that lists
//!   `pods/eviction` under group policy/v1, so `kubectl drain` uses the Eviction API;
//! - namespaces, nodes, pods, deployments, replicasets, statefulsets, daemonsets,
//!   poddisruptionbudgets and leases: list (label and field selectors, `limit`/`continue`),
//!   get, create, update, patch (strategic merge, merge, JSON patch, apply) and delete, with
//!   `resourceVersion` bumped on every write and kube-apiserver-shaped `Status` failures;
//! - pod deletion with a grace period, evictions with PodDisruptionBudget accounting (429
//!   when a budget would be violated), and a log of requests, deletions and evictions;
//! - simulated controllers that recreate evicted or deleted pods and keep statuses current
//!   (see `controllers.rs`), and fault switches: outages, hanging, latency.
//!
//! It deliberately does not implement: watch (answered 405), aggregated discovery, Table
//! output (kubectl prints plain lists itself), authentication and authorization, admission,
//! validation beyond names, field ownership for apply, garbage collection, scale-down,
//! rolling updates, and the per-resource field-selector allow-list (any field path works).
//!
//! Seen with kubectl 1.32 against it (see `tests/it/kubectl_oracle.rs`): plain lists print as
//! NAME/AGE tables; kubectl sends no credentials over plain HTTP (kube-rs does); with discovery
//! uncached kubectl retries `/api` five times against a hanging server (~10 s at 2 s each).

// Not every test binary module uses every helper or re-export.
#![allow(dead_code, unused_imports)]

mod api;
mod controllers;
mod crud;
mod discovery;
mod disruption;
mod eviction;
mod handle;
mod kubeconfig;
mod meta;
mod patch;
mod pods;
mod records;
mod resources;
mod routes;
mod seeds;
mod selectors;
mod server;
mod snapshot;
mod state;
mod status;
mod workloads;

pub use handle::FakeKube;
pub use records::{DeleteRecord, EvictionRecord, RequestRecord};
pub use seeds::{LeaseSeed, NodeSeed, PdbSeed, PodOwner, PodSeed, WorkloadKind, WorkloadSeed};
pub use server::Outage;
pub use snapshot::EndState;
pub use state::ControllerTiming;
