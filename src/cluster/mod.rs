//! Connection to a Kubernetes cluster: kubeconfig + context (or in-cluster config), a read
//! timeout on every request, the context allow-list guard, node selection and pod helpers.

mod connect;
mod host;
pub mod nodes;
pub mod pods;
pub mod select;

pub use connect::{ClusterError, Connection, IN_CLUSTER_CONTEXT};
pub use select::{NodeRole, NodeSelection, Pick, SelfIdentity};

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::OnceCell;

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

/// A lazily connected cluster client.
pub struct Cluster {
    pub settings: ClusterSettings,
    connection: OnceCell<Connection>,
    client: OnceCell<kube::Client>,
}

impl Cluster {
    /// Nothing is contacted until [`Cluster::client`] is called.
    pub fn new(settings: ClusterSettings) -> Self {
        Self {
            settings,
            connection: OnceCell::new(),
            client: OnceCell::new(),
        }
    }

    /// The resolved connection (context name and client config), after the context guard.
    pub async fn connection(&self) -> Result<&Connection, String> {
        self.connection
            .get_or_try_init(|| connect::resolve(&self.settings))
            .await
            .map_err(|e| e.to_string())
    }

    /// The client, connecting on first use; refuses contexts outside the allow-list.
    pub async fn client(&self) -> Result<kube::Client, String> {
        let connection = self.connection().await?;
        self.client
            .get_or_try_init(|| async { connection.client(None, None) })
            .await
            .cloned()
    }
}
