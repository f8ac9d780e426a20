//! The exit codes, in one table (the README repeats it).

/// Process exit codes of `kubedrill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: every expectation held and every fault was reverted.
    Pass,
    /// 1: an expectation failed (or a wait-until step timed out).
    ExpectationsFailed,
    /// 2: invalid scenario, usage or environment (context refused, inventory missing,
    /// probe cannot be built); nothing was injected.
    Invalid,
    /// 3: aborted (abort-if, Ctrl-C/SIGTERM) or a fault could not be injected.
    Aborted,
    /// 4: a revert failed or did not run; the system may be degraded (see the manual steps).
    RevertFailed,
}

impl ExitCode {
    /// The numeric code.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Pass => 0,
            ExitCode::ExpectationsFailed => 1,
            ExitCode::Invalid => 2,
            ExitCode::Aborted => 3,
            ExitCode::RevertFailed => 4,
        }
    }

    /// Every code with its meaning, for `--help` and the README.
    pub fn table() -> [(i32, &'static str); 5] {
        [
            (0, "pass: every expectation held and every fault was reverted"),
            (1, "fail: an expectation did not hold (or a wait-until step timed out)"),
            (2, "invalid scenario, usage or environment (context refused, inventory missing): nothing was injected"),
            (3, "aborted (abort-if, Ctrl-C/SIGTERM) or a fault could not be injected; everything was reverted"),
            (4, "a revert failed or did not run: the system may be degraded; undo by hand what the output lists"),
        ]
    }
}
