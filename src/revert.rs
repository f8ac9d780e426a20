//! Reverts: serialisable undo actions. Each is journaled before its fault is injected,
//! so `kubedrill recover` can run it from the journal alone after a crash.

use serde::{Deserialize, Serialize};

use crate::access::{run_local, AccessSpec, NodeSpec};
use crate::engine::RunContext;
use crate::scenario::duration::HumanDuration;

/// One undo action.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum RevertAction {
    /// Run a command on this machine; exit 0 = reverted.
    LocalCommand {
        argv: Vec<String>,
        timeout: HumanDuration,
    },
    /// Run a command on a node through its access; exit 0 = reverted; then `verify`
    /// (if any) must exit 0.
    NodeCommand {
        node: String,
        argv: Vec<String>,
        verify: Option<Vec<String>>,
        timeout: HumanDuration,
    },
}

impl RevertAction {
    /// One line for the journal, logs and reports.
    pub fn describe(&self) -> String {
        match self {
            RevertAction::LocalCommand { argv, .. } => format!("run `{}` locally", argv.join(" ")),
            RevertAction::NodeCommand { node, argv, .. } => {
                format!("run `{}` on node {node}", argv.join(" "))
            }
        }
    }

    /// What a person runs by hand when this revert failed or never ran.
    pub fn manual(&self, ctx: &RunContext) -> Vec<String> {
        match self {
            RevertAction::LocalCommand { argv, .. } => vec![shell_words(argv)],
            RevertAction::NodeCommand { node, argv, .. } => {
                let spec = ctx.nodes.get(node).map(|n| n.spec().clone());
                vec![node_manual(node, spec.as_ref(), argv)]
            }
        }
    }

    /// Runs the revert.
    pub async fn run(&self, ctx: &RunContext) -> Result<(), String> {
        match self {
            RevertAction::LocalCommand { argv, timeout } => {
                let out = run_local("local", argv, timeout.get())
                    .await
                    .map_err(|e| e.to_string())?;
                if out.success() {
                    Ok(())
                } else {
                    Err(format!("`{}`: {}", argv.join(" "), out.summary()))
                }
            }
            RevertAction::NodeCommand {
                node,
                argv,
                verify,
                timeout,
            } => {
                let access = ctx
                    .nodes
                    .get(node)
                    .ok_or_else(|| format!("node {node} is not in the inventory"))?;
                let out = access
                    .run(argv, timeout.get())
                    .await
                    .map_err(|e| e.to_string())?;
                if !out.success() {
                    return Err(format!("`{}` on {node}: {}", argv.join(" "), out.summary()));
                }
                if let Some(check) = verify {
                    let out = access
                        .run(check, timeout.get())
                        .await
                        .map_err(|e| e.to_string())?;
                    if !out.success() {
                        return Err(format!(
                            "verification `{}` on {node} failed: {}",
                            check.join(" "),
                            out.summary()
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}

/// argv quoted for a POSIX shell, for printing.
pub fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command a person would type to run `argv` on a node.
pub fn node_manual(node: &str, spec: Option<&NodeSpec>, argv: &[String]) -> String {
    let cmd = shell_words(argv);
    match spec.map(|s| &s.access) {
        Some(AccessSpec::Ssh(ssh)) => {
            let mut parts = vec!["ssh".to_string()];
            if let Some(p) = ssh.port {
                parts.push(format!("-p {p}"));
            }
            if let Some(id) = &ssh.identity_file {
                parts.push(format!("-i {}", id.display()));
            }
            let dest = match &ssh.user {
                Some(u) => format!("{u}@{}", ssh.host),
                None => ssh.host.clone(),
            };
            let sudo = if ssh.sudo { "sudo " } else { "" };
            parts.push(dest);
            parts.push(shell_words(&[format!("{sudo}{cmd}")]));
            parts.join(" ")
        }
        Some(AccessSpec::Docker(d)) => format!("docker exec {} {cmd}", d.container),
        Some(AccessSpec::Local(l)) => match &l.netns {
            Some(ns) => format!("ip netns exec {ns} {cmd}"),
            None => cmd,
        },
        None => format!("on node {node}: {cmd}"),
    }
}
