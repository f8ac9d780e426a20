//! `kubedrill lab up|status|down`: the local lab (network namespaces with sshd, etcd,
//! NATS, dnsmasq and a kubelet stand-in), or with `--kubernetes` an HA Kubernetes cluster
//! (three control-plane nodes behind HAProxy, kwok workers, CoreDNS).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::exit_code::ExitCode;
use crate::lab::{self, LabConfig};
use crate::scenario::duration::HumanDuration;

/// `lab` subcommands.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Build the lab (idempotent) and print its inventory.
    Up(LabArgs),
    /// Show every node and service, up or down.
    Status(LabArgs),
    /// Remove everything `up` created (idempotent).
    Down(LabArgs),
}

/// Where the lab lives and its shape.
#[derive(Debug, Args)]
pub struct LabArgs {
    /// The lab's directory (all its state) [default: /var/lib/kubedrill/lab, with
    /// --kubernetes /var/lib/kubedrill/lab-k8s].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The Kubernetes lab: n0..n2 control plane (etcd, kube-apiserver, controller-manager,
    /// scheduler, CoreDNS), workers w0.., HAProxy, kwok kubelets, kubeconfig context
    /// `kubedrill-lab`; binaries from `bash scripts/build-lab-bins.sh`. Defaults: 6 nodes,
    /// prefix kdk8s, subnet 10.214.0.0/24.
    #[arg(long)]
    pub kubernetes: bool,
    /// Number of nodes (etcd runs on the first three; in a Kubernetes lab the rest are
    /// workers).
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Prefix of namespace, bridge and veth names.
    #[arg(long)]
    pub prefix: Option<String>,
    /// IPv4 subnet of the lab bridge.
    #[arg(long)]
    pub subnet: Option<String>,
    /// Run every node service under a supervisor that starts it again DELAY after it exits
    /// (like systemd's `Restart=always`, `RestartSec=DELAY`); `ctl stop` stops it for good.
    /// Only the plain lab; applies to services started by this `up`.
    #[arg(long, value_name = "DELAY", num_args = 0..=1, default_missing_value = "2s")]
    pub supervise: Option<HumanDuration>,
}

impl LabArgs {
    /// The recorded config of a lab in `dir`, with command-line overrides.
    fn config(&self) -> Result<LabConfig, String> {
        let defaults = if self.kubernetes {
            LabConfig::kubernetes_default()
        } else {
            LabConfig::default()
        };
        let dir = self.dir.clone().unwrap_or_else(|| defaults.dir.clone());
        let recorded = LabConfig::from_dir(&dir).map_err(|e| e.to_string())?;
        let mut cfg = recorded.unwrap_or(defaults);
        cfg.dir = dir;
        if let Some(n) = self.nodes {
            cfg.nodes = n;
        }
        if let Some(p) = &self.prefix {
            cfg.name_prefix = p.clone();
        }
        if let Some(s) = &self.subnet {
            cfg.subnet = s.clone();
        }
        Ok(cfg)
    }
}

/// Runs a `lab` subcommand.
pub async fn lab(cmd: LabCommand) -> i32 {
    let result = match cmd {
        LabCommand::Up(a) => up(&a).await,
        LabCommand::Status(a) => status(&a).await,
        LabCommand::Down(a) => down(&a).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::Aborted.code()
        }
    }
}

async fn up(a: &LabArgs) -> Result<i32, String> {
    let cfg = a.config()?;
    let l = match (a.kubernetes, a.supervise) {
        (true, Some(_)) => {
            eprintln!("error: --supervise is for the plain lab (not --kubernetes)");
            return Ok(ExitCode::Invalid.code());
        }
        (true, None) => lab::up_kubernetes(&cfg).await,
        (false, supervise) => lab::up_supervised(&cfg, supervise.map(HumanDuration::get)).await,
    };
    let l = l.map_err(|e| e.to_string())?;
    print!("{}", l.inventory.to_yaml());
    println!("# inventory: {}", l.inventory_file.display());
    println!(
        "# variables: {}  (kubedrill run --vars {} ...)",
        l.vars_file.display(),
        l.vars_file.display()
    );
    if a.kubernetes {
        let kubeconfig = &l.vars["kubeconfig"];
        println!(
            "# kubeconfig: {kubeconfig}  (kubectl --kubeconfig {kubeconfig} --context {} get nodes)",
            lab::KUBERNETES_CONTEXT
        );
    }
    Ok(ExitCode::Pass.code())
}

async fn status(a: &LabArgs) -> Result<i32, String> {
    let cfg = a.config()?;
    let st = lab::status(&cfg).await.map_err(|e| e.to_string())?;
    for n in &st.nodes {
        let services: Vec<String> = n
            .services
            .iter()
            .map(|(name, r)| match r {
                Ok(()) => format!("{name}:up"),
                Err(e) => format!("{name}:DOWN({e})"),
            })
            .collect();
        println!("{:<6} {:<15} {}", n.name, n.address, services.join(" "));
    }
    if let Some(Ok(stream)) = &st.nats_stream {
        println!("nats   {stream}");
    }
    if st.all_up() {
        Ok(ExitCode::Pass.code())
    } else {
        for p in st.problems() {
            eprintln!("problem: {p}");
        }
        Ok(ExitCode::ExpectationsFailed.code())
    }
}

async fn down(a: &LabArgs) -> Result<i32, String> {
    let cfg = a.config()?;
    lab::down(&cfg).await.map_err(|e| e.to_string())?;
    println!("lab in {} is down", cfg.dir.display());
    Ok(ExitCode::Pass.code())
}
