//! SSH access through the `openssh` crate with native multiplexing: one master connection
//! per node, opened on the first command and reused by every later one.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio as SshStdio};
use tokio::io::AsyncReadExt;
use tokio::sync::Mutex;

use super::masters::{master_pid, SharedHook, SshMaster};
use super::{AccessError, CommandOutput, KnownHostsPolicy, SshAccess};

/// Used when the inventory gives no `connect-timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a master with no command running stays up (`ControlPersist`). The crate's
/// default keeps it forever, so a run killed with SIGKILL (no `close`) would leave one
/// `ssh` process per node behind for good; bounded, it exits after this idle time. A
/// running command keeps the master busy, so this does not cut long commands short, and a
/// command after a longer pause finds the master gone and reconnects once (see
/// `spawn_and_wait`).
pub const CONTROL_PERSIST_IDLE: Duration = Duration::from_secs(300);

/// Extra time the remote `timeout` wrapper grants after the local deadline, so the local
/// side always decides and the remote child is still killed when we stop waiting.
const REMOTE_GRACE_SECS: u64 = 2;

/// A lazily opened, shared SSH master connection to one node.
pub(crate) struct SshConnection {
    node: String,
    access: SshAccess,
    session: Mutex<Option<Arc<Session>>>,
    /// Told about every master this connection starts.
    hook: SharedHook,
    /// Commands that started on the node (the channel opened), whatever became of them.
    started: AtomicU64,
}

impl SshConnection {
    pub(crate) fn new(node: &str, access: &SshAccess, hook: SharedHook) -> Self {
        Self {
            node: node.into(),
            access: access.clone(),
            session: Mutex::new(None),
            hook,
            started: AtomicU64::new(0),
        }
    }

    /// How many commands have started on the node through this connection.
    pub(crate) fn commands_started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Runs `argv` over the shared master (opened first if needed, within the connect
    /// timeout). On timeout the local end of the channel is dropped and the remote
    /// `timeout` wrapper kills the remote child shortly after.
    pub(crate) async fn run(
        &self,
        argv: &[String],
        timeout: Duration,
    ) -> Result<CommandOutput, AccessError> {
        let command = remote_command(argv, self.access.sudo, timeout);
        // Connecting is bounded by the connect timeout, not by the command's.
        self.session().await?;
        let start = Instant::now();
        let run = self.spawn_and_wait(&command, start);
        match tokio::time::timeout(timeout, run).await {
            Ok(result) => result,
            Err(_) => Err(AccessError::Timeout {
                node: self.node.clone(),
                command: argv.join(" "),
                after: timeout,
            }),
        }
    }

    /// The control socket of the open master, if any (lets callers see it is reused).
    pub(crate) async fn control_socket(&self) -> Option<std::path::PathBuf> {
        let guard = self.session.lock().await;
        guard.as_ref().map(|s| s.control_socket().to_path_buf())
    }

    /// Closes the master connection; the next command opens a new one.
    pub(crate) async fn close(&self) {
        let taken = self.session.lock().await.take();
        if let Some(session) = taken {
            // Commands still running keep their Arc; the last one to finish closes it.
            if let Ok(session) = Arc::try_unwrap(session) {
                if let Err(e) = session.close().await {
                    tracing::debug!(node = %self.node, error = %e, "closing ssh master");
                }
            }
        }
    }

    async fn spawn_and_wait(
        &self,
        command: &str,
        start: Instant,
    ) -> Result<CommandOutput, AccessError> {
        let mut attempts_left = 2;
        loop {
            attempts_left -= 1;
            let session = self.session().await?;
            let child = match spawn(&session, command).await {
                Ok(child) => child,
                // The master died (node rebooted, sshd restarted) and the command never
                // started, so reconnecting once and retrying is safe.
                Err(e) => {
                    self.forget(&session).await;
                    if attempts_left > 0 {
                        tracing::debug!(node = %self.node, error = %e, "ssh master unusable, reconnecting");
                        continue;
                    }
                    return Err(self.connect_error(e));
                }
            };
            self.started.fetch_add(1, Ordering::Relaxed);
            return match finish(child, start).await {
                Ok(out) => Ok(out),
                Err(Finish::Signalled(out)) if session.check().await.is_ok() => Ok(out),
                Err(Finish::Signalled(_)) => {
                    self.forget(&session).await;
                    Err(AccessError::Connect {
                        node: self.node.clone(),
                        message: format!(
                            "{}: connection lost while the command ran",
                            self.access.host
                        ),
                    })
                }
                Err(Finish::Lost(e)) => {
                    self.forget(&session).await;
                    Err(self.connect_error(e))
                }
            };
        }
    }

    async fn session(&self) -> Result<Arc<Session>, AccessError> {
        let mut guard = self.session.lock().await;
        if let Some(session) = guard.as_ref() {
            return Ok(session.clone());
        }
        let connect_timeout = connect_timeout(&self.access);
        let builder = session_builder(&self.access);
        let destination = self.access.host.clone();
        // ssh's ConnectTimeout bounds the TCP connect and banner; this bounds the rest.
        let safety_net = connect_timeout + Duration::from_secs(2);
        let session = tokio::time::timeout(safety_net, builder.connect_mux(&destination))
            .await
            .map_err(|_| AccessError::Connect {
                node: self.node.clone(),
                message: format!(
                    "{destination}: no answer within {}",
                    humantime::format_duration(safety_net)
                ),
            })?
            .map_err(|e| self.connect_error(e))?;
        self.announce_master(&session).await;
        let session = Arc::new(session);
        *guard = Some(session.clone());
        Ok(session)
    }

    /// Tells the hook (the run's journal) about a new master and its pid, so `recover` can
    /// end it if the run is killed.
    async fn announce_master(&self, session: &Session) {
        let Some(hook) = self.hook.get() else {
            return;
        };
        let control_socket = session.control_socket().to_path_buf();
        let pid = master_pid(&control_socket).await;
        if pid.is_none() {
            tracing::debug!(node = %self.node, "the ssh master did not tell its pid");
        }
        hook(&SshMaster {
            node: self.node.clone(),
            pid,
            control_socket,
        });
    }

    async fn forget(&self, dead: &Arc<Session>) {
        let mut guard = self.session.lock().await;
        if guard.as_ref().is_some_and(|s| Arc::ptr_eq(s, dead)) {
            *guard = None;
        }
    }

    fn connect_error(&self, e: openssh::Error) -> AccessError {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        AccessError::Connect {
            node: self.node.clone(),
            message: connect_failure(&self.access, &message),
        }
    }
}

/// `user@host:port` as ssh is asked to reach it.
pub fn destination(access: &SshAccess) -> String {
    let user = access
        .user
        .as_ref()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    format!("{user}{}:{}", access.host, access.port.unwrap_or(22))
}

/// The known_hosts file ssh checks for `access`.
pub fn known_hosts_file(access: &SshAccess) -> String {
    match &access.known_hosts_file {
        Some(f) => f.display().to_string(),
        None => "~/.ssh/known_hosts".into(),
    }
}

/// One line for a failed connection. ssh's host-key refusals (a banner of a dozen lines)
/// become one sentence naming the address and the known_hosts file (with the offending
/// line when ssh names it); other messages are kept, on one line.
pub fn connect_failure(access: &SshAccess, ssh_message: &str) -> String {
    let dest = destination(access);
    let policy = match access.known_hosts {
        KnownHostsPolicy::Strict => "strict",
        KnownHostsPolicy::AcceptNew => "accept-new",
    };
    // "Offending ED25519 key in /path/known_hosts:3"
    let offending = ssh_message
        .lines()
        .filter(|l| l.contains("Offending"))
        .find_map(|l| l.split_once(" key in ").map(|(_, f)| f.trim().to_string()));
    let (file, which) = match offending.as_deref().and_then(|o| o.rsplit_once(':')) {
        Some((file, line)) if line.parse::<u32>().is_ok() => {
            (file.to_string(), format!("line {line} of {file}"))
        }
        _ => {
            let file = known_hosts_file(access);
            (file.clone(), format!("the entry in {file}"))
        }
    };
    if ssh_message.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || ssh_message.contains("has changed and you have requested strict checking")
    {
        return format!(
            "{dest}: Host key verification failed: its host key does not match {which} \
             ({policy} host-key checking; nothing was run); if the node was rebuilt, check \
             its new key and update that entry"
        );
    }
    if ssh_message.contains("Host key verification failed") {
        return format!(
            "{dest}: Host key verification failed: no host key for it in {file} ({policy} \
             host-key checking; nothing was run). Add the node's key to {file}"
        );
    }
    let one_line: Vec<&str> = ssh_message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    format!("{dest}: {}", one_line.join(" / "))
}

/// How a remote command ended when it did not simply exit.
enum Finish {
    /// The connection failed; there is no output.
    Lost(openssh::Error),
    /// Killed by a signal, or disconnected: only the master can tell which.
    Signalled(CommandOutput),
}

async fn spawn<'s>(
    session: &'s Session,
    command: &str,
) -> Result<openssh::Child<&'s Session>, openssh::Error> {
    session
        .raw_command(command)
        .stdin(SshStdio::null())
        .stdout(SshStdio::piped())
        .stderr(SshStdio::piped())
        .spawn()
        .await
}

/// Reads both streams to the end, then the exit status.
async fn finish(
    mut child: openssh::Child<&Session>,
    start: Instant,
) -> Result<CommandOutput, Finish> {
    let mut stdout = child.stdout().take().expect("stdout is piped");
    let mut stderr = child.stderr().take().expect("stderr is piped");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let reads = tokio::try_join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
    if let Err(e) = reads {
        return Err(Finish::Lost(openssh::Error::ChildIo(e)));
    }
    let output = |code| CommandOutput::new(code, &out, &err, start.elapsed());
    match child.wait().await {
        Ok(status) => Ok(output(status.code())),
        // The crate turns exit 127 into an error; it is just "command not found".
        Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(output(Some(127)))
        }
        Err(openssh::Error::RemoteProcessTerminated) => Err(Finish::Signalled(output(None))),
        Err(e) => Err(Finish::Lost(e)),
    }
}

/// The builder for `access`: user, port, key, host-key policy, connect timeout and a
/// bounded idle lifetime for the master. The user's `~/.ssh/config` still applies (no
/// `-F`). The crate always adds `BatchMode=yes`.
pub(crate) fn session_builder(access: &SshAccess) -> SessionBuilder {
    let mut b = SessionBuilder::default();
    b.known_hosts_check(match access.known_hosts {
        KnownHostsPolicy::Strict => KnownHosts::Strict,
        KnownHostsPolicy::AcceptNew => KnownHosts::Add,
    });
    // ssh treats ConnectTimeout=0 as "none", so never round down to 0.
    b.connect_timeout(Duration::from_secs(
        connect_timeout(access).as_secs_f64().ceil().max(1.0) as u64,
    ));
    b.server_alive_interval(Duration::from_secs(5));
    b.control_persist(ControlPersist::IdleFor(
        NonZeroUsize::new(CONTROL_PERSIST_IDLE.as_secs() as usize).expect("not zero"),
    ));
    if let Some(port) = access.port {
        b.port(port);
    }
    if let Some(user) = &access.user {
        b.user(user.clone());
    }
    if let Some(key) = &access.identity_file {
        b.keyfile(key);
    }
    if let Some(file) = &access.known_hosts_file {
        b.user_known_hosts_file(file);
    }
    b
}

fn connect_timeout(access: &SshAccess) -> Duration {
    access
        .connect_timeout
        .map(|d| d.get())
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
}

/// The string handed to the remote shell for `argv`: every argument quoted, optionally
/// behind `sudo -n`, and wrapped in `timeout` (when the node has it) so that a command we
/// stopped waiting for is killed on the node too.
pub fn remote_command(argv: &[String], sudo: bool, timeout: Duration) -> String {
    let mut cmd: Vec<String> = Vec::with_capacity(argv.len() + 2);
    if sudo {
        cmd.extend(["sudo".to_string(), "-n".to_string()]);
    }
    cmd.extend(argv.iter().map(|a| shell_quote(a)));
    let cmd = cmd.join(" ");
    let secs = timeout.as_secs_f64().ceil() as u64 + REMOTE_GRACE_SECS;
    format!(
        "if command -v timeout >/dev/null 2>&1; then exec timeout -k 2 {secs} {cmd}; else exec {cmd}; fi"
    )
}

/// Quotes one word for a POSIX shell: unchanged when it only has safe characters,
/// otherwise single-quoted with embedded quotes written as `'\''`.
pub fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_=/,.+:@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_does_not_persist_forever() {
        let access: SshAccess =
            serde_json::from_value(serde_json::json!({ "host": "n" })).expect("minimal ssh access");
        let builder = format!("{:?}", session_builder(&access));
        let idle = format!("IdleFor({})", CONTROL_PERSIST_IDLE.as_secs());
        assert!(builder.contains(&idle), "{builder}");
        assert!(builder.contains("known_hosts_check: Strict"), "{builder}");
    }

    #[test]
    fn a_refused_host_key_is_one_line_naming_the_address_and_the_known_hosts_file() {
        let access: SshAccess = serde_json::from_value(serde_json::json!({
            "host": "10.0.0.1", "port": 2222, "user": "root", "known-hosts-file": "/inv/kh"
        }))
        .unwrap();
        let banner = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
            @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
            @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
            IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
            Add correct host key in /inv/kh to get rid of this message.\n\
            Offending ED25519 key in /inv/kh:3\n\
            Host key for [10.0.0.1]:2222 has changed and you have requested strict checking.\n\
            Host key verification failed.";
        let line = connect_failure(&access, banner);
        assert!(!line.contains('\n') && !line.contains("@@@"), "{line}");
        assert!(
            line.starts_with("root@10.0.0.1:2222: Host key verification failed"),
            "{line}"
        );
        assert!(
            line.contains("line 3 of /inv/kh") && line.contains("strict"),
            "{line}"
        );
        let unknown = "No ED25519 host key is known for [10.0.0.1]:2222 and you have requested \
            strict checking.\nHost key verification failed.";
        let line = connect_failure(&access, unknown);
        assert!(line.contains("no host key for it in /inv/kh"), "{line}");
        let refused = connect_failure(
            &access,
            "ssh: connect to host 10.0.0.1 port 2222: Connection refused\n",
        );
        assert_eq!(
            refused,
            "root@10.0.0.1:2222: ssh: connect to host 10.0.0.1 port 2222: Connection refused"
        );
    }

    #[test]
    fn quotes_every_argument_for_the_remote_shell() {
        assert_eq!(shell_quote("ls"), "ls");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's $HOME"), "'it'\\''s $HOME'");
        let argv = ["echo".to_string(), "a; rm -rf /".to_string()];
        let cmd = remote_command(&argv, true, Duration::from_millis(1500));
        assert_eq!(
            cmd,
            "if command -v timeout >/dev/null 2>&1; then exec timeout -k 2 4 sudo -n echo 'a; rm -rf /'; \
             else exec sudo -n echo 'a; rm -rf /'; fi"
        );
    }
}
