//! Reverts that run a command, locally or on a node.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::Undo;
use crate::access::{run_local, AccessSpec, NodeSpec};
use crate::engine::RunContext;
use crate::scenario::duration::HumanDuration;

/// Run a command on this machine; exit 0 = reverted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LocalCommand {
    pub argv: Vec<String>,
    pub timeout: HumanDuration,
}

impl Undo for LocalCommand {
    fn describe(&self) -> String {
        format!("run `{}` locally", self.argv.join(" "))
    }

    fn manual(&self, _ctx: &RunContext) -> Vec<String> {
        vec![shell_words(&self.argv)]
    }

    fn run_reported<'a>(
        &'a self,
        _ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<serde_json::Value, String>> {
        Box::pin(async move {
            let out = run_local("local", &self.argv, self.timeout.get())
                .await
                .map_err(|e| e.to_string())?;
            if out.success() {
                Ok(serde_json::json!({ "command": out }))
            } else {
                Err(format!("`{}`: {}", self.argv.join(" "), out.summary()))
            }
        })
    }
}

/// Run a command on a node through its access; exit 0 = reverted; then `verify` (if
/// any) must exit 0.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NodeCommand {
    pub node: String,
    pub argv: Vec<String>,
    #[serde(default)]
    pub verify: Option<Vec<String>>,
    pub timeout: HumanDuration,
}

impl Undo for NodeCommand {
    fn describe(&self) -> String {
        format!("run `{}` on node {}", self.argv.join(" "), self.node)
    }

    fn node(&self) -> Option<&str> {
        Some(&self.node)
    }

    fn manual(&self, ctx: &RunContext) -> Vec<String> {
        let spec = ctx.nodes.get(&self.node).map(|n| n.spec().clone());
        vec![node_manual(&self.node, spec.as_ref(), &self.argv)]
    }

    fn run_reported<'a>(
        &'a self,
        ctx: &'a RunContext,
    ) -> BoxFuture<'a, Result<serde_json::Value, String>> {
        Box::pin(async move {
            let node = &self.node;
            let access = ctx
                .nodes
                .get(node)
                .ok_or_else(|| format!("node {node} is not in the inventory"))?;
            let t = self.timeout.get();
            let out = access.run(&self.argv, t).await.map_err(|e| e.to_string())?;
            if !out.success() {
                return Err(format!(
                    "`{}` on {node}: {}",
                    self.argv.join(" "),
                    out.summary()
                ));
            }
            let Some(check) = &self.verify else {
                return Ok(serde_json::json!({ "node": node, "command": out }));
            };
            // A service may still be starting: re-check until it holds or the timeout passes.
            let deadline = tokio::time::Instant::now() + t;
            loop {
                let verify = access.run(check, t).await.map_err(|e| e.to_string());
                match verify {
                    Ok(v) if v.success() => {
                        return Ok(serde_json::json!({ "node": node, "command": out, "verify": v }))
                    }
                    _ if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await
                    }
                    Ok(v) => {
                        return Err(format!(
                            "verification `{}` on {node} still fails {} after the revert: {}",
                            check.join(" "),
                            humantime::format_duration(t),
                            v.summary()
                        ))
                    }
                    Err(e) => {
                        return Err(format!("verification `{}` on {node}: {e}", check.join(" ")))
                    }
                }
            }
        })
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
                parts.push(format!("-i {}", shell_words(&[id.display().to_string()])));
            }
            // The inventory's known_hosts file, so the command checks the same host key.
            if let Some(file) = &ssh.known_hosts_file {
                let option = format!("UserKnownHostsFile={}", file.display());
                parts.push(format!("-o {}", shell_words(&[option])));
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

/// Re-checks `ok` every 200ms until it holds (true) or `within` passes (false).
pub async fn poll_until_ok<F, Fut>(within: std::time::Duration, mut ok: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if ok().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manual_ssh_command_uses_the_inventorys_known_hosts_file() {
        let spec: NodeSpec = serde_yaml::from_str(
            "name: n1\naccess: { ssh: { host: 10.0.0.1, port: 2222, user: root, \
             identity-file: /k/id, known-hosts-file: /k/known hosts } }",
        )
        .unwrap();
        let cmd = node_manual("n1", Some(&spec), &["systemctl".into(), "start".into()]);
        assert_eq!(
            cmd,
            "ssh -p 2222 -i /k/id -o 'UserKnownHostsFile=/k/known hosts' root@10.0.0.1 'systemctl start'"
        );
    }
}
