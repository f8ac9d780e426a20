//! `lab up --kubernetes`: network, PKI, configs, then the components in dependency order,
//! until every component answers, every node is Ready and the fixtures are Ready.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::kubectl::Kubectl;
use super::{binaries, cluster_dns, fixtures, kwok_nodes, lb_url, load_balancer, path, pki};
use crate::lab::config::Layout;
use crate::lab::host::{require_root, run};
use crate::lab::services::{self, write};
use crate::lab::{claim_dir, describe_layout, net, wait_ready, Lab, LabConfig, LabError};

/// The file in the lab directory that marks a Kubernetes lab and records its binaries.
pub const MARKER: &str = "kubernetes.yaml";

/// What `up --kubernetes` records next to `lab.yaml`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Recorded {
    /// The binaries the control scripts run (the cache directory, resolved).
    bin_dir: PathBuf,
}

/// True when `dir` holds a lab built by `up --kubernetes`.
pub fn is_kubernetes_lab(dir: &Path) -> bool {
    dir.join(MARKER).is_file()
}

pub fn recorded_bin_dir(l: &Layout) -> Option<PathBuf> {
    let text = std::fs::read_to_string(l.dir.join(MARKER)).ok()?;
    serde_yaml::from_str::<Recorded>(&text)
        .ok()
        .map(|r| r.bin_dir)
}

/// kubectl as the lab admin, with the binaries the lab was built with.
pub fn recorded_kubectl(l: &Layout) -> Result<Kubectl, String> {
    let bin = recorded_bin_dir(l).ok_or_else(|| format!("{} has no {MARKER}", l.dir.display()))?;
    Ok(Kubectl::new(l, &bin.join("kubectl")))
}

/// Builds (or completes) the Kubernetes lab and waits until it is whole.
pub async fn up(cfg: &LabConfig) -> Result<Lab, LabError> {
    let l = Layout::kubernetes(cfg)?;
    require_root()?;
    let programs = binaries::find()?;
    let runner = &cfg.kubelet_standin[0];
    if crate::lab::host::which(runner).is_none() {
        return Err(LabError::MissingPrograms(format!(
            "`{runner}` (the pod runner, `--pods`; `cargo build` builds kubedrill-kubelet-standin)"
        )));
    }
    if LabConfig::from_dir(&cfg.dir)?.is_some() && !is_kubernetes_lab(&cfg.dir) {
        return Err(LabError::Invalid(format!(
            "{} holds a lab built without --kubernetes; run `lab down` first",
            cfg.dir.display()
        )));
    }
    claim_dir(cfg)?;
    let bin_dir = programs["kubectl"]
        .parent()
        .expect("a binary is in a directory")
        .to_path_buf();
    let recorded = serde_yaml::to_string(&Recorded { bin_dir }).expect("serialises");
    write(&cfg.dir.join(MARKER), &recorded)?;
    let started = Instant::now();
    let deadline = started + cfg.ready_timeout;

    net::up(&l).await?;
    load_balancer::net_up(&l).await?;
    pki::ensure(&l, &programs["openssl"]).await?;
    services::prepare(&l, &programs).await?;
    for i in 0..l.etcd_members() {
        write(
            &cluster_dns::corefile_path(&l, i),
            &cluster_dns::corefile(&l, i),
        )?;
    }
    load_balancer::prepare(&l, &programs)?;
    write_kwok_stages(&l, &programs["kwok-stages.yaml"])?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "lab network, PKI and configs ready"
    );

    // kwok needs its Node object, CoreDNS its RBAC, and the controllers the bootstrap
    // RBAC of their own apiserver (they exit when refused): all start once every
    // apiserver is ready.
    let late = [
        "kube-controller-manager",
        "kube-scheduler",
        "coredns",
        "kubelet",
    ];
    start(&l, |s| !late.contains(&s)).await?;
    load_balancer::start(&l, "haproxy").await?;
    let lab = describe_layout(&l);
    services::write(&lab.inventory_file, &lab.inventory.to_yaml())?;
    let vars = serde_yaml::to_string(&lab.vars).expect("string map serialises");
    services::write(&lab.vars_file, &vars)?;

    wait_api(&l, deadline, cfg.ready_timeout).await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "API ready through the load balancer"
    );
    let kubectl = Kubectl::new(&l, &programs["kubectl"]);
    fixtures::apply(&l, &kubectl).await?;
    start(&l, |s| late.contains(&s)).await?;
    load_balancer::start(&l, load_balancer::POD_RUNNER).await?;
    let left = deadline.saturating_duration_since(Instant::now());
    wait_ready(&l, left.max(Duration::from_secs(1))).await?;
    // The NATS StatefulSet's stream for drills that publish (as on the plain lab).
    let urls = fixtures::nats_pod_urls(&kubectl)
        .await
        .map_err(LabError::Invalid)?;
    let left = deadline.saturating_duration_since(Instant::now());
    crate::lab::nats_stream::ensure(&urls, urls.len().min(3), left.max(Duration::from_secs(5)))
        .await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "Kubernetes lab ready"
    );
    Ok(lab)
}

/// The lab's kwok stages, from the build's (see [`kwok_nodes::stages`]).
fn write_kwok_stages(l: &Layout, built: &Path) -> Result<(), LabError> {
    let text = std::fs::read_to_string(built).map_err(|source| LabError::Io {
        path: built.to_path_buf(),
        source,
    })?;
    let stages = kwok_nodes::stages(&text)
        .map_err(|e| LabError::Invalid(format!("{}: {e}", built.display())))?;
    write(&kwok_nodes::stages_path(l), &stages)
}

/// Starts the services `pick` selects on every node (nodes in parallel, each in order).
async fn start(l: &Layout, pick: impl Fn(&str) -> bool) -> Result<(), LabError> {
    let nodes = (0..l.nodes).map(|i| {
        let names: Vec<&str> = services::node_services(l, i)
            .into_iter()
            .filter(|s| pick(s))
            .collect();
        async move {
            let (ns, ctl) = (l.netns(i), path(&l.ctl(i)));
            for s in names {
                run(&["ip", "netns", "exec", &ns, &ctl, "start", s]).await?;
            }
            Ok::<_, LabError>(())
        }
    });
    for r in futures::future::join_all(nodes).await {
        r?;
    }
    Ok(())
}

/// Waits until `GET /readyz` answers on every apiserver and through the load balancer.
async fn wait_api(l: &Layout, deadline: Instant, timeout: Duration) -> Result<(), LabError> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .add_root_certificate(ca(l)?)
        .build()
        .expect("a client with one root certificate builds");
    let urls: Vec<String> = (0..l.etcd_members())
        .map(|i| super::apiserver_url(l, i))
        .chain([lb_url(l)])
        .map(|u| format!("{u}/readyz"))
        .collect();
    loop {
        let answers = urls.iter().map(|url| {
            let http = &http;
            async move {
                match http.get(url).send().await {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(format!("{url}: {}", r.status())),
                    Err(e) => Some(format!("{url}: {e}")),
                }
            }
        });
        let problems: Vec<String> = futures::future::join_all(answers)
            .await
            .into_iter()
            .flatten()
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        let last = problems.join("; ");
        if Instant::now() >= deadline {
            return Err(LabError::NotReady {
                after: timeout,
                details: format!("{last}; logs in {}/nodes/*/log/", l.dir.display()),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn ca(l: &Layout) -> Result<reqwest::Certificate, LabError> {
    let file = pki::ca_cert(l);
    let pem = std::fs::read(&file).map_err(|source| LabError::Io {
        path: file.clone(),
        source,
    })?;
    reqwest::Certificate::from_pem(&pem)
        .map_err(|e| LabError::Invalid(format!("{}: {e}", file.display())))
}
