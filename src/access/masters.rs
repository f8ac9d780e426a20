//! SSH master processes of a run: found when a master starts (its pid, asked of the master
//! itself), journaled, and ended by `kubedrill recover` after the run was killed, by pid
//! and only after checking the pid is still an `ssh` master of that very control socket.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A master connection that was started: enough to find and end it later.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct SshMaster {
    pub node: String,
    /// The master's pid; `None` when the master could not tell (it is then never killed).
    pub pid: Option<u32>,
    /// The control socket (`-S`), inside a directory of its own.
    pub control_socket: PathBuf,
}

/// Called once for every master a node pool starts (the run journals them).
pub type MasterHook = Arc<dyn Fn(&SshMaster) + Send + Sync>;

/// The hook a pool shares with its nodes; set once, after the pool was built.
pub(crate) type SharedHook = Arc<OnceLock<MasterHook>>;

/// How long asking a master for its pid may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an ended master gets to exit after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// The pid of the master listening on `socket`, from `ssh -O check` ("Master running
/// (pid=N)"); `None` when it does not answer.
pub(crate) async fn master_pid(socket: &Path) -> Option<u32> {
    let out = tokio::process::Command::new("ssh")
        .arg("-S")
        .arg(socket)
        .args(["-O", "check", "kubedrill-master"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(CHECK_TIMEOUT, out).await.ok()?.ok()?;
    parse_check_output(&String::from_utf8_lossy(&out.stderr))
}

fn parse_check_output(text: &str) -> Option<u32> {
    let rest = text.split("Master running (pid=").nth(1)?;
    rest.split(')').next()?.trim().parse().ok()
}

/// True when `pid` runs `ssh` as a master (`-M`) of exactly `socket` (`-S SOCKET`): a pid
/// reused by another process, or a master of another run, is never touched.
pub fn is_master_of(pid: u32, socket: &Path) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    let is_ssh = args.first().is_some_and(|a0| {
        Path::new(std::ffi::OsStr::from_bytes(a0)).file_name() == Some("ssh".as_ref())
    });
    let socket = socket.as_os_str().as_bytes();
    is_ssh
        && args.contains(&b"-M".as_slice())
        && args.windows(2).any(|w| w[0] == b"-S" && w[1] == socket)
}

/// What ending a recorded master did.
#[derive(Debug, Clone, PartialEq)]
pub enum MasterEnd {
    /// It was running and is gone now.
    Ended,
    /// Nothing to end: it had exited already (or its pid is someone else's now).
    AlreadyGone,
    /// No pid was recorded, so it was left alone.
    Unknown,
    /// It did not exit, even after SIGKILL.
    Failed(String),
}

/// Ends the recorded master `m` when it still is one (SIGTERM, then SIGKILL after a grace),
/// and removes its control directory when that is the crate's own (`.ssh-connection*`).
pub async fn end_master(m: &SshMaster) -> MasterEnd {
    let outcome = match m.pid {
        None => MasterEnd::Unknown,
        Some(pid) if !is_master_of(pid, &m.control_socket) => MasterEnd::AlreadyGone,
        Some(pid) => terminate(pid, &m.control_socket).await,
    };
    if outcome != MasterEnd::Unknown {
        remove_control_dir(&m.control_socket);
    }
    outcome
}

async fn terminate(pid: u32, socket: &Path) -> MasterEnd {
    let gone = || !is_master_of(pid, socket);
    for (signal, grace) in [(libc::SIGTERM, TERM_GRACE), (libc::SIGKILL, TERM_GRACE)] {
        // SAFETY: signalling a pid just checked to be an ssh master of this control socket.
        unsafe { libc::kill(pid as i32, signal) };
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            if gone() {
                return MasterEnd::Ended;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    if gone() {
        MasterEnd::Ended
    } else {
        MasterEnd::Failed(format!("pid {pid} is still running after SIGKILL"))
    }
}

fn remove_control_dir(socket: &Path) {
    let Some(dir) = socket.parent() else {
        return;
    };
    let ours = dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".ssh-connection"));
    if ours && dir.is_dir() {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            tracing::debug!(dir = %dir.display(), error = %e, "removing an ssh control directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_pid_from_ssh_o_check() {
        assert_eq!(
            parse_check_output("Master running (pid=4242)\r\n"),
            Some(4242)
        );
        assert_eq!(
            parse_check_output("Control socket connect(x): No such file"),
            None
        );
    }

    #[tokio::test]
    async fn only_an_ssh_master_of_that_socket_is_ended() {
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let control = dir.path().join(".ssh-connectionTEST");
        std::fs::create_dir(&control).unwrap();
        let socket = control.join("master");
        // A stand-in whose command line reads like a master's: `ssh ... -M -S SOCKET`.
        let mut child = std::process::Command::new("sh")
            .arg0("ssh")
            .args(["-c", "read line", "-M", "-S"])
            .arg(&socket)
            // Blocks on its stdin without a child process of its own.
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(is_master_of(pid, &socket));
        assert!(!is_master_of(pid, &dir.path().join("other/master")));
        assert!(!is_master_of(std::process::id(), &socket), "not ssh");
        let other = SshMaster {
            node: "n1".into(),
            pid: Some(pid),
            control_socket: dir.path().join("other/master"),
        };
        assert_eq!(end_master(&other).await, MasterEnd::AlreadyGone);
        assert!(
            child.try_wait().unwrap().is_none(),
            "another socket's master is left alone"
        );
        let ours = SshMaster {
            control_socket: socket,
            ..other
        };
        assert_eq!(end_master(&ours).await, MasterEnd::Ended);
        assert!(child.wait().unwrap().code().is_none(), "ended by a signal");
        assert!(!control.exists(), "its control directory is removed");
    }
}
