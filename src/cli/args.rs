//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::scenario::ReportFormat;

const EXIT_CODES: &str = "Exit codes:
  0  pass: every expectation held and every fault was reverted
  1  fail: an expectation did not hold (or a wait-until step timed out)
  2  invalid scenario, usage or environment (context refused, inventory missing): nothing was injected
  3  aborted (abort-if, Ctrl-C/SIGTERM) or a fault could not be injected; everything was reverted
  4  a revert failed or did not run: the system may be degraded; undo by hand what the output lists";

/// Chaos drills for Kubernetes high availability: inject faults, watch probes, measure
/// outages and recovery, always revert.
#[derive(Debug, Parser)]
#[command(name = "kubedrill", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one or more scenarios (files, or directories: their *.yaml in name order), one
    /// after the other; `--suite NAME` writes them as one suite.
    Run(RunCommand),
    /// Check scenarios and the inventories they name (or one given with --inventory) and
    /// print every error (file:line:column key: message).
    Validate(ValidateArgs),
    /// Show what each step will do and how it is undone, without changing anything.
    Plan(RunArgs),
    /// Re-render a report.json as html, md, junit or json.
    Report(ReportArgs),
    /// Compare two report.json files or two suite directories, metric by metric; exit 1
    /// when NEW regressed past a threshold.
    Compare(super::compare::CompareArgs),
    /// Inject one fault for a while with probes watching, from flags alone (no YAML):
    /// `inject stop-service --node n1 --set service=kubelet --for 30s --probe api`.
    Inject(super::adhoc::InjectArgs),
    /// Only watch: probes from flags for a while (live state per probe), then the reports
    /// (availability, outages, latency).
    Probe(super::adhoc::ProbeArgs),
    /// The catalogue of faults and probes, one line each with an example.
    List,
    /// Run the reverts a crashed or killed run left registered in its journal.
    Recover(RecoverArgs),
    /// The local lab: network namespaces with sshd, etcd, NATS, dnsmasq, a kubelet stand-in
    /// (`--kubernetes`: an HA Kubernetes cluster with kwok nodes).
    #[command(subcommand)]
    Lab(super::lab::LabCommand),
}

/// Variables for scenarios.
#[derive(Debug, Args, Clone, Default)]
pub struct VarArgs {
    /// Set a variable: `--set key=value` (repeatable; wins over --vars and `vars:`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A YAML file of variables (wins over the scenario's `vars:`).
    #[arg(long, value_name = "FILE")]
    pub vars: Option<PathBuf>,
}

/// `run` and `plan`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Scenario files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub vars: VarArgs,
    /// Where run directories are created (default: the scenario's `report.dir`, else `reports`).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Validate and print the plan; inject nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Kubeconfig file (default: $KUBECONFIG or ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubernetes context (default: the scenario's `target.context`).
    #[arg(long)]
    pub context: Option<String>,
    /// Also allow this context (repeatable).
    #[arg(long = "allow-context", value_name = "NAME")]
    pub allow_context: Vec<String>,
    /// The web live view each run feeds (`run --serve`), never a flag of its own.
    #[arg(skip)]
    pub live: Option<super::serve::LiveServer>,
}

/// `--serve` and `--serve-linger` (run, inject, probe).
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Serve a live view of the run at http://ADDR/ (e.g. 127.0.0.1:8080): timeline,
    /// probe states, current step, faults in place; the final report once it is over.
    #[arg(long, value_name = "IP:PORT")]
    pub serve: Option<std::net::SocketAddr>,
    /// With --serve: how long the final report stays served after the last run (Ctrl-C
    /// ends the wait at once).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub serve_linger: std::time::Duration,
}

/// `run`: what `plan` takes, plus the suite.
#[derive(Debug, Args, Clone)]
pub struct RunCommand {
    #[command(flatten)]
    pub run: RunArgs,
    /// Run the scenarios as a suite named NAME: every run's directory, index.html,
    /// junit.xml and summary.json go into `<report-dir>/NAME-<UTC timestamp>/`.
    #[arg(long, value_name = "NAME")]
    pub suite: Option<String>,
    /// Also print each run's report on standard output after its summary (`json`:
    /// report.json on one line, e.g. for a pod's log).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "suite")]
    pub report_stdout: Option<ReportFormat>,
    /// Print each scenario as it would run (variables substituted, command-line target
    /// written in) and exit without running.
    #[arg(long, conflicts_with = "suite")]
    pub print_scenario: bool,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario files (each one's `target.inventory` is checked too).
    #[arg(required_unless_present = "inventory")]
    pub files: Vec<PathBuf>,
    /// Also validate this inventory file (docs/inventory.md); enough on its own.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    #[command(flatten)]
    pub vars: VarArgs,
}

/// `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A report.json written by `kubedrill run`.
    pub report: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "md")]
    pub format: ReportFormat,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// `recover`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The run directory (holding journal.jsonl).
    pub run_dir: PathBuf,
}
