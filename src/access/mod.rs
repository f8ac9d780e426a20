//! How commands reach a node: over SSH (one multiplexed session per node), through
//! `docker exec` (kind nodes are containers), or on this machine, optionally inside a
//! network namespace. Every command has a timeout and is passed as argv, never through a
//! shell unless the user wrote one.

mod spec;

pub use spec::{
    AccessSpec, DockerAccess, KnownHostsPolicy, LocalAccess, NodeSpec, ServiceSpec, SshAccess,
};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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

/// A live handle on one node; connections are opened lazily and reused.
pub struct NodeAccess {
    spec: NodeSpec,
}

impl NodeAccess {
    /// A handle that has not connected yet.
    pub fn new(spec: NodeSpec) -> Self {
        Self { spec }
    }

    /// The node's inventory entry.
    pub fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    /// Runs `argv` on the node, killing it after `timeout`.
    pub async fn run(
        &self,
        argv: &[String],
        timeout: Duration,
    ) -> Result<CommandOutput, AccessError> {
        let full = self.local_argv(argv)?;
        run_local(&self.spec.name, &full, timeout).await
    }

    /// Closes any open connection.
    pub async fn close(&self) {}

    fn local_argv(&self, argv: &[String]) -> Result<Vec<String>, AccessError> {
        match &self.spec.access {
            AccessSpec::Local(local) => Ok(match &local.netns {
                Some(ns) => ["ip", "netns", "exec", ns]
                    .iter()
                    .map(|s| s.to_string())
                    .chain(argv.iter().cloned())
                    .collect(),
                None => argv.to_vec(),
            }),
            _ => Err(AccessError::Connect {
                node: self.spec.name.clone(),
                message: "this access method is not implemented yet".into(),
            }),
        }
    }
}

/// All nodes of a run by name.
#[derive(Default)]
pub struct NodePool {
    nodes: BTreeMap<String, NodeAccess>,
}

impl NodePool {
    /// A pool over the inventory; nothing is connected yet.
    pub fn new(specs: Vec<NodeSpec>) -> Self {
        let nodes = specs
            .into_iter()
            .map(|s| (s.name.clone(), NodeAccess::new(s)))
            .collect();
        Self { nodes }
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
        for node in self.nodes.values() {
            node.close().await;
        }
    }
}

/// Runs a local program with a timeout, capturing trimmed output. The child is killed
/// when the timeout fires.
pub async fn run_local(
    node: &str,
    argv: &[String],
    timeout: Duration,
) -> Result<CommandOutput, AccessError> {
    let command = argv.join(" ");
    let Some((program, args)) = argv.split_first() else {
        return Err(AccessError::Spawn {
            node: node.into(),
            command,
            message: "empty command".into(),
        });
    };
    let start = Instant::now();
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| AccessError::Spawn {
            node: node.into(),
            command: command.clone(),
            message: e.to_string(),
        })?;
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => Ok(CommandOutput {
            exit_code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            duration: start.elapsed(),
        }),
        Ok(Err(e)) => Err(AccessError::Spawn {
            node: node.into(),
            command,
            message: e.to_string(),
        }),
        Err(_) => Err(AccessError::Timeout {
            node: node.into(),
            command,
            after: timeout,
        }),
    }
}
