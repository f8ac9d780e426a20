//! The run engine: probes sample on their own schedules while the steps run; every fault's
//! revert is journaled before injection and run on success, failure, abort and signals.

mod clock;
mod conditions;
mod context;
mod events;
pub mod journal;
mod node_access;
pub mod preflight;
mod probe_records;
mod recovered_report;
mod revert_need;
mod run_registry;
mod runner;
pub mod sample_file;
mod sampling;
mod setup;
mod signals;
mod state;
mod steps;
mod verdict_of;

pub use clock::RunClock;
pub use context::RunContext;
pub use events::{EngineEvent, EventSink};
pub use node_access::{check_touched_nodes, journal_ssh_masters, touched_nodes};
pub use recovered_report::recovered_report;
pub use runner::{run, RunOptions, RunOutcome};
pub use setup::{
    build_context, cluster_settings, load_inventory, scenario_nodes, ClusterOverrides,
};
pub use steps::describe_step;
pub use verdict_of::planned_steps;
