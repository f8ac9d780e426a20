//! `kubedrill` through the real binary: a command run to its end, or a `kubedrill run`
//! spawned so a test can act on it mid-run (signals, crashes).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::common::{journal_has, kubedrill, wait_for};

/// The journal entry written once a fault is in place.
pub const INJECTED: &str = "\"entry\":\"injected\"";
/// The journal entry written when a revert starts.
pub const REVERTING: &str = "\"entry\":\"reverting\"";

/// `kubedrill run FILE --report-dir REPORTS`; more arguments may follow.
pub fn run_command(file: &Path, reports: &Path) -> Command {
    let mut c = kubedrill();
    c.args(["run", file.to_str().unwrap(), "--report-dir"])
        .arg(reports);
    c
}

/// How a kubedrill process ended: its exit code and what it printed.
#[derive(Debug)]
pub struct Exit {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Exit {
    /// Runs `cmd` to its end.
    pub fn of(cmd: &mut Command) -> Self {
        Self::from(cmd.output().expect("run kubedrill"))
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

impl From<Output> for Exit {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `kubedrill run FILE --report-dir REPORTS` to its end.
pub fn run_to_end(file: &Path, reports: &Path) -> Exit {
    Exit::of(&mut run_command(file, reports))
}

/// A `kubedrill run` child process and its report root.
pub struct SpawnedRun {
    child: Child,
    reports: PathBuf,
}

impl SpawnedRun {
    /// Spawns `kubedrill run FILE --report-dir REPORTS EXTRA...`, its output captured.
    pub fn start(file: &Path, reports: &Path, extra: &[&str]) -> Self {
        Self::spawn(file, reports, extra, Stdio::piped)
    }

    /// Like `start` with the output discarded, for a run that is killed, never finished.
    pub fn start_unread(file: &Path, reports: &Path, extra: &[&str]) -> Self {
        Self::spawn(file, reports, extra, Stdio::null)
    }

    fn spawn(file: &Path, reports: &Path, extra: &[&str], stdio: fn() -> Stdio) -> Self {
        let child = run_command(file, reports)
            .args(extra)
            .stdout(stdio())
            .stderr(stdio())
            .spawn()
            .expect("spawn kubedrill run");
        Self {
            child,
            reports: reports.to_path_buf(),
        }
    }

    /// Whether the run's journal contains `needle` yet.
    pub fn journal_has(&self, needle: &str) -> bool {
        journal_has(&self.reports, needle)
    }

    /// Blocks until the journal contains `needle`; panics naming `what` after `limit`.
    pub fn wait_for_journal(&self, limit: Duration, what: &str, needle: &str) {
        wait_for(limit, what, || self.journal_has(needle));
    }

    /// The process id of the run.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGINT, as Ctrl-C would.
    pub fn sigint(&self) {
        // SAFETY: sending a signal to the child we spawned and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
    }

    /// SIGKILL, a crash without a chance to revert; waits until it is gone.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for the run to end.
    pub fn finish(self) -> Exit {
        Exit::from(self.child.wait_with_output().expect("wait for kubedrill"))
    }
}
