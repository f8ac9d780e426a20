//! Faults: each kind is one file with a spec (strict serde), a pure `validate`, and a
//! `prepare` that resolves targets read-only and returns the reverts to journal BEFORE
//! `inject` runs. Adding a fault = a new file plus one line in `fault_kinds!` below.

mod access;
mod command;
mod cordon;
mod drain;
mod drain_pods;
mod drain_watch;
mod effect;
mod etcd_partition;
mod k8s_nodes;
mod kill_process;
mod nats_leader;
mod node_command;
mod node_isolate;
mod pod_delete;
mod prepared;
mod stop_service;
pub mod targets;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::engine::RunContext;
use crate::revert::RevertAction;
use crate::scenario::{Errors, KeyPath};
pub use access::{in_pod, refuse_from_pod};
pub use effect::EffectMark;

/// Why a fault could not be prepared or injected.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FaultError(pub String);

impl FaultError {
    /// An error from anything displayable.
    pub fn new(msg: impl std::fmt::Display) -> Self {
        Self(msg.to_string())
    }
}

/// A fault whose targets are resolved; nothing has changed yet.
pub trait Prepared: Send {
    /// What will be done, concretely (resolved nodes, pods, leaders).
    fn describe(&self) -> String;
    /// The reverts, journaled and pushed on the rollback stack before `inject`.
    fn reverts(&self) -> Vec<RevertAction>;
    /// The exact commands `inject` runs, one line each (`on NODE: argv`), for `plan`;
    /// empty when `describe` already shows them.
    fn commands(&self) -> Vec<String> {
        Vec::new()
    }
    /// Injects the fault; returns details for the report.
    fn inject(self: Box<Self>) -> BoxFuture<'static, Result<serde_json::Value, FaultError>>;
    /// Inventory nodes this fault makes unavailable and how many may be unavailable at once
    /// (counting every fault still in place); `None` for faults that do not take nodes down.
    fn blast_radius(&self) -> Option<BlastRadius> {
        None
    }
    /// Where `inject` marks the moment the fault took effect, when it does more after it
    /// (the hold counts from there); `None`: in effect when `inject` returns.
    fn effect_mark(&self) -> Option<EffectMark> {
        None
    }
}

/// Nodes a fault takes down and the `max-unavailable` it allows across the run.
#[derive(Debug, Clone, PartialEq)]
pub struct BlastRadius {
    pub nodes: Vec<String>,
    pub max_unavailable: usize,
}

/// Behaviour every fault kind provides.
pub trait FaultKind {
    /// Kind name as written in YAML.
    const KIND: &'static str;
    /// One line for `kubedrill list`.
    const SUMMARY: &'static str;
    /// A YAML example of a whole `fault` step (validated by a test).
    const EXAMPLE: &'static str;
    /// Checks the spec without touching the network or the filesystem.
    fn validate(&self, at: &KeyPath, errs: &mut Errors);
    /// What the fault does, before targets are resolved.
    fn describe(&self) -> String;
    /// How it is undone, before targets are resolved.
    fn undo(&self) -> String;
    /// Inventory node names this spec refers to (checked against the inventory when the
    /// scenario is validated and the inventory can be read).
    fn node_refs(&self) -> Vec<String> {
        Vec::new()
    }
    /// True when this kind talks to the Kubernetes API (the run then checks the
    /// connection and the context guard before anything starts).
    fn needs_cluster(&self) -> bool {
        false
    }
    /// Resolves targets with read-only calls; must not change anything.
    fn prepare(
        &self,
        ctx: Arc<RunContext>,
    ) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>>;
}

macro_rules! fault_kinds {
    ($($variant:ident => $ty:ty),* $(,)?) => {
        /// Every fault kind, externally tagged in YAML (`command: {...}`).
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum FaultSpec { $($variant($ty)),* }

        impl FaultSpec {
            /// Kind name as written in YAML.
            pub fn kind(&self) -> &'static str {
                match self { $(FaultSpec::$variant(_) => <$ty as FaultKind>::KIND),* }
            }
            /// See [`FaultKind::node_refs`].
            pub fn node_refs(&self) -> Vec<String> {
                match self { $(FaultSpec::$variant(f) => f.node_refs()),* }
            }
            /// See [`FaultKind::needs_cluster`].
            pub fn needs_cluster(&self) -> bool {
                match self { $(FaultSpec::$variant(f) => f.needs_cluster()),* }
            }
            /// See [`FaultKind::validate`].
            pub fn validate(&self, at: &KeyPath, errs: &mut Errors) {
                match self { $(FaultSpec::$variant(f) => f.validate(at, errs)),* }
            }
            /// See [`FaultKind::describe`].
            pub fn describe(&self) -> String {
                match self { $(FaultSpec::$variant(f) => f.describe()),* }
            }
            /// See [`FaultKind::undo`].
            pub fn undo(&self) -> String {
                match self { $(FaultSpec::$variant(f) => f.undo()),* }
            }
            /// See [`FaultKind::prepare`].
            pub fn prepare(&self, ctx: Arc<RunContext>) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
                match self { $(FaultSpec::$variant(f) => f.prepare(ctx)),* }
            }
        }

        /// (kind, summary, example) for every fault kind.
        pub fn catalogue() -> Vec<(&'static str, &'static str, &'static str)> {
            vec![$((<$ty as FaultKind>::KIND, <$ty as FaultKind>::SUMMARY, <$ty as FaultKind>::EXAMPLE)),*]
        }
    };
}

impl FaultSpec {
    /// Tells the fault which scenario and step (0-based) it belongs to, for names that
    /// `plan` and the run must agree on (an etcd partition's chain).
    pub fn place(&mut self, scenario: &str, step: usize) {
        if let FaultSpec::EtcdPartition(f) = self {
            f.place(scenario, step);
        }
        if let FaultSpec::NodeIsolate(f) = self {
            f.place(scenario, step);
        }
    }

    /// The etcd partition behind this spec, if it is one.
    pub fn as_etcd_partition(&self) -> Option<&etcd_partition::EtcdPartitionFault> {
        match self {
            FaultSpec::EtcdPartition(f) => Some(f),
            _ => None,
        }
    }
}

fault_kinds! {
    Command => command::CommandFault,
    Cordon => cordon::CordonFault,
    Drain => drain::DrainFault,
    PodDelete => pod_delete::PodDeleteFault,
    StopService => stop_service::StopService,
    StopKubelet => stop_service::StopKubelet,
    NodeCommand => node_command::NodeCommandFault,
    EtcdPartition => etcd_partition::EtcdPartitionFault,
    NatsLeaderKill => nats_leader::NatsLeaderKillFault,
    NodeIsolate => node_isolate::NodeIsolateFault,
    KillProcess => kill_process::KillProcessFault,
}
