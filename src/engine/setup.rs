//! Building a run's context from the scenario and the command line.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::context::RunContext;
use crate::access::{NodePool, NodeSpec};
use crate::cluster::{Cluster, ClusterSettings};
use crate::scenario::Scenario;

/// Command-line overrides for the cluster connection.
#[derive(Debug, Clone, Default)]
pub struct ClusterOverrides {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub allow_contexts: Vec<String>,
}

/// Reads an inventory file (`nodes: [...]`); relative paths are relative to the scenario.
pub fn load_inventory(path: &Path, scenario_file: &Path) -> Result<Vec<NodeSpec>, String> {
    let full = crate::access::inventory_path(path, scenario_file);
    // The guarded read (regular file, size, depth) and located errors, as `validate` has.
    crate::access::Inventory::load(&full)
        .map(|inv| inv.nodes)
        .map_err(|e| match e {
            crate::access::InventoryError::Read { .. } => format!("{e}{}", lab_hint(&full)),
            invalid => invalid.to_string(),
        })
}

/// How to create a missing inventory when it is one the local lab writes.
fn lab_hint(inventory: &Path) -> &'static str {
    use crate::lab::LabConfig;
    if inventory.starts_with(LabConfig::default().dir) {
        " (the local lab's: run `kubedrill lab up` first)"
    } else if inventory.starts_with(LabConfig::kubernetes_default().dir) {
        " (the Kubernetes lab's: run `kubedrill lab up --kubernetes` first)"
    } else {
        ""
    }
}

/// Every node of the scenario: the inventory file's, then the inline ones (inline wins).
pub fn scenario_nodes(s: &Scenario) -> Result<Vec<NodeSpec>, String> {
    let mut nodes = match &s.target.inventory {
        Some(p) => load_inventory(p, &s.file)?,
        None => Vec::new(),
    };
    for n in &s.target.nodes {
        nodes.retain(|x| x.name != n.name);
        nodes.push(n.clone());
    }
    Ok(nodes)
}

/// Cluster settings from the scenario plus command-line overrides.
pub fn cluster_settings(s: &Scenario, o: &ClusterOverrides) -> ClusterSettings {
    let mut allowed = s.target.allowed_contexts.clone();
    if let Some(c) = &s.target.context {
        if !allowed.contains(c) {
            allowed.push(c.clone());
        }
    }
    ClusterSettings {
        kubeconfig: o.kubeconfig.clone().or_else(|| s.target.kubeconfig.clone()),
        context: o.context.clone().or_else(|| s.target.context.clone()),
        allowed,
        allow_extra: o.allow_contexts.clone(),
        request_timeout: Duration::from_secs(10),
    }
}

/// The run context for `s`.
pub fn build_context(
    s: &Scenario,
    o: &ClusterOverrides,
    run_dir: &Path,
) -> Result<RunContext, String> {
    Ok(RunContext {
        nodes: NodePool::new(scenario_nodes(s)?),
        cluster: Cluster::new(cluster_settings(s, o)),
        run_dir: run_dir.to_path_buf(),
        revert_timeout: s.settings.revert_timeout.get(),
    })
}

/// `<root>/<name>-<UTC timestamp>`, made unique with a suffix when needed; private (0700):
/// it holds host names, users, key paths and commands.
pub fn create_run_dir(root: &Path, name: &str) -> std::io::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    std::fs::create_dir_all(root)?;
    for n in 0.. {
        let dir = if n == 0 {
            root.join(format!("{name}-{stamp}"))
        } else {
            root.join(format!("{name}-{stamp}-{n}"))
        };
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                // The mode is 0700 whatever the umask.
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("an unused directory name always exists")
}
