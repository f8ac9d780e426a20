//! The built `kubectl` with the admin kubeconfig: how `up` applies manifests and how
//! `status` reads nodes and fixtures. Every call has a request and a process timeout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{admin_kubeconfig, path};
use crate::access::{run_local, CommandOutput};
use crate::lab::config::Layout;
use crate::lab::LabError;

const TIMEOUT: Duration = Duration::from_secs(20);

/// kubectl as the lab admin.
#[derive(Debug, Clone)]
pub struct Kubectl {
    program: PathBuf,
    kubeconfig: PathBuf,
    /// Discovery and HTTP cache inside the lab (kubectl's default is `~/.kube/cache`,
    /// which `down` would leave behind).
    cache_dir: PathBuf,
}

impl Kubectl {
    pub fn new(l: &Layout, program: &Path) -> Self {
        Self {
            program: program.into(),
            kubeconfig: admin_kubeconfig(l),
            cache_dir: l.dir.join("kubectl-cache"),
        }
    }

    /// Runs `kubectl ARGS` and returns its output whatever the exit code.
    pub async fn try_run(&self, args: &[&str]) -> Result<CommandOutput, LabError> {
        let mut argv = vec![
            path(&self.program),
            format!("--kubeconfig={}", path(&self.kubeconfig)),
            format!("--cache-dir={}", path(&self.cache_dir)),
            "--request-timeout=10s".into(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        run_local("lab", &argv, TIMEOUT)
            .await
            .map_err(|e| LabError::Command {
                command: argv.join(" "),
                message: e.to_string(),
            })
    }

    /// Runs `kubectl ARGS`, which must succeed; returns its stdout.
    pub async fn run(&self, args: &[&str]) -> Result<String, LabError> {
        let out = self.try_run(args).await?;
        if !out.success() {
            return Err(LabError::Command {
                command: format!("kubectl {}", args.join(" ")),
                message: out.summary(),
            });
        }
        Ok(out.stdout)
    }

    /// `kubectl get ARGS -o json`, parsed.
    pub async fn get_json(&self, args: &[&str]) -> Result<serde_json::Value, String> {
        let mut all = vec!["get"];
        all.extend(args);
        all.extend(["-o", "json"]);
        let out = self.run(&all).await.map_err(|e| e.to_string())?;
        serde_json::from_str(&out).map_err(|e| format!("kubectl get {}: {e}", args.join(" ")))
    }
}
