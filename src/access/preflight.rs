//! Checking, before a run starts, that every node it will touch can be reached: connect and
//! run a harmless `true`, so a refused host key or a wrong user fails the run up front
//! (nothing injected) instead of half-way through a fault.

use std::time::Duration;

use super::{AccessError, NodePool};

/// How long the harmless command may take once connected.
pub const PREFLIGHT_COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

impl NodePool {
    /// Runs `true` on every node in `names` (all at once; unknown names are skipped: the
    /// step that names them reports it), then closes the connections again so the run
    /// connects as it always does. `Err` is one line naming every node that failed.
    pub async fn check_access(&self, names: &[String]) -> Result<(), String> {
        let argv = vec!["true".to_string()];
        let checks = names.iter().filter_map(|n| self.get(n)).map(|node| async {
            let result = node.run(&argv, PREFLIGHT_COMMAND_TIMEOUT).await;
            node.close().await;
            let name = &node.spec().name;
            match result {
                Ok(out) if out.success() => None,
                Ok(out) => Some(format!(
                    "node {name}: the harmless `true` did not succeed ({})",
                    out.summary()
                )),
                Err(AccessError::Connect { message, .. }) => {
                    Some(format!("node {name}: {message}"))
                }
                Err(e) => Some(e.to_string()),
            }
        });
        let failed: Vec<String> = futures::future::join_all(checks)
            .await
            .into_iter()
            .flatten()
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "cannot reach every node the scenario touches; nothing was injected: {}",
                failed.join("; ")
            ))
        }
    }
}
