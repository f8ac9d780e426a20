//! What faults, probes and reverts can reach during a run.

use std::path::PathBuf;
use std::time::Duration;

use crate::access::NodePool;
use crate::cluster::Cluster;

/// Shared by every fault, probe and revert of one run.
pub struct RunContext {
    pub nodes: NodePool,
    pub cluster: Cluster,
    /// The run directory (journal and reports).
    pub run_dir: PathBuf,
    /// Timeout for each revert action.
    pub revert_timeout: Duration,
}
