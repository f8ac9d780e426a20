//! Connection to a Kubernetes cluster: kubeconfig + context (or in-cluster config), a read
//! timeout on every request, the context allow-list guard, node selection and pod helpers.

mod connect;
mod exec_credential;
mod host;
pub mod nodes;
pub mod pods;
pub mod select;

pub use connect::{ClusterError, Connection, IN_CLUSTER_CONTEXT};
pub use exec_credential::{Credential, DEFAULT_EXEC_TIMEOUT};
pub use select::{NodeRole, NodeSelection, Pick, SelfIdentity};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::Mutex;

/// How to reach the cluster and which contexts may be touched.
#[derive(Debug, Clone, Default)]
pub struct ClusterSettings {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Contexts the scenario allows (its `target.context` / `target.allowed-contexts`).
    pub allowed: Vec<String>,
    /// Extra contexts allowed on the command line (`--allow-context`).
    pub allow_extra: Vec<String>,
    /// Timeout for each API request (connect, read and write).
    pub request_timeout: Duration,
}

impl ClusterSettings {
    /// Settings for `kubedrill recover`: the kubeconfig and context a run's journal recorded;
    /// that context (which the run was allowed to touch) is the only one allowed.
    pub fn for_recovery(kubeconfig: Option<PathBuf>, context: Option<String>) -> Self {
        Self {
            kubeconfig,
            allowed: context.iter().cloned().collect(),
            context,
            ..Self::default()
        }
    }

    /// The request timeout, 10 s when unset.
    pub fn effective_timeout(&self) -> Duration {
        if self.request_timeout.is_zero() {
            Duration::from_secs(10)
        } else {
            self.request_timeout
        }
    }
}

type Resolving = Shared<BoxFuture<'static, Result<Connection, String>>>;

/// Clients are shared per (server override, timeout override).
type ClientKey = (Option<String>, Option<Duration>);

/// A lazily connected cluster: the connection is resolved (and an exec credential plugin
/// run) once per run; clients are built once per (server, timeout) and rebuilt only when
/// the plugin gave a new credential.
pub struct Cluster {
    pub settings: ClusterSettings,
    /// The outcome of resolving, kept: a plugin that failed is not run again per caller.
    connection: OnceLock<Result<Connection, String>>,
    /// The resolution in progress: a task every caller waits on, so a caller that gives
    /// up (a probe sample timing out) does not make the next one start it again.
    resolving: std::sync::Mutex<Option<Resolving>>,
    /// Each client with the credential generation it was built with (0: no plugin).
    clients: Mutex<HashMap<ClientKey, (u64, kube::Client)>>,
}

impl Cluster {
    /// Nothing is contacted until [`Cluster::client`] is called.
    pub fn new(settings: ClusterSettings) -> Self {
        Self {
            settings,
            connection: OnceLock::new(),
            resolving: std::sync::Mutex::new(None),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The resolved connection (context name and client config, the exec plugin's first
    /// credential obtained), after the context guard; resolved once, errors included.
    pub async fn connection(&self) -> Result<&Connection, String> {
        if self.connection.get().is_none() {
            let resolving = {
                let mut r = self.resolving.lock().unwrap_or_else(|p| p.into_inner());
                r.get_or_insert_with(|| {
                    let settings = self.settings.clone();
                    let task = tokio::spawn(async move {
                        connect::resolve(&settings).await.map_err(|e| e.to_string())
                    });
                    async move { task.await.unwrap_or_else(|e| Err(e.to_string())) }
                        .boxed()
                        .shared()
                })
                .clone()
            };
            let outcome = resolving.await;
            let _ = self.connection.set(outcome);
        }
        match self.connection.get() {
            Some(Ok(c)) => Ok(c),
            Some(Err(e)) => Err(e.clone()),
            None => Err("Kubernetes connection not resolved".to_string()),
        }
    }

    /// The client, connecting on first use; refuses contexts outside the allow-list.
    pub async fn client(&self) -> Result<kube::Client, String> {
        self.client_for(None, None).await
    }

    /// The shared client for `server` (instead of the kubeconfig's) and `timeout` (instead
    /// of the run's request timeout); built on first use and again only after the exec
    /// plugin renewed the credential.
    pub async fn client_for(
        &self,
        server: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<kube::Client, String> {
        let connection = self.connection().await?;
        let credential = connection.credential().await?;
        let generation = credential.as_ref().map_or(0, |c| c.generation);
        let key = (server.map(str::to_string), timeout);
        let mut clients = self.clients.lock().await;
        if let Some((g, client)) = clients.get(&key) {
            if *g == generation {
                return Ok(client.clone());
            }
        }
        let client = connection.client_with(credential.as_deref(), server, timeout)?;
        clients.insert(key, (generation, client.clone()));
        Ok(client)
    }
}
