//! Commands on this machine, optionally inside a network namespace (`ip netns exec`).

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{AccessError, CommandOutput, LocalAccess};

/// The argv that runs `argv` through `access`: unchanged, or behind `ip netns exec NAME`.
pub fn local_argv(access: &LocalAccess, argv: &[String]) -> Vec<String> {
    match &access.netns {
        Some(ns) => ["ip", "netns", "exec", ns.as_str()]
            .into_iter()
            .map(String::from)
            .chain(argv.iter().cloned())
            .collect(),
        None => argv.to_vec(),
    }
}

/// Runs a local program with a timeout, capturing trimmed output. The program gets its own
/// process group, and the whole group (children included: `sh -c` jobs, the command behind
/// `ip netns exec`) is killed on timeout and whenever this future is dropped before the
/// program finished (a caller's timeout, Ctrl-C). `kill_on_drop` alone reaches only the
/// direct child.
pub async fn run_local(
    node: &str,
    argv: &[String],
    timeout: Duration,
) -> Result<CommandOutput, AccessError> {
    let command = argv.join(" ");
    let spawn_error = |message: String| AccessError::Spawn {
        node: node.into(),
        command: command.clone(),
        message,
    };
    let Some((program, args)) = argv.split_first() else {
        return Err(spawn_error("empty command".into()));
    };
    let start = Instant::now();
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| spawn_error(e.to_string()))?;
    let mut group = GroupKill::new(child.id());
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            group.disarm();
            Ok(CommandOutput::new(
                out.status.code(),
                &out.stdout,
                &out.stderr,
                start.elapsed(),
            ))
        }
        Ok(Err(e)) => Err(spawn_error(e.to_string())),
        Err(_) => {
            drop(group);
            Err(AccessError::Timeout {
                node: node.into(),
                command,
                after: timeout,
            })
        }
    }
}

/// Kills a process group with SIGKILL when dropped, unless disarmed once its leader has
/// finished. The group id stays reserved while any member lives, so the kill cannot reach
/// an unrelated group.
struct GroupKill {
    pgid: Option<i32>,
}

impl GroupKill {
    /// A guard over the group led by `pid` (the child spawned with `process_group(0)`).
    fn new(pid: Option<u32>) -> Self {
        Self {
            pgid: pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 0),
        }
    }

    /// The program finished on its own; leave its group alone.
    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: kill(2) on a process group we created; no memory is touched.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}
