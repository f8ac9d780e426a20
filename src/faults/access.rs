//! How faults reach what they change: the cluster client and inventory nodes, with errors
//! worded for the fault record.

use std::time::Duration;

use super::FaultError;
use crate::access::{CommandOutput, NodeAccess};
use crate::engine::RunContext;

/// The cluster client, or a fault error saying why there is none.
pub async fn cluster_client(ctx: &RunContext) -> Result<kube::Client, FaultError> {
    ctx.cluster.client().await.map_err(FaultError)
}

/// Inventory node `name`.
pub fn inventory_node<'a>(ctx: &'a RunContext, name: &str) -> Result<&'a NodeAccess, FaultError> {
    ctx.nodes
        .get(name)
        .ok_or_else(|| FaultError(format!("node {name} is not in the inventory")))
}

/// Runs `argv` on `node`; a command that exits non-zero is an error naming it and the node.
pub async fn run_checked(
    node: &NodeAccess,
    argv: &[String],
    timeout: Duration,
) -> Result<CommandOutput, FaultError> {
    let out = node.run(argv, timeout).await.map_err(FaultError::new)?;
    if !out.success() {
        return Err(FaultError(format!(
            "`{}` on {}: {}",
            argv.join(" "),
            node.spec().name,
            out.summary()
        )));
    }
    Ok(out)
}
