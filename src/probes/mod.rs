//! Probes: each kind is one file with a spec (strict serde), a pure `validate`, and a
//! `build` that returns the [`Sampler`] the engine calls on the probe's schedule.
//! Adding a probe = a new file plus one line in `probe_kinds!` below.

mod api;
mod command;
mod command_result;
mod dns;
mod dns_wire;
mod etcd;
pub(crate) mod http;
mod kube_client;
mod lease;
mod nats;
mod node_command;
mod node_ready;
mod one_syn;
mod pod_schedule;
mod pods_running;
mod tcp;
mod workload;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// What one sample found: `Ok(detail)` healthy, `Err(short text)` failed.
pub type SampleResult = Result<Option<serde_json::Value>, String>;

/// A built probe, called once per tick. The engine wraps each call in the probe timeout.
pub trait Sampler: Send + Sync {
    /// Takes one sample.
    fn sample(&self) -> BoxFuture<'_, SampleResult>;
}

/// Behaviour every probe kind provides.
pub trait ProbeKind {
    /// Kind name as written in YAML.
    const KIND: &'static str;
    /// One line for `kubedrill list`.
    const SUMMARY: &'static str;
    /// A YAML example of a whole probe entry (validated by a test).
    const EXAMPLE: &'static str;
    /// Checks the spec without touching the network or the filesystem.
    fn validate(&self, at: &KeyPath, errs: &mut Errors);
    /// What is probed, for reports (no secrets).
    fn target(&self) -> String;
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
    /// A revert the run journals before the probe's first sample and runs in its final
    /// rollback (and `recover` after a killed run): for probes that create objects.
    fn cleanup(&self, _ctx: &RunContext) -> Option<crate::revert::RevertAction> {
        None
    }
    /// Builds the sampler. `timeout` is the per-sample timeout.
    fn build(&self, ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String>;
}

macro_rules! probe_kinds {
    ($($variant:ident => $ty:ty),* $(,)?) => {
        /// Every probe kind, externally tagged in YAML (`http: {...}`).
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum ProbeSpec { $($variant($ty)),* }

        impl ProbeSpec {
            /// Kind name as written in YAML.
            pub fn kind(&self) -> &'static str {
                match self { $(ProbeSpec::$variant(_) => <$ty as ProbeKind>::KIND),* }
            }
            /// See [`ProbeKind::cleanup`].
            pub fn cleanup(&self, ctx: &RunContext) -> Option<crate::revert::RevertAction> {
                match self { $(ProbeSpec::$variant(p) => p.cleanup(ctx)),* }
            }
            /// See [`ProbeKind::node_refs`].
            pub fn node_refs(&self) -> Vec<String> {
                match self { $(ProbeSpec::$variant(p) => p.node_refs()),* }
            }
            /// See [`ProbeKind::needs_cluster`].
            pub fn needs_cluster(&self) -> bool {
                match self { $(ProbeSpec::$variant(p) => p.needs_cluster()),* }
            }
            /// See [`ProbeKind::validate`].
            pub fn validate(&self, at: &KeyPath, errs: &mut Errors) {
                match self { $(ProbeSpec::$variant(p) => p.validate(at, errs)),* }
            }
            /// See [`ProbeKind::target`].
            pub fn target(&self) -> String {
                match self { $(ProbeSpec::$variant(p) => p.target()),* }
            }
            /// See [`ProbeKind::build`].
            pub fn build(&self, ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
                match self { $(ProbeSpec::$variant(p) => p.build(ctx, timeout)),* }
            }
        }

        /// (kind, summary, example) for every probe kind.
        pub fn catalogue() -> Vec<(&'static str, &'static str, &'static str)> {
            vec![$((<$ty as ProbeKind>::KIND, <$ty as ProbeKind>::SUMMARY, <$ty as ProbeKind>::EXAMPLE)),*]
        }
    };
}

probe_kinds! {
    Http => http::HttpProbe,
    Api => api::ApiProbe,
    NodeReady => node_ready::NodeReadyProbe,
    Workload => workload::WorkloadProbe,
    PodsRunning => pods_running::PodsRunningProbe,
    PodSchedule => pod_schedule::PodScheduleProbe,
    Lease => lease::LeaseProbe,
    Tcp => tcp::TcpProbe,
    Dns => dns::DnsProbe,
    Command => command::CommandProbe,
    NodeCommand => node_command::NodeCommandProbe,
    Etcd => etcd::EtcdProbe,
    Nats => nats::NatsProbe,
}

/// Shared check: an argv must not be empty.
pub(crate) fn validate_argv(argv: &[String], at: &KeyPath, errs: &mut Errors) {
    if argv.first().is_none_or(|p| p.trim().is_empty()) {
        errs.add(
            at,
            "the command is empty; write it as a list, e.g. [\"curl\", \"-sf\", \"http://...\"]",
        );
    }
}

/// Turns an elapsed-with-error into the sample's short text (first line, bounded length).
pub(crate) fn short_error(text: impl std::fmt::Display) -> String {
    let s = text.to_string();
    let first = s.lines().next().unwrap_or("").trim();
    if first.chars().count() > 200 {
        format!("{}…", first.chars().take(200).collect::<String>())
    } else {
        first.to_string()
    }
}
