//! Kubeconfig exec credential plugins (`users[].user.exec`: EKS, GKE, kubelogin), run by
//! kubedrill itself rather than by kube: kube 5 runs the plugin synchronously each time a
//! client is built (several times per client), with no timeout and the terminal's stdin.
//! Here it runs once per run, as a child process awaited off the async threads, with stdin
//! from /dev/null, in its own process group that is killed when it overruns its timeout;
//! its credential (a token, or a client certificate and key) is kept and the plugin runs
//! again only when that credential is about to expire. A run of the plugin is a task of
//! its own that every caller waits on, so a caller that gives up (a probe sample timing
//! out) neither kills it nor makes the next caller start another.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, FutureExt, Shared};
use kube::config::{AuthInfo, ExecConfig, ExecInteractiveMode};
use serde::Deserialize;

/// How long a plugin may take to print its credential.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// A credential is renewed this long before it expires, as kube does; one that lives
/// shorter than twice this is renewed halfway through its life instead, so a plugin
/// issuing short-lived credentials is not run at every request.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// The secret part of a credential. Never printed (no `Debug`).
#[derive(Clone)]
enum Secret {
    Token(String),
    /// PEM certificate and key.
    Certificate {
        cert: String,
        key: String,
    },
}

/// What one run of the plugin gave.
#[derive(Clone)]
pub struct Credential {
    secret: Secret,
    expires: Option<DateTime<Utc>>,
    /// When the plugin gave it.
    obtained: DateTime<Utc>,
    /// Counts plugin runs: clients built from an older credential are stale.
    pub generation: u64,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("expires", &self.expires)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Credential {
    fn fresh(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_none_or(|e| {
            let margin = chrono::Duration::from_std(RENEW_BEFORE)
                .unwrap_or_default()
                .min((e - self.obtained) / 2);
            now + margin < e
        })
    }

    /// Puts the credential in `auth` (whose `exec` has been taken out), so that kube uses
    /// it as it would a kubeconfig's own token or client certificate data.
    pub fn apply(&self, auth: &mut AuthInfo) -> Result<(), String> {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        // kube's secret fields are built through its own deserializer.
        let secret = match &self.secret {
            Secret::Token(t) => serde_json::json!({ "token": t }),
            Secret::Certificate { cert, key } => serde_json::json!({
                "client-certificate-data": b64(cert),
                "client-key-data": b64(key),
            }),
        };
        let parsed: AuthInfo =
            serde_json::from_value(secret).map_err(|_| "exec plugin credential".to_string())?;
        auth.exec = None;
        match &self.secret {
            Secret::Token(_) => auth.token = parsed.token,
            Secret::Certificate { .. } => {
                auth.client_certificate = None;
                auth.client_key = None;
                auth.client_certificate_data = parsed.client_certificate_data;
                auth.client_key_data = parsed.client_key_data;
            }
        }
        Ok(())
    }
}

/// A kubeconfig's exec plugin and the credential it last gave.
pub struct ExecPlugin {
    plugin: Arc<Plugin>,
    state: Mutex<State>,
}

/// What runs the plugin.
struct Plugin {
    config: ExecConfig,
    timeout: Duration,
}

type Running = Shared<BoxFuture<'static, Result<Arc<Credential>, String>>>;

#[derive(Default)]
struct State {
    last: Option<Arc<Credential>>,
    /// The run in progress, shared by every caller.
    running: Option<Running>,
}

impl std::fmt::Debug for ExecPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecPlugin")
            .field("command", &self.command())
            .finish_non_exhaustive()
    }
}

impl ExecPlugin {
    /// The plugin of `auth` when kube would use it: no token, token file, basic auth or auth
    /// provider comes first (kube's order).
    pub fn of(auth: &AuthInfo, timeout: Duration) -> Option<Self> {
        let first = auth.auth_provider.is_some()
            || auth.token.is_some()
            || auth.token_file.is_some()
            || (auth.username.is_some() && auth.password.is_some());
        let config = auth.exec.clone().filter(|_| !first)?;
        Some(Self {
            plugin: Arc::new(Plugin { config, timeout }),
            state: Mutex::new(State::default()),
        })
    }

    /// The plugin's command as the kubeconfig names it.
    pub fn command(&self) -> &str {
        self.plugin.command()
    }

    /// The current credential: the last one while it is not about to expire, otherwise
    /// that of a run of the plugin (the one in progress, or a new one).
    pub async fn credential(&self) -> Result<Arc<Credential>, String> {
        let running = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = st.last.as_ref().filter(|c| c.fresh(Utc::now())) {
                return Ok(c.clone());
            }
            let generation = st.last.as_ref().map_or(1, |c| c.generation + 1);
            st.running
                .get_or_insert_with(|| self.start(generation))
                .clone()
        };
        let result = running.clone().await;
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.running.as_ref().is_some_and(|r| r.ptr_eq(&running)) {
            st.running = None;
            if let Ok(c) = &result {
                st.last = Some(c.clone());
            }
        }
        result
    }

    /// A run of the plugin as a task of its own.
    fn start(&self, generation: u64) -> Running {
        let plugin = self.plugin.clone();
        let task = tokio::spawn(async move {
            let obtained = Utc::now();
            let (secret, expires) = plugin.run().await?;
            Ok(Arc::new(Credential {
                secret,
                expires,
                obtained,
                generation,
            }))
        });
        let command = self.command().to_string();
        async move {
            task.await
                .unwrap_or_else(|e| Err(format!("exec credential plugin {command}: {e}")))
        }
        .boxed()
        .shared()
    }
}

/// Kills the plugin's process group when dropped armed: at its timeout, or when the run is
/// dropped (the runtime shutting down) before the plugin ended.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            // SAFETY: signals the process group the plugin leads (pid == pgid).
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

impl Plugin {
    fn command(&self) -> &str {
        self.config.command.as_deref().unwrap_or("")
    }

    fn error(&self, what: impl std::fmt::Display) -> String {
        format!("exec credential plugin {}: {what}", self.command())
    }

    async fn run(&self) -> Result<(Secret, Option<DateTime<Utc>>), String> {
        let cfg = &self.config;
        let Some(command) = cfg.command.as_deref().filter(|c| !c.is_empty()) else {
            return Err("kubeconfig: the user's exec plugin names no command".to_string());
        };
        if cfg.interactive_mode == Some(ExecInteractiveMode::Always) {
            return Err(self.error(
                "needs interactiveMode Always (a terminal); kubedrill runs plugins without stdin: log in beforehand so the plugin has a cached credential, or use a token",
            ));
        }
        let mut cmd = tokio::process::Command::new(command);
        cmd.args(cfg.args.iter().flatten());
        for env in cfg.env.iter().flatten() {
            if let (Some(name), Some(value)) = (env.get("name"), env.get("value")) {
                cmd.env(name, value);
            }
        }
        cmd.env("KUBERNETES_EXEC_INFO", self.exec_info()?);
        for name in cfg.drop_env.iter().flatten() {
            cmd.env_remove(name);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let child = cmd.spawn().map_err(|e| {
            let hint = cfg
                .install_hint
                .as_deref()
                .map(|h| format!(" ({})", h.trim()))
                .unwrap_or_default();
            self.error(format!("cannot start: {e}{hint}"))
        })?;
        // The whole group: a shell's children would otherwise live on.
        let mut group = GroupGuard(child.id().and_then(|p| i32::try_from(p).ok()));
        let out = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(out) => {
                group.0 = None;
                out.map_err(|e| self.error(e))?
            }
            Err(_) => {
                drop(group);
                return Err(self.error(format!(
                    "printed no credential within {}; it was killed",
                    humantime::format_duration(self.timeout)
                )));
            }
        };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            let first: String = first.chars().take(200).collect();
            return Err(self.error(format!("exited with {}: {first}", out.status)));
        }
        self.parse(&out.stdout)
    }

    /// `KUBERNETES_EXEC_INFO`: the ExecCredential spec the plugin may read (never
    /// interactive; the cluster when `provideClusterInfo`).
    fn exec_info(&self) -> Result<String, String> {
        let mut spec = serde_json::json!({ "interactive": false });
        if self.config.provide_cluster_info {
            if let Some(cluster) = &self.config.cluster {
                spec["cluster"] = serde_json::to_value(cluster).map_err(|e| self.error(e))?;
            }
        }
        Ok(serde_json::json!({
            "apiVersion": self.config.api_version,
            "kind": "ExecCredential",
            "spec": spec,
        })
        .to_string())
    }

    /// The plugin's ExecCredential (JSON, or YAML as client-go also accepts).
    fn parse(&self, stdout: &[u8]) -> Result<(Secret, Option<DateTime<Utc>>), String> {
        // Parse errors never quote the output: it holds the secret.
        let cred: ExecCredential = serde_yaml::from_slice(stdout).map_err(|_| {
            self.error("did not print an ExecCredential (JSON with status.token or status.clientCertificateData)")
        })?;
        if let (Some(want), Some(got)) = (&self.config.api_version, &cred.api_version) {
            if want != got {
                return Err(self.error(format!(
                    "printed apiVersion {got}, the kubeconfig asks for {want}"
                )));
            }
        }
        let status = cred
            .status
            .ok_or_else(|| self.error("printed an ExecCredential without status"))?;
        let expires = status
            .expiration_timestamp
            .as_deref()
            .map(|t| {
                DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| self.error(format!("expirationTimestamp {t}: {e}")))
            })
            .transpose()?;
        let secret = match (
            status.token,
            status.client_certificate_data,
            status.client_key_data,
        ) {
            (_, Some(cert), Some(key)) => Secret::Certificate { cert, key },
            (Some(token), _, _) if !token.is_empty() => Secret::Token(token),
            _ => return Err(self.error(
                "printed neither status.token nor status.clientCertificateData and clientKeyData",
            )),
        };
        Ok((secret, expires))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential {
    api_version: Option<String>,
    status: Option<ExecCredentialStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialStatus {
    token: Option<String>,
    client_certificate_data: Option<String>,
    client_key_data: Option<String>,
    expiration_timestamp: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(script: &str, timeout: Duration) -> (tempfile::TempDir, ExecPlugin) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("plugin.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let auth = AuthInfo {
            exec: Some(ExecConfig {
                api_version: Some("client.authentication.k8s.io/v1".into()),
                command: Some(path.display().to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let p = ExecPlugin::of(&auth, timeout).expect("exec is used");
        (dir, p)
    }

    fn printing(status: &str) -> String {
        format!(
            "echo run >> \"$(dirname \"$0\")/runs\"\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{status}}}'"
        )
    }

    fn runs(dir: &tempfile::TempDir) -> usize {
        std::fs::read_to_string(dir.path().join("runs"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    #[tokio::test]
    async fn a_token_is_kept_until_it_is_about_to_expire() {
        let later = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
        let (dir, p) = plugin(
            &printing(&format!(
                "{{\"token\":\"t1\",\"expirationTimestamp\":\"{later}\"}}"
            )),
            Duration::from_secs(10),
        );
        let a = p.credential().await.unwrap();
        let b = p.credential().await.unwrap();
        assert_eq!((runs(&dir), a.generation, b.generation), (1, 1, 1));
        let mut auth = AuthInfo::default();
        a.apply(&mut auth).unwrap();
        assert!(auth.token.is_some() && auth.exec.is_none());

        // One living 30s is kept (renewed halfway through its life, not at every use)...
        let soon = (Utc::now() + chrono::Duration::seconds(30)).to_rfc3339();
        let (dir, p) = plugin(
            &printing(&format!(
                "{{\"token\":\"t\",\"expirationTimestamp\":\"{soon}\"}}"
            )),
            Duration::from_secs(10),
        );
        p.credential().await.unwrap();
        assert_eq!(p.credential().await.unwrap().generation, 1);
        assert_eq!(runs(&dir), 1);
        // ... one already expired is renewed at the next use.
        let past = (Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
        let (dir, p) = plugin(
            &printing(&format!(
                "{{\"token\":\"t\",\"expirationTimestamp\":\"{past}\"}}"
            )),
            Duration::from_secs(10),
        );
        p.credential().await.unwrap();
        let again = p.credential().await.unwrap();
        assert_eq!((runs(&dir), again.generation), (2, 2));
    }

    #[tokio::test]
    async fn errors_name_the_plugin_and_never_quote_its_output() {
        let (_d, p) = plugin("echo 'not json: secret-xyz'", Duration::from_secs(10));
        let e = p.credential().await.unwrap_err();
        assert!(e.contains(p.command()) && !e.contains("secret-xyz"), "{e}");
        let (_d, p) = plugin("echo denied >&2; exit 3", Duration::from_secs(10));
        let e = p.credential().await.unwrap_err();
        assert!(e.contains("exited with") && e.contains("denied"), "{e}");
        let (_d, p) = plugin(&printing("{}"), Duration::from_secs(10));
        let e = p.credential().await.unwrap_err();
        assert!(e.contains("neither status.token"), "{e}");
    }

    /// On a one-thread runtime, so a plugin run on the async thread would stop the ticker.
    #[tokio::test(flavor = "current_thread")]
    async fn a_hanging_plugin_is_killed_at_its_timeout_without_blocking_the_runtime() {
        let (dir, p) = plugin(
            "sleep 1000 &\necho $! > \"$(dirname \"$0\")/child\"\nwait",
            Duration::from_millis(800),
        );
        let ticks = std::sync::atomic::AtomicU32::new(0);
        let ticker = async {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        };
        let started = std::time::Instant::now();
        let e = tokio::select! {
            r = p.credential() => r.unwrap_err(),
            _ = ticker => unreachable!(),
        };
        let took = started.elapsed();
        assert!(e.contains(p.command()) && e.contains("within 800ms"), "{e}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        let ticks = ticks.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            ticks >= 10,
            "the runtime went on while the plugin ran: {ticks} ticks"
        );
        // The plugin's own child went with it (the whole process group was killed).
        let child = std::fs::read_to_string(dir.path().join("child")).unwrap();
        // Gone, or a zombie waiting for init to reap it.
        let alive = |pid: &str| {
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
                .is_ok_and(|s| !s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive(&child) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!alive(&child), "sleep {child} outlived the plugin");
    }

    #[test]
    fn a_kubeconfig_token_comes_before_the_plugin() {
        let auth: AuthInfo =
            serde_json::from_value(serde_json::json!({ "token": "x", "exec": { "command": "c" } }))
                .unwrap();
        assert!(ExecPlugin::of(&auth, DEFAULT_EXEC_TIMEOUT).is_none());
    }
}
