//! `kubedrill inject KIND ...` and `kubedrill probe PROBE ...`: one-line drills. The flags
//! become a scenario document, loaded by the same loader as a file (same errors, each
//! naming its flag), run by the same engine with the same live view and reports;
//! `--print-scenario` prints the document instead, so a one-liner can become a file.

use std::path::PathBuf;

use clap::Args;

use super::adhoc_fault::{check_kind, fault_item};
use super::adhoc_probe::probe_items;
use super::adhoc_scenario::{quoted_command, Draft, TargetFlags};
use super::args::{RunArgs, VarArgs};
use crate::exit_code::ExitCode;
use crate::scenario::Scenario;

/// `kubedrill inject`.
#[derive(Debug, Args)]
pub struct InjectArgs {
    /// The fault kind (`kubedrill list` shows them all).
    #[arg(value_name = "KIND")]
    pub kind: String,
    /// The node to hit; written into the kind's node field (`nodes`, `node`, `members`).
    #[arg(long, value_name = "NODE", conflicts_with = "nodes")]
    pub node: Option<String>,
    /// Several nodes, comma-separated.
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// A field of the fault's spec: `--set key=value` (repeatable; the value is YAML, the
    /// key may be dotted: `--set tls.ca=/etc/etcd/ca.pem`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// How long the fault stays before it is reverted.
    #[arg(long = "for", value_name = "DURATION")]
    pub hold: String,
    /// Probes watch this long before the fault (`0s`: none).
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub baseline: String,
    #[command(flatten)]
    pub common: AdhocArgs,
}

/// `kubedrill probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Probes, as `--probe` takes them: api, dns=SERVER,NAME, tcp=HOST:PORT, http=URL,
    /// node-ready, etcd, nats.
    #[arg(value_name = "PROBE")]
    pub probes: Vec<String>,
    /// How long to watch.
    #[arg(long = "for", value_name = "DURATION")]
    pub hold: String,
    #[command(flatten)]
    pub common: AdhocArgs,
}

/// What `inject` and `probe` share: probes, expectations, target, reports.
#[derive(Debug, Args)]
pub struct AdhocArgs {
    /// A probe (repeatable): `api` (fresh connection each sample), `dns=SERVER,NAME`,
    /// `tcp=HOST:PORT`, `http=URL`, `node-ready[=A,B]`, `etcd[=ENDPOINTS]`, `nats[=MONITORS]`,
    /// or any probe kind that needs no arguments.
    #[arg(long = "probe", value_name = "PROBE")]
    pub probe: Vec<String>,
    /// A probe written as YAML (repeatable): '{name: web, http: {url: "http://h/", expect-status: 200}}'.
    #[arg(long = "probe-yaml", value_name = "YAML")]
    pub probe_yaml: Vec<String>,
    /// Interval of every probe given here (default: per kind, e.g. 200ms for tcp and dns).
    #[arg(long, value_name = "DURATION")]
    pub probe_interval: Option<String>,
    /// Timeout of every probe given here (default: per kind, e.g. 1s for tcp and dns).
    #[arg(long, value_name = "DURATION")]
    pub probe_timeout: Option<String>,
    /// An expectation written as YAML (repeatable): '{probe: tcp, max-outage: "<= 5s"}'.
    #[arg(long = "expect-yaml", value_name = "YAML")]
    pub expect_yaml: Vec<String>,
    /// How long a probe must stay healthy to count as recovered (settings.stable-window).
    #[arg(long, value_name = "DURATION")]
    pub stable_window: Option<String>,
    /// How long to keep probing after the revert for recovery (settings.recovery-timeout).
    #[arg(long, value_name = "DURATION")]
    pub recovery_timeout: Option<String>,
    /// The scenario's name (names the run directory; default: adhoc-KIND).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Inventory file (docs/inventory.md), e.g. the one `kubedrill lab up` writes.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Kubeconfig file (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubernetes context to use (and allow).
    #[arg(long)]
    pub context: Option<String>,
    /// Also allow this context (repeatable).
    #[arg(long = "allow-context", value_name = "NAME")]
    pub allow_context: Vec<String>,
    /// Where the run directory is created (default: `reports`).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Print the equivalent scenario YAML and exit without running.
    #[arg(long)]
    pub print_scenario: bool,
    /// Validate and print the plan; inject nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub serve: super::args::ServeArgs,
}

/// Runs `kubedrill inject`.
pub async fn inject(a: InjectArgs, quiet: bool) -> i32 {
    if let Err(e) = check_kind(&a.kind) {
        eprintln!("error: {e}");
        return ExitCode::Invalid.code();
    }
    let nodes = match &a.node {
        Some(n) => vec![n.clone()],
        None => a.nodes.clone(),
    };
    let fault = match fault_item(&a.kind, &a.set, &nodes) {
        Ok(f) => f,
        Err(e) => return invalid(&e),
    };
    let baseline = humantime::parse_duration(&a.baseline)
        .map_or(true, |d| !d.is_zero())
        .then(|| a.baseline.clone());
    let name = format!("adhoc-{}", a.kind);
    start(
        &a.common,
        name,
        Some((a.kind.clone(), fault)),
        a.hold.clone(),
        baseline,
        &[],
        quiet,
    )
    .await
}

/// Runs `kubedrill probe`.
pub async fn probe(a: ProbeArgs, quiet: bool) -> i32 {
    if a.probes.is_empty() && a.common.probe.is_empty() && a.common.probe_yaml.is_empty() {
        return invalid("give at least one probe, e.g. `kubedrill probe api --for 1m`");
    }
    start(
        &a.common,
        "adhoc-probe".into(),
        None,
        a.hold.clone(),
        None,
        &a.probes,
        quiet,
    )
    .await
}

/// The command as typed, as `kubedrill ...`, without `--print-scenario` (the scenario
/// records the drill, not how it was printed).
fn typed_command() -> Vec<String> {
    std::iter::once("kubedrill".to_string())
        .chain(std::env::args().skip(1).filter(|a| a != "--print-scenario"))
        .collect()
}

fn invalid(e: &str) -> i32 {
    eprintln!("error: {e}");
    eprintln!("nothing was run");
    ExitCode::Invalid.code()
}

async fn start(
    c: &AdhocArgs,
    default_name: String,
    fault: Option<(String, super::adhoc_fault::FaultItem)>,
    hold: String,
    baseline: Option<String>,
    positional_probes: &[String],
    quiet: bool,
) -> i32 {
    let shorthands: Vec<String> = positional_probes.iter().chain(&c.probe).cloned().collect();
    let probes = match probe_items(
        &shorthands,
        &c.probe_yaml,
        c.probe_interval.as_deref(),
        c.probe_timeout.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => return invalid(&e),
    };
    let draft = Draft {
        name: c.name.clone().unwrap_or(default_name),
        command: quoted_command(typed_command()),
        fault,
        hold,
        baseline,
        probes,
        expect: c.expect_yaml.clone(),
        target: TargetFlags {
            inventory: c.inventory.clone(),
            context: c.context.clone(),
            kubeconfig: c.kubeconfig.clone(),
            allow_context: c.allow_context.clone(),
        },
        stable_window: c.stable_window.clone(),
        recovery_timeout: c.recovery_timeout.clone(),
    };
    let built = match draft.build() {
        Ok(b) => b,
        Err(e) => return invalid(&e),
    };
    let scenario = match built.load() {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!("the command line is not a valid scenario; nothing was run");
            return ExitCode::Invalid.code();
        }
    };
    if c.print_scenario {
        print!("{}", built.text);
        return ExitCode::Pass.code();
    }
    run_scenario(&scenario, c, quiet).await
}

/// The scenario through the same path as `kubedrill run` (live view, engine, reports).
async fn run_scenario(s: &Scenario, c: &AdhocArgs, quiet: bool) -> i32 {
    // Context, kubeconfig and allowed contexts are in the scenario's target already.
    let a = RunArgs {
        files: Vec::new(),
        vars: VarArgs::default(),
        report_dir: c.report_dir.clone(),
        dry_run: c.dry_run,
        kubeconfig: None,
        context: None,
        allow_context: Vec::new(),
        live: None,
    };
    if c.dry_run {
        let o = super::plan::overrides(&a);
        let runnable = super::plan::print_plans(std::slice::from_ref(s), &o).await;
        println!("dry run: nothing was injected");
        return if runnable {
            ExitCode::Pass.code()
        } else {
            ExitCode::Invalid.code()
        };
    }
    let mut a = a;
    if let Some(addr) = c.serve.serve {
        match super::serve::start(addr).await {
            Ok(server) => a.live = Some(server),
            Err(code) => return code,
        }
    }
    let root = c.report_dir.clone().unwrap_or_else(|| "reports".into());
    let code = match super::run::run_in(s, &a, quiet, root, &s.report.formats).await {
        Ok(o) => o.report.exit_code,
        Err(_) => ExitCode::Invalid.code(),
    };
    if let Some(server) = &a.live {
        server.conclude(false);
        server.linger(c.serve.serve_linger).await;
    }
    code
}
