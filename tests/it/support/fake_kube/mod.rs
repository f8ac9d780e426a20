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

#![allow(dead_code)]

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
