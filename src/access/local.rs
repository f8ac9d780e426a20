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
/// process group so that, on timeout, the whole group (children included) is killed.
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
    let pgid = child.id();
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => Ok(CommandOutput::new(
            out.status.code(),
            &out.stdout,
            &out.stderr,
            start.elapsed(),
        )),
        Ok(Err(e)) => Err(spawn_error(e.to_string())),
        Err(_) => {
            if let Some(pgid) = pgid.and_then(|p| i32::try_from(p).ok()) {
                // SAFETY: kill(2) on a process group we created; no memory is touched.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
            Err(AccessError::Timeout {
                node: node.into(),
                command,
                after: timeout,
            })
        }
    }
}
