//! `kill-process`: send a signal (SIGKILL by default) to a process on nodes, found by its
//! pidfile or by name, then wait until a supervisor (systemd, the kubelet, the lab's
//! `--supervise`) has started it again: a live process that is not one of those killed.
//! The time that took is the fault's `restart` measurement.
//!
//! The fault has no revert of its own: restarting is the supervisor's job. Its journaled
//! revert (written before the kill) starts the process only if it is not running, so
//! after a restart by the supervisor it does nothing. When the process is not back
//! within `restart-timeout`, the injection fails (`restarted_by: kubedrill`, exit 3) and
//! the rollback runs that revert: kubedrill starts the process itself.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::access::{inventory_node, run_checked};
use super::stop_service::describe_targets;
use super::targets::k8s_nodes;
use super::{prepared, BlastRadius, EffectMark, FaultError, FaultKind, Prepared};
use crate::access::NodeAccess;
use crate::engine::RunContext;
use crate::probes::validate_argv;
use crate::revert::{NodeCommand, RevertAction};
use crate::scenario::duration::HumanDuration;
use crate::scenario::{Errors, KeyPath};

/// `kill-process: { nodes: [n1], pidfile: PATH | name: NAME, signal: KILL, ... }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct KillProcessFault {
    /// Node names from the inventory.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Or: nodes with this role (the first `count` by name).
    #[serde(default)]
    pub role: Option<String>,
    /// How many nodes to pick by role (default 1).
    #[serde(default)]
    pub count: Option<usize>,
    /// Or: the node whose component holds this leader-election Lease.
    #[serde(default)]
    pub lease_holder: Option<String>,
    /// The process whose pid this file on the node holds.
    #[serde(default)]
    pub pidfile: Option<Box<str>>,
    /// Or: processes with this name (`pgrep -x`, at most 15 characters as the kernel keeps
    /// them) in the node's own network namespace.
    #[serde(default)]
    pub name: Option<Box<str>>,
    /// Signal name without `SIG` (default `KILL`).
    #[serde(default)]
    pub signal: Signal,
    /// How long the supervisor may take to start the process again.
    #[serde(default = "default_restart_timeout")]
    pub restart_timeout: HumanDuration,
    /// The inventory service whose `start` starts the process when the supervisor did not
    /// (default: `name`).
    #[serde(default)]
    pub service: Option<Box<str>>,
    /// Or this argv.
    #[serde(default, deserialize_with = "crate::scenario::argv::lenient_opt")]
    pub start: Option<Vec<String>>,
    /// Nodes whose process may be down at once (blast-radius guard).
    #[serde(default = "super::targets::one_node_at_a_time")]
    pub max_unavailable: usize,
    /// Timeout of each command.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

k8s_nodes!(KillProcessFault);

fn default_restart_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

/// Pause between two looks for the restarted process.
const RESTART_POLL: Duration = Duration::from_millis(100);

/// The signals a scenario may name (those `kill -s` knows everywhere), without `SIG`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Signal {
    #[default]
    Kill,
    Term,
    Int,
    Hup,
    Quit,
    Abrt,
    Usr1,
    Usr2,
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = serde_json::to_value(self).ok();
        f.write_str(name.as_ref().and_then(|v| v.as_str()).unwrap_or("KILL"))
    }
}

/// A shell function `alive PID`: the process exists and is not a zombie (a killed daemon
/// whose parent does not reap it is not running).
const ALIVE: &str = r#"alive() { [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ] && kill -0 "$1" 2>/dev/null; }; "#;

/// How the process is found; `$0` of each script is the pidfile or the name.
#[derive(Debug, Clone, PartialEq)]
enum Finder {
    Pidfile(String),
    Name(String),
}

impl Finder {
    fn target(&self) -> &str {
        match self {
            Finder::Pidfile(p) | Finder::Name(p) => p,
        }
    }

    /// Shell functions up to `live`, which prints the live pids, one a line.
    fn prelude(&self) -> String {
        let live = match self {
            Finder::Pidfile(_) => {
                r#"live() { for p in $(cat "$0" 2>/dev/null); do alive "$p" && echo "$p"; done; }; "#
            }
            // Only this network namespace's: on one host running several (the lab's
            // nodes), a name alone would find every node's process.
            Finder::Name(_) => {
                r#"live() { me=$(readlink /proc/self/ns/net); for p in $(pgrep -x -- "$0"); do [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$me" ] && alive "$p" && echo "$p"; done; }; "#
            }
        };
        format!("{ALIVE}{live}")
    }

    fn script(&self, body: &str) -> Vec<String> {
        vec![
            "sh".into(),
            "-c".into(),
            format!("{}{body}", self.prelude()),
            self.target().into(),
        ]
    }

    /// Prints the live pids (exits 0 with none).
    fn list(&self) -> Vec<String> {
        self.script("live; exit 0")
    }

    /// Exits 0 while a process runs.
    fn status(&self) -> Vec<String> {
        self.script(r#"[ -n "$(live)" ]"#)
    }

    /// Starts the process with `start` unless one runs already (the revert).
    fn start_unless_running(&self, start: &[String]) -> Vec<String> {
        let mut argv =
            self.script(r#"[ -n "$(live)" ] && { echo already running; exit 0; }; exec "$@""#);
        argv.extend(start.iter().cloned());
        argv
    }
}

impl KillProcessFault {
    fn finder(&self) -> Option<Finder> {
        match (&self.pidfile, &self.name) {
            (Some(p), None) => Some(Finder::Pidfile(p.to_string())),
            (None, Some(n)) => Some(Finder::Name(n.to_string())),
            _ => None,
        }
    }

    fn what(&self) -> String {
        match (&self.pidfile, &self.name) {
            (Some(p), _) => format!("the process of pidfile {p}"),
            (_, Some(n)) => format!("process {n}"),
            _ => "a process".into(),
        }
    }

    /// The start command on `node`: `start`, else the inventory service's `start`.
    fn start_on(&self, node: &NodeAccess) -> Result<Vec<String>, FaultError> {
        if let Some(start) = &self.start {
            return Ok(start.clone());
        }
        let service = self.service.as_deref().or(self.name.as_deref());
        service
            .and_then(|s| node.spec().services.get(s))
            .and_then(|s| s.start.clone())
            .ok_or_else(|| {
                FaultError(format!(
                    "no way to start {} on {} if its supervisor does not: give `start: [argv]`, \
                     or `service: NAME` of an inventory service with a `start` command{}",
                    self.what(),
                    node.spec().name,
                    service.map_or(String::new(), |s| format!(
                        " (service `{s}` on this node has none)"
                    ))
                ))
            })
    }
}

/// Live pids on `node` as listed by `argv`.
async fn live_pids(
    node: &NodeAccess,
    argv: &[String],
    timeout: Duration,
) -> Result<Vec<u32>, FaultError> {
    let out = run_checked(node, argv, timeout).await?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}

impl FaultKind for KillProcessFault {
    const KIND: &'static str = "kill-process";
    const SUMMARY: &'static str =
        "SIGKILL a process (pidfile or name) and time its supervisor's restart; kubedrill starts it (and the run fails) if it is not back by restart-timeout";
    const EXAMPLE: &'static str =
        "fault:\n  kill-process: { nodes: [n1], name: etcd, restart-timeout: 30s }";

    fn node_refs(&self) -> Vec<String> {
        self.nodes.clone()
    }

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        self.targets().validate(at, self.max_unavailable, errs);
        match (&self.pidfile, &self.name) {
            (None, None) => errs.add(at, "name the process: `pidfile: PATH` or `name: NAME`"),
            (Some(_), Some(_)) => errs.add(at, "give `pidfile` or `name`, not both"),
            (Some(p), None) if !p.starts_with('/') => {
                errs.add(at.key("pidfile"), "must be an absolute path on the node")
            }
            (None, Some(n)) if n.is_empty() || n.len() > 15 || n.contains('/') => errs.add(
                at.key("name"),
                "a process name is 1-15 characters without `/` (the kernel keeps 15; use `pidfile` for longer ones)",
            ),
            _ => {}
        }
        if self.pidfile.is_some() && self.start.is_none() && self.service.is_none() {
            errs.add(
                at,
                "with `pidfile`, say how to start the process if its supervisor does not: `start: [argv]` or `service: NAME`",
            );
        }
        if let Some(start) = &self.start {
            validate_argv(start, &at.key("start"), errs);
        }
        for (key, d) in [
            ("restart-timeout", self.restart_timeout),
            ("timeout", self.timeout),
        ] {
            if d.get().is_zero() {
                errs.add(at.key(key), "must be longer than zero");
            }
        }
    }

    fn describe(&self) -> String {
        format!(
            "SIG{} {} on {}; wait up to {} for its supervisor to start it again",
            self.signal,
            self.what(),
            describe_targets(&self.targets()),
            self.restart_timeout
        )
    }

    fn undo(&self) -> String {
        "none while a supervisor restarts it; otherwise kubedrill starts it (and the run fails)"
            .into()
    }

    fn prepare(
        &self,
        ctx: Arc<RunContext>,
    ) -> BoxFuture<'static, Result<Box<dyn Prepared>, FaultError>> {
        let spec = self.clone();
        prepared::boxed(async move {
            let finder = spec
                .finder()
                .ok_or_else(|| FaultError::new("name the process: `pidfile` or `name`"))?;
            let nodes = spec.targets().resolve(&ctx).await.map_err(FaultError)?;
            let mut plans = Vec::new();
            for n in nodes {
                let node = inventory_node(&ctx, &n.name)?;
                let start = spec.start_on(node)?;
                // Read-only: a process that does not run cannot be killed.
                let pids = live_pids(node, &finder.list(), spec.timeout.get()).await?;
                if pids.is_empty() {
                    return Err(FaultError(format!(
                        "{} is not running on {}: nothing to kill",
                        spec.what(),
                        n.name
                    )));
                }
                plans.push(Plan {
                    node: n.name,
                    start,
                });
            }
            Ok(PreparedKill {
                spec,
                finder,
                ctx,
                plans,
                effect: EffectMark::default(),
            })
        })
    }
}

/// One node: where, and how kubedrill would start the process.
struct Plan {
    node: String,
    start: Vec<String>,
}

struct PreparedKill {
    spec: KillProcessFault,
    finder: Finder,
    ctx: Arc<RunContext>,
    plans: Vec<Plan>,
    /// When the signal was sent: a `for` counts from there.
    effect: EffectMark,
}

impl Prepared for PreparedKill {
    fn describe(&self) -> String {
        let nodes: Vec<&str> = self.plans.iter().map(|p| p.node.as_str()).collect();
        format!(
            "SIG{} {} on {}; wait up to {} for a new process",
            self.spec.signal,
            self.spec.what(),
            nodes.join(", "),
            self.spec.restart_timeout
        )
    }

    fn commands(&self) -> Vec<String> {
        self.plans
            .iter()
            .flat_map(|p| {
                [
                    format!(
                        "on {}: {}   (lists the live pids)",
                        p.node,
                        shell(&self.finder.list())
                    ),
                    format!("on {}: kill -s {} PID...", p.node, self.spec.signal),
                    format!(
                        "on {}: the listing again every {}ms until a new pid runs, up to {}",
                        p.node,
                        RESTART_POLL.as_millis(),
                        self.spec.restart_timeout
                    ),
                ]
            })
            .collect()
    }

    fn blast_radius(&self) -> Option<BlastRadius> {
        Some(BlastRadius {
            nodes: self.plans.iter().map(|p| p.node.clone()).collect(),
            max_unavailable: self.spec.max_unavailable,
        })
    }

    fn effect_mark(&self) -> Option<EffectMark> {
        Some(self.effect.clone())
    }

    fn reverts(&self) -> Vec<RevertAction> {
        self.plans
            .iter()
            .map(|p| {
                RevertAction::NodeCommand(NodeCommand {
                    node: p.node.clone(),
                    argv: self.finder.start_unless_running(&p.start),
                    verify: Some(self.finder.status()),
                    timeout: self.spec.timeout,
                })
            })
            .collect()
    }

    fn inject(self: Box<Self>) -> BoxFuture<'static, Result<serde_json::Value, FaultError>> {
        Box::pin(async move {
            let each = self.plans.iter().map(|p| self.kill_one(&p.node));
            let results = futures::future::join_all(each).await;
            let mut nodes = Vec::new();
            let mut not_back = Vec::new();
            for r in results {
                match r? {
                    Outcome::Back(d) => nodes.push(d),
                    Outcome::NotBack(why) => not_back.push(why),
                }
            }
            if !not_back.is_empty() {
                return Err(FaultError(format!(
                    "{}; restarted_by: kubedrill (the rollback starts it)",
                    not_back.join("; ")
                )));
            }
            Ok(serde_json::json!({
                "signal": self.spec.signal,
                "restart_timeout_ms": self.spec.restart_timeout.get().as_secs_f64() * 1000.0,
                "restarted_by": "supervisor",
                "nodes": nodes,
            }))
        })
    }
}

/// What happened on one node after the signal.
enum Outcome {
    /// A new process runs: the node's details.
    Back(serde_json::Value),
    /// None within `restart-timeout`: why, for the error.
    NotBack(String),
}

impl PreparedKill {
    async fn kill_one(&self, name: &str) -> Result<Outcome, FaultError> {
        let timeout = self.spec.timeout.get();
        let node = inventory_node(&self.ctx, name)?;
        let list = self.finder.list();
        let killed = live_pids(node, &list, timeout).await?;
        if killed.is_empty() {
            return Err(FaultError(format!(
                "{} is no longer running on {name}: nothing to kill",
                self.spec.what()
            )));
        }
        let mut kill: Vec<String> = vec![
            "sh".into(),
            "-c".into(),
            r#"kill -s "$0" "$@""#.into(),
            self.spec.signal.to_string(),
        ];
        kill.extend(killed.iter().map(u32::to_string));
        run_checked(node, &kill, timeout).await?;
        let killed_at = tokio::time::Instant::now();
        self.effect.mark_now();
        let deadline = killed_at + self.spec.restart_timeout.get();
        // Whether the killed pids were seen gone (a supervisor may restart before).
        let mut gone_ms = None;
        loop {
            let now = live_pids(node, &list, timeout).await;
            let elapsed_ms = killed_at.elapsed().as_secs_f64() * 1000.0;
            if let Ok(pids) = &now {
                if gone_ms.is_none() && !pids.iter().any(|p| killed.contains(p)) {
                    gone_ms = Some(elapsed_ms);
                }
                let new: Vec<u32> = pids
                    .iter()
                    .copied()
                    .filter(|p| !killed.contains(p))
                    .collect();
                if !new.is_empty() {
                    return Ok(Outcome::Back(serde_json::json!({
                        "node": name,
                        "killed": killed,
                        "new": new,
                        "gone_ms": gone_ms,
                        "restart_ms": elapsed_ms,
                        "restarted_by": "supervisor",
                    })));
                }
            }
            if tokio::time::Instant::now() + RESTART_POLL >= deadline {
                let last = match now {
                    Ok(p) if p.is_empty() => "no process".to_string(),
                    Ok(p) => format!("still the killed pid(s) {p:?}"),
                    Err(e) => format!("cannot list: {e}"),
                };
                return Ok(Outcome::NotBack(format!(
                    "{} on {name} (pid {killed:?}) not back {} after SIG{} (last look: {last})",
                    self.spec.what(),
                    self.spec.restart_timeout,
                    self.spec.signal
                )));
            }
            tokio::time::sleep(RESTART_POLL).await;
        }
    }
}

fn shell(argv: &[String]) -> String {
    crate::revert::shell_words(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Validation errors of a scenario whose one step is `fault` (YAML flow text).
    fn errors_of(fault: &str) -> Vec<String> {
        let source = format!(
            "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: t }}\ntarget: {{ nodes: [{{ name: n0, access: {{ local: {{ netns: x }} }} }}] }}\nsteps:\n  - fault: {fault}\n"
        );
        match crate::scenario::load_str(
            std::path::Path::new("s.yaml"),
            &source,
            &Default::default(),
        ) {
            Ok(_) => Vec::new(),
            Err(errs) => errs.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn the_process_is_named_one_way_and_can_be_started_again() {
        assert!(errors_of("{ kill-process: { nodes: [n0], name: etcd } }").is_empty());
        let ok = errors_of(
            "{ kill-process: { nodes: [n0], pidfile: /run/x.pid, start: [x], signal: TERM } }",
        );
        assert!(ok.is_empty(), "{ok:?}");
        for (fault, want) in [
            (
                "{ kill-process: { nodes: [n0] } }",
                "`pidfile: PATH` or `name: NAME`",
            ),
            (
                "{ kill-process: { nodes: [n0], name: a, pidfile: /p, start: [x] } }",
                "not both",
            ),
            (
                "{ kill-process: { nodes: [n0], pidfile: run/x.pid, start: [x] } }",
                "absolute path",
            ),
            (
                "{ kill-process: { nodes: [n0], pidfile: /run/x.pid } }",
                "`start: [argv]` or `service: NAME`",
            ),
            (
                "{ kill-process: { nodes: [n0], name: kube-controller-manager } }",
                "1-15 characters",
            ),
            (
                "{ kill-process: { nodes: [n0], name: etcd, signal: STOP } }",
                "signal",
            ),
            (
                "{ kill-process: { nodes: [n0], name: etcd, restart-timeout: 0s } }",
                "restart-timeout: must be longer than zero",
            ),
        ] {
            let errs = errors_of(fault);
            assert!(
                errs.iter().any(|e| e.contains(want)),
                "{fault}: {want}: {errs:?}"
            );
        }
    }

    fn run_sh(argv: &[String]) -> std::process::Output {
        std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .unwrap()
    }

    #[test]
    fn the_scripts_find_a_live_pid_and_start_only_when_none_runs() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("p.pid");
        let f = Finder::Pidfile(pidfile.display().to_string());
        assert!(run_sh(&f.list()).stdout.is_empty(), "no pidfile: no pids");
        assert!(!run_sh(&f.status()).status.success());
        std::fs::write(&pidfile, std::process::id().to_string()).unwrap();
        let listed = String::from_utf8(run_sh(&f.list()).stdout).unwrap();
        assert_eq!(listed.trim(), std::process::id().to_string());
        assert!(run_sh(&f.status()).status.success());
        let marker = dir.path().join("started");
        let start = vec!["touch".to_string(), marker.display().to_string()];
        run_sh(&f.start_unless_running(&start));
        assert!(!marker.exists(), "a running process is not started again");
        std::fs::write(&pidfile, "999999999").unwrap();
        assert!(run_sh(&f.start_unless_running(&start)).status.success());
        assert!(marker.exists(), "started when not running");
    }
}
