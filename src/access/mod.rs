//! How commands reach a node: over SSH (one multiplexed session per node), through
//! `docker exec` (kind nodes are containers), or on this machine, optionally inside a
//! network namespace. Every command has a timeout and is passed as argv, never through a
//! shell unless the user wrote one.

mod docker;
mod inventory;
mod local;
mod masters;
mod preflight;
mod spec;
mod ssh;

pub use docker::docker_argv;
pub use inventory::{inventory_path, looks_like_inventory, Inventory, InventoryError};
pub use local::{local_argv, run_local};
pub use masters::{end_master, is_master_of, MasterEnd, MasterHook, SshMaster};
pub use spec::{
    AccessSpec, DockerAccess, KnownHostsPolicy, LocalAccess, NodeSpec, ServiceSpec, SshAccess,
};
pub use ssh::{
    connect_failure, destination, known_hosts_file, remote_command, shell_quote,
    DEFAULT_CONNECT_TIMEOUT,
};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a command run on a node produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommandOutput {
    /// Exit code; `None` when the process was killed by a signal.
    pub exit_code: Option<i32>,
    /// Trimmed standard output.
    pub stdout: String,
    /// Trimmed standard error.
    pub stderr: String,
    /// Wall time the command took.
    #[serde(with = "crate::scenario::duration::millis")]
    pub duration: Duration,
}

impl CommandOutput {
    /// An output from raw bytes (lossy UTF-8, trimmed).
    pub fn new(exit_code: Option<i32>, stdout: &[u8], stderr: &[u8], duration: Duration) -> Self {
        Self {
            exit_code,
            stdout: String::from_utf8_lossy(stdout).trim().to_string(),
            stderr: String::from_utf8_lossy(stderr).trim().to_string(),
            duration,
        }
    }

    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// One line for logs and reports: exit code plus the first line of stderr/stdout.
    pub fn summary(&self) -> String {
        let text = if self.stderr.is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let first = text.lines().next().unwrap_or("");
        match self.exit_code {
            Some(code) => format!("exit {code}: {first}"),
            None => format!("killed by signal: {first}"),
        }
    }
}

/// Why a command could not be run to completion on a node.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The command (or the connection) did not finish within its timeout.
    #[error("node {node}: `{command}` did not finish within {}", humantime::format_duration(*.after))]
    Timeout {
        node: String,
        command: String,
        after: Duration,
    },
    /// The node could not be reached (connection refused, host key rejected, ...).
    #[error("node {node}: cannot connect: {message}")]
    Connect { node: String, message: String },
    /// The local program could not be started.
    #[error("node {node}: cannot start `{command}`: {message}")]
    Spawn {
        node: String,
        command: String,
        message: String,
    },
}

/// A live handle on one node; an SSH connection is opened on the first command and reused.
pub struct NodeAccess {
    spec: NodeSpec,
    ssh: Option<ssh::SshConnection>,
    /// Local and docker commands that started (SSH counts its own).
    started: AtomicU64,
}

impl NodeAccess {
    /// A handle that has not connected yet.
    pub fn new(spec: NodeSpec) -> Self {
        Self::with_hook(spec, Arc::default())
    }

    fn with_hook(spec: NodeSpec, hook: masters::SharedHook) -> Self {
        let ssh = match &spec.access {
            AccessSpec::Ssh(access) => Some(ssh::SshConnection::new(&spec.name, access, hook)),
            _ => None,
        };
        Self {
            spec,
            ssh,
            started: AtomicU64::new(0),
        }
    }

    /// How many commands have started on the node so far: over SSH, those whose channel
    /// opened; locally, those whose process was spawned. A command that failed to connect
    /// does not count, so an unchanged count means nothing reached the node in between.
    pub fn commands_started(&self) -> u64 {
        let ssh = self.ssh.as_ref().map_or(0, |s| s.commands_started());
        ssh + self.started.load(Ordering::Relaxed)
    }

    /// The node's inventory entry.
    pub fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    /// Runs `argv` on the node, killing it after `timeout`. For SSH, the first command
    /// also opens the connection, bounded separately by the connect timeout.
    pub async fn run(
        &self,
        argv: &[String],
        timeout: Duration,
    ) -> Result<CommandOutput, AccessError> {
        let name = &self.spec.name;
        match &self.spec.access {
            AccessSpec::Ssh(_) => {
                let ssh = self.ssh.as_ref().expect("NodeAccess::new prepares ssh");
                ssh.run(argv, timeout).await
            }
            AccessSpec::Docker(docker) => {
                self.count_started(run_local(name, &docker_argv(docker, argv), timeout).await)
            }
            AccessSpec::Local(local) => {
                self.count_started(run_local(name, &local_argv(local, argv), timeout).await)
            }
        }
    }

    fn count_started(
        &self,
        result: Result<CommandOutput, AccessError>,
    ) -> Result<CommandOutput, AccessError> {
        if !matches!(result, Err(AccessError::Spawn { .. })) {
            self.started.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// The SSH control socket while a master connection is open (None otherwise).
    pub async fn ssh_control_socket(&self) -> Option<PathBuf> {
        match &self.ssh {
            Some(ssh) => ssh.control_socket().await,
            None => None,
        }
    }

    /// Closes any open connection; a later command reconnects.
    pub async fn close(&self) {
        if let Some(ssh) = &self.ssh {
            ssh.close().await;
        }
    }
}

/// All nodes of a run by name.
#[derive(Default)]
pub struct NodePool {
    nodes: BTreeMap<String, NodeAccess>,
    hook: masters::SharedHook,
}

impl NodePool {
    /// A pool over the inventory; nothing is connected yet.
    pub fn new(specs: Vec<NodeSpec>) -> Self {
        let hook = masters::SharedHook::default();
        let nodes = specs
            .into_iter()
            .map(|s| (s.name.clone(), NodeAccess::with_hook(s, hook.clone())))
            .collect();
        Self { nodes, hook }
    }

    /// Calls `hook` for every SSH master the pool starts from now on (the run journals
    /// them, so `recover` can end them after a crash). Only the first hook set counts.
    pub fn on_ssh_master(&self, hook: MasterHook) {
        let _ = self.hook.set(hook);
    }

    /// The node called `name`.
    pub fn get(&self, name: &str) -> Option<&NodeAccess> {
        self.nodes.get(name)
    }

    /// Every node, ordered by name.
    pub fn all(&self) -> impl Iterator<Item = &NodeAccess> {
        self.nodes.values()
    }

    /// Closes every open connection.
    pub async fn close_all(&self) {
        futures::future::join_all(self.nodes.values().map(|n| n.close())).await;
    }
}
