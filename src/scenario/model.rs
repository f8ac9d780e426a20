//! The scenario as typed data. Every struct refuses unknown keys.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::duration::HumanDuration;
use super::expectation::{AbortCondition, Expectation};
use crate::access::NodeSpec;
use crate::faults::FaultSpec;
use crate::probes::ProbeSpec;

/// A parsed scenario (variables already substituted).
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub file: PathBuf,
    pub metadata: Metadata,
    pub target: Target,
    pub settings: Settings,
    pub probes: Vec<ProbeDecl>,
    pub steps: Vec<Step>,
    pub expect: Vec<Expectation>,
    pub abort_if: Vec<AbortCondition>,
    pub report: ReportSettings,
}

/// Name and description.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// What the scenario may touch.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Target {
    /// Kubernetes context to use (and, unless `allowed-contexts` is given, the only one allowed).
    #[serde(default)]
    pub context: Option<String>,
    /// Contexts this scenario may touch.
    #[serde(default)]
    pub allowed_contexts: Vec<String>,
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// An inventory file (`nodes: [...]`), e.g. the one `kubedrill lab up` writes.
    #[serde(default)]
    pub inventory: Option<PathBuf>,
    /// Nodes written inline.
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
}

/// Run-wide settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Settings {
    /// How long a probe must stay healthy to count as recovered.
    #[serde(default = "default_stable_window")]
    pub stable_window: HumanDuration,
    /// Timeout for each revert command / API call during rollback.
    #[serde(default = "default_revert_timeout")]
    pub revert_timeout: HumanDuration,
    /// After the final rollback, how long to keep probing until every probe is stable
    /// again, so recovery is measured even when the steps end at the heal.
    #[serde(default = "default_recovery_timeout")]
    pub recovery_timeout: HumanDuration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            stable_window: default_stable_window(),
            revert_timeout: default_revert_timeout(),
            recovery_timeout: default_recovery_timeout(),
        }
    }
}

fn default_stable_window() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(2))
}

fn default_recovery_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

fn default_revert_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(60))
}

/// A named probe with its own schedule.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeDecl {
    /// Position in the file's `probes` list (for error locations).
    #[serde(skip)]
    pub index: usize,
    pub name: String,
    pub interval: HumanDuration,
    pub timeout: HumanDuration,
    /// Most samples running at once (`max-in-flight`); by default enough to start one at
    /// every tick while earlier ones run into their timeout: ceil(timeout / interval) + 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u64>,
    pub spec: ProbeSpec,
}

/// One step of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Position in the file's `steps` list (for error locations).
    #[serde(skip)]
    pub index: usize,
    pub name: Option<String>,
    pub action: StepAction,
}

/// What a step does.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepAction {
    /// Do nothing for a while (probes keep sampling).
    Wait(HumanDuration),
    /// Inject a fault; revert it after `hold` or at an explicit `heal` step.
    Fault {
        id: String,
        spec: FaultSpec,
        hold: Option<HumanDuration>,
    },
    /// Revert the fault with this id now.
    Heal(String),
    /// Wait until probes are healthy for a stable window.
    WaitUntil(WaitUntil),
}

/// `wait-until: { healthy: [a, b], stable-for: 3s, timeout: 2m }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WaitUntil {
    /// Probe names; empty means all probes.
    #[serde(default)]
    pub healthy: Vec<String>,
    #[serde(default = "default_stable_window")]
    pub stable_for: HumanDuration,
    pub timeout: HumanDuration,
}

impl WaitUntil {
    /// The probes waited for, in words.
    pub fn which(&self) -> String {
        if self.healthy.is_empty() {
            "all probes".to_string()
        } else {
            self.healthy.join(", ")
        }
    }
}

/// The raw shape of a step in YAML: exactly one of `wait`, `fault`, `heal`, `wait-until`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct RawStep {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub wait: Option<HumanDuration>,
    #[serde(default)]
    pub fault: Option<FaultSpec>,
    /// Id a later `heal` step refers to (faults only).
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "for")]
    pub hold: Option<HumanDuration>,
    #[serde(default)]
    pub heal: Option<String>,
    #[serde(default)]
    pub wait_until: Option<WaitUntil>,
}

/// Where reports go and which formats are written (`report.json` always).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ReportSettings {
    #[serde(default)]
    pub dir: Option<PathBuf>,
    #[serde(default = "all_formats")]
    pub formats: Vec<ReportFormat>,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            dir: None,
            formats: all_formats(),
        }
    }
}

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ReportFormat {
    Json,
    Junit,
    Md,
    Html,
}

fn all_formats() -> Vec<ReportFormat> {
    vec![
        ReportFormat::Json,
        ReportFormat::Junit,
        ReportFormat::Md,
        ReportFormat::Html,
    ]
}

/// Variable defaults declared in the scenario (`vars:`).
pub type VarDefaults = BTreeMap<String, String>;
