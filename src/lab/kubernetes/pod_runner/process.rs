//! A pod's process on its node: started in the node's network namespace and UTS namespace
//! (hostname = node), in its own session so it outlives the runner (as containers outlive
//! a stopped kubelet), marked with the pod's UID so a restarted runner adopts it.

use std::path::Path;
use std::process::Stdio;

use tokio::process::{Child, Command};

/// The environment entry that marks a pod's process: `KUBEDRILL_POD_UID=<uid>`.
const UID_ENV: &str = "KUBEDRILL_POD_UID";

/// A running (or exited) process of one pod.
pub struct PodProcess {
    pub pid: u32,
    /// Our child, reaped when it exits; `None` for a process adopted after a restart.
    child: Option<Child>,
}

impl PodProcess {
    /// Starts `argv` in namespace `netns` with hostname `node`; output appends to `log`.
    pub fn spawn(
        netns: &str,
        node: &str,
        argv: &[String],
        uid: &str,
        marker: &str,
        log: &Path,
    ) -> Result<Self, String> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let (key, value) = marker.split_once('=').unwrap_or((marker, ""));
        // `ip netns exec`, `unshare` and `sh` all exec, so the pid is the program's.
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns", "exec", netns, "unshare", "--uts", "--", "/bin/sh", "-c",
        ])
        .arg(r#"hostname "$0" && exec "$@""#)
        .arg(node)
        .args(argv)
        .env(key, value)
        .env(UID_ENV, uid)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", argv.join(" ")))?;
        let pid = child.id().ok_or("the process exited at once")?;
        Ok(Self {
            pid,
            child: Some(child),
        })
    }

    /// The process of pod `uid` recorded as `pid`, if it still runs.
    pub fn adopt(pid: u32, uid: &str) -> Option<Self> {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        let entry = format!("{UID_ENV}={uid}");
        let ours = environ.split(|b| *b == 0).any(|e| e == entry.as_bytes());
        (ours && crate::lab::host::alive(pid as i32)).then_some(Self { pid, child: None })
    }

    /// True while it runs (a zombie does not; our own child is reaped here).
    pub fn alive(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => crate::lab::host::alive(self.pid as i32),
        }
    }

    pub fn signal(&mut self, signal: i32) {
        if self.alive() {
            // SAFETY: kill(2) with a pid we started or checked to be the pod's.
            unsafe {
                libc::kill(self.pid as i32, signal);
            }
        }
    }
}
