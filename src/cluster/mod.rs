//! Connection to a Kubernetes cluster: kubeconfig + context, a read timeout on every
//! request, and the context allow-list guard.

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

/// A lazily connected cluster client.
pub struct Cluster {
    pub settings: ClusterSettings,
    client: OnceCell<kube::Client>,
}

impl Cluster {
    /// Nothing is contacted until [`Cluster::client`] is called.
    pub fn new(settings: ClusterSettings) -> Self {
        Self {
            settings,
            client: OnceCell::new(),
        }
    }

    /// The client, connecting on first use; refuses contexts outside the allow-list.
    pub async fn client(&self) -> Result<kube::Client, String> {
        self.client
            .get_or_try_init(|| connect(&self.settings))
            .await
            .cloned()
    }
}

async fn connect(s: &ClusterSettings) -> Result<kube::Client, String> {
    let options = kube::config::KubeConfigOptions {
        context: s.context.clone(),
        ..Default::default()
    };
    let mut config = match &s.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| e.to_string())?
        }
        None => kube::Config::infer().await.map_err(|e| e.to_string())?,
    };
    let timeout = if s.request_timeout.is_zero() {
        Duration::from_secs(10)
    } else {
        s.request_timeout
    };
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    config.write_timeout = Some(timeout);
    kube::Client::try_from(config).map_err(|e| e.to_string())
}
