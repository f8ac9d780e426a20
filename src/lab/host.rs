//! The host side: root check, required programs, running and killing local processes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::access::{run_local, CommandOutput};

use super::LabError;

/// Debian programs the lab runs, with the package that provides each.
pub const PROGRAMS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("iptables", "iptables"),
    ("sshd", "openssh-server"),
    ("ssh-keygen", "openssh-client"),
    ("dnsmasq", "dnsmasq-base"),
    ("setsid", "util-linux"),
];

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Refuses to go on unless running as root.
pub fn require_root() -> Result<(), LabError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LabError::NotRoot);
    }
    Ok(())
}

/// Absolute paths of every required program, or an error naming what to install.
pub fn find_programs(kubelet_standin: &str) -> Result<BTreeMap<&'static str, PathBuf>, LabError> {
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for (program, package) in PROGRAMS {
        match which(program) {
            Some(path) => {
                found.insert(*program, path);
            }
            None => missing.push(format!("`{program}` (Debian package {package})")),
        }
    }
    // etcd and NATS are the current releases built from the pinned Go module
    // (lab/k8s/go.mod), as users run them, not Debian's years-older etcd 3.4 and NATS 2.9.
    let built = crate::lab::kubernetes::binaries::bin_dir();
    let built = built.canonicalize().unwrap_or(built);
    for program in ["etcd", "nats-server"] {
        let path = built.join(program);
        if is_executable(&path) {
            found.insert(program, path);
        } else {
            missing.push(format!(
                "`{}` ({})",
                path.display(),
                crate::lab::kubernetes::binaries::BUILD_HINT
            ));
        }
    }
    if which(kubelet_standin).is_none() {
        missing.push(format!(
            "`{kubelet_standin}` (the kubelet stand-in; `cargo build` builds kubedrill-kubelet-standin)"
        ));
    }
    if !missing.is_empty() {
        return Err(LabError::MissingPrograms(missing.join(", ")));
    }
    Ok(found)
}

/// `program` as an executable path: itself when it contains a slash, else from `PATH`
/// plus the sbin directories (root's tools are there even when `PATH` lacks them).
pub fn which(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return is_executable(Path::new(program)).then(|| program.into());
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|dir| Path::new(dir).join(program))
        .find(|p| is_executable(p));
    found
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs a host command and returns its output whatever the exit code.
pub async fn try_run(argv: &[&str]) -> Result<CommandOutput, LabError> {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    run_local("lab", &argv, COMMAND_TIMEOUT)
        .await
        .map_err(|e| LabError::Command {
            command: argv.join(" "),
            message: e.to_string(),
        })
}

/// Runs a host command that must succeed.
pub async fn run(argv: &[&str]) -> Result<CommandOutput, LabError> {
    let out = try_run(argv).await?;
    if !out.success() {
        return Err(LabError::Command {
            command: argv.join(" "),
            message: out.summary(),
        });
    }
    Ok(out)
}

/// Pids of live processes whose environment holds `marker` (`KEY=VALUE`).
pub fn pids_with_env(marker: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()))
        })
        .filter(|pid| alive(*pid))
        .collect()
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// SIGTERM, then SIGKILL for whatever is still alive after `grace`.
pub async fn terminate(pids: &[i32], grace: Duration) {
    signal(pids, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(pids, libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(2);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn signal(pids: &[i32], sig: i32) {
    for pid in pids.iter().filter(|p| alive(**p)) {
        // SAFETY: kill(2) on a pid we found by namespace or lab marker.
        unsafe { libc::kill(*pid, sig) };
    }
}
