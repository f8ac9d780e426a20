//! Resolving the kubeconfig and context, the context guard, and building clients.

use std::sync::Arc;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::exec_credential::{Credential, ExecPlugin, DEFAULT_EXEC_TIMEOUT};
use super::ClusterSettings;

/// The context name used for the in-cluster service account config.
pub const IN_CLUSTER_CONTEXT: &str = "in-cluster";

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The context is not in the allow-list.
    #[error("refusing to touch context \"{context}\": this scenario allows {allowed}; if you really mean this cluster, pass --allow-context {context}")]
    ContextNotAllowed { context: String, allowed: String },
    /// No context was named and the kubeconfig's current context would be used.
    #[error("refusing to touch context \"{context}\" (the kubeconfig's current context): the scenario names no context; set `target: {{ context: {context} }}` in the scenario or pass --allow-context {context}")]
    CurrentContextNotNamed { context: String },
    /// Nothing names a context and the kubeconfig has no current context.
    #[error("no Kubernetes context: the kubeconfig has no current-context; set target.context or pass --context")]
    NoContext,
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// The kubeconfig's exec credential plugin failed, hung or printed no credential.
    #[error("{0}")]
    Credential(String),
}

/// A resolved, allowed connection: the context name and the client configuration; the
/// exec credential plugin, when the kubeconfig's user has one, is run by kubedrill (see
/// `exec_credential.rs`) and kube gets its credential.
#[derive(Clone)]
pub struct Connection {
    pub context: String,
    pub config: kube::Config,
    exec: Option<Arc<ExecPlugin>>,
}

impl std::fmt::Debug for Connection {
    // `kube::Config` holds credentials: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("context", &self.context)
            .field("server", &self.config.cluster_url.to_string())
            .finish()
    }
}

impl Connection {
    /// The API server URL of the context.
    pub fn server(&self) -> String {
        self.config.cluster_url.to_string()
    }

    /// The exec plugin's current credential (running the plugin only when there is none
    /// yet or it is about to expire); `None` without a plugin.
    pub async fn credential(&self) -> Result<Option<Arc<Credential>>, String> {
        match &self.exec {
            Some(plugin) => plugin.credential().await.map(Some),
            None => Ok(None),
        }
    }

    /// A client with the current credential; `server` replaces the API server URL (same
    /// credentials and CA, the TLS name stays the context's host so a control-plane node's
    /// own address validates), `timeout` replaces the request timeout.
    pub async fn client(
        &self,
        server: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<kube::Client, String> {
        let credential = self.credential().await?;
        self.client_with(credential.as_deref(), server, timeout)
    }

    /// A client with `credential` (the exec plugin's; never runs the plugin).
    pub fn client_with(
        &self,
        credential: Option<&Credential>,
        server: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<kube::Client, String> {
        let mut config = self.config.clone();
        if let Some(c) = credential {
            c.apply(&mut config.auth_info)?;
        }
        if let Some(url) = server {
            if config.tls_server_name.is_none() {
                config.tls_server_name = self.config.cluster_url.host().map(str::to_string);
            }
            config.cluster_url = url
                .parse()
                .map_err(|e| format!("endpoint {url}: not a URL: {e}"))?;
        }
        if let Some(t) = timeout {
            set_timeouts(&mut config, t);
        }
        kube::Client::try_from(config).map_err(|e| format!("cannot build a client: {e}"))
    }
}

fn set_timeouts(config: &mut kube::Config, timeout: Duration) {
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    config.write_timeout = Some(timeout);
    // Without it, the time a pooled connection sat idle counts against the next response's
    // read timeout (kube 5), so a slow answer within the timeout could fail early.
    config.reset_reader_on_write = true;
}

/// Reads the kubeconfig (or the in-cluster config), applies the context guard and timeouts.
pub async fn resolve(s: &ClusterSettings) -> Result<Connection, ClusterError> {
    let (context, mut config) = match load_kubeconfig(s)? {
        Some(kc) => {
            let named = s.context.clone();
            let context = named
                .clone()
                .or_else(|| kc.current_context.clone())
                .ok_or(ClusterError::NoContext)?;
            check_allowed(s, &context, named.is_none())?;
            if !kc.contexts.iter().any(|c| c.name == context) {
                let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
                return Err(ClusterError::Kubeconfig(format!(
                    "context \"{context}\" is not in the kubeconfig (it has: {}); pass --kubeconfig or --context",
                    known.join(", ")
                )));
            }
            let options = KubeConfigOptions {
                context: Some(context.clone()),
                ..Default::default()
            };
            let config = kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| ClusterError::Kubeconfig(e.to_string()))?;
            (context, config)
        }
        None => {
            let context = IN_CLUSTER_CONTEXT.to_string();
            check_allowed(s, &context, s.context.is_none())?;
            let config = kube::Config::incluster()
                .map_err(|e| ClusterError::Kubeconfig(format!("in-cluster config: {e}")))?;
            (context, config)
        }
    };
    set_timeouts(&mut config, s.effective_timeout());
    // Retries would hide 429s from the drain's count and stretch outages seen by probes.
    config.default_retry = false;
    // kube would run the plugin itself at every client build: take it out and run it here.
    let exec = ExecPlugin::of(&config.auth_info, DEFAULT_EXEC_TIMEOUT).map(Arc::new);
    if exec.is_some() {
        config.auth_info.exec = None;
    }
    let connection = Connection {
        context,
        config,
        exec,
    };
    // A plugin that fails or hangs refuses the run here, before anything is injected.
    connection
        .credential()
        .await
        .map_err(ClusterError::Credential)?;
    Ok(connection)
}

/// `None`: no kubeconfig anywhere but we run inside a pod, so use the in-cluster config.
fn load_kubeconfig(s: &ClusterSettings) -> Result<Option<Kubeconfig>, ClusterError> {
    if let Some(path) = &s.kubeconfig {
        return Kubeconfig::read_from(path)
            .map(Some)
            .map_err(|e| ClusterError::Kubeconfig(format!("{}: {e}", path.display())));
    }
    match Kubeconfig::read() {
        Ok(kc) => Ok(Some(kc)),
        Err(_) if in_cluster() && s.context.as_deref().is_none_or(|c| c == IN_CLUSTER_CONTEXT) => {
            Ok(None)
        }
        Err(e) => Err(ClusterError::Kubeconfig(e.to_string())),
    }
}

fn in_cluster() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
}

/// The guard: only contexts the scenario names, or `--allow-context` adds, are touched.
fn check_allowed(s: &ClusterSettings, context: &str, implicit: bool) -> Result<(), ClusterError> {
    let allowed = s.allowed.iter().chain(&s.allow_extra);
    if allowed.clone().any(|a| a == context) {
        return Ok(());
    }
    if s.allowed.is_empty() && implicit {
        return Err(ClusterError::CurrentContextNotNamed {
            context: context.to_string(),
        });
    }
    let names: Vec<String> = allowed.map(|a| format!("\"{a}\"")).collect();
    Err(ClusterError::ContextNotAllowed {
        context: context.to_string(),
        allowed: if names.is_empty() {
            "no context".to_string()
        } else {
            format!("only {}", names.join(", "))
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(allowed: &[&str], extra: &[&str]) -> ClusterSettings {
        ClusterSettings {
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
            allow_extra: extra.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn named_context_must_be_allowed() {
        let s = settings(&["kind-drill"], &[]);
        assert!(check_allowed(&s, "kind-drill", false).is_ok());
        let err = check_allowed(&s, "prod", false).unwrap_err().to_string();
        assert!(
            err.contains("\"prod\"") && err.contains("--allow-context prod"),
            "{err}"
        );
        assert!(check_allowed(&settings(&["kind-drill"], &["prod"]), "prod", false).is_ok());
    }

    #[test]
    fn current_context_is_refused_when_the_scenario_names_none() {
        let err = check_allowed(&settings(&[], &[]), "prod", true).unwrap_err();
        assert!(matches!(err, ClusterError::CurrentContextNotNamed { .. }));
        assert!(err.to_string().contains("--allow-context prod"));
        assert!(check_allowed(&settings(&[], &["prod"]), "prod", true).is_ok());
    }
}
