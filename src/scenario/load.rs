//! Reading a scenario: variables, YAML syntax, then each section deserialised on its own
//! so every broken section reports, each with its line and column.

use std::collections::BTreeSet;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use super::duration::HumanDuration;
use super::errors::{Errors, KeyPath, ScenarioError};
use super::model::{
    Metadata, ProbeDecl, RawStep, ReportSettings, Scenario, Settings, Step, StepAction, Target,
};
use super::positions::PositionIndex;
use super::validate::validate;
use super::vars::{scalar_text, substitute, Vars};
use crate::probes::ProbeSpec;

const TOP_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "vars",
    "target",
    "settings",
    "probes",
    "steps",
    "expect",
    "abort-if",
    "report",
];

/// Reads and validates a scenario file. `vars` are the command-line variables.
pub fn load_file(path: &Path, vars: &Vars) -> Result<Scenario, Vec<ScenarioError>> {
    let source = read_source(path)?;
    load_str(path, &source, vars)
}

/// The text of a scenario file, checked first (regular file, size limit).
fn read_source(path: &Path) -> Result<String, Vec<ScenarioError>> {
    super::input::read_checked(path).map_err(|message| {
        vec![ScenarioError {
            file: path.into(),
            location: None,
            path: String::new(),
            message,
        }]
    })
}

/// Every variable a scenario file declares under `vars:` or uses as `${name}`; `None`
/// when the file cannot be read or parsed (loading it reports why).
pub fn variable_names(path: &Path) -> Option<BTreeSet<String>> {
    let source = read_source(path).ok()?;
    let source = source.strip_prefix('\u{feff}').unwrap_or(&source);
    PositionIndex::build(source).ok()?;
    let mut names: BTreeSet<String> = scenario_defaults(source).ok()?.into_keys().collect();
    if let Err(used) = substitute(source, &Vars::new()) {
        names.extend(used.into_iter().map(|u| u.name));
    }
    Some(names)
}

/// Parses and validates scenario text as if read from `path`.
pub fn load_str(path: &Path, source: &str, vars: &Vars) -> Result<Scenario, Vec<ScenarioError>> {
    // A leading byte-order mark is not part of the YAML.
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    // The event walk comes first: it refuses deep nesting and extra documents before any
    // recursive parser sees the text.
    let raw_index =
        PositionIndex::build(source).map_err(|(loc, msg)| syntax_error(path, loc, msg))?;
    // The file as written must parse, or its own `vars:` would silently go missing.
    let mut merged = scenario_defaults(source).map_err(|e| yaml_error(path, e))?;
    merged.extend(vars.clone());
    let text = substitute(source, &merged).map_err(|missing| {
        let mut errs = Errors::new(path, &raw_index);
        for m in missing {
            let message = if m.too_large {
                format!(
                    "expanding variable `{}` here makes the scenario larger than {} MiB; \
                     use shorter values or fewer references",
                    m.name,
                    super::vars::MAX_EXPANDED_BYTES / (1024 * 1024)
                )
            } else {
                format!("variable `{}` has no value; give it with --set {0}=VALUE, a --vars file, or under `vars:`", m.name)
            };
            errs.add_at("", Some(m.location), message);
        }
        errs.into_vec()
    })?;
    // Syntax errors that substitution introduced are located in the substituted text; all
    // other errors use the file as written, so columns are those the user sees.
    PositionIndex::build(&text).map_err(|(loc, msg)| syntax_error(path, loc, msg))?;
    let doc: Value = serde_yaml::from_str(&text).map_err(|e| yaml_error(path, e))?;
    let mut errs = Errors::new(path, &raw_index);
    let Some((mut scenario, gaps)) = build(path, doc, &mut errs) else {
        return Err(errs.into_vec());
    };
    for st in &mut scenario.steps {
        if let StepAction::Fault { spec, .. } = &mut st.action {
            spec.place(&scenario.metadata.name, st.index);
        }
    }
    validate(&scenario, &gaps, &mut errs);
    check_node_refs(&scenario, &mut errs);
    if errs.is_empty() {
        Ok(scenario)
    } else {
        Err(errs.into_vec())
    }
}

fn syntax_error(path: &Path, loc: super::positions::Location, msg: String) -> Vec<ScenarioError> {
    vec![ScenarioError {
        file: path.into(),
        location: Some(loc),
        path: String::new(),
        message: format!("YAML syntax: {msg}"),
    }]
}

/// A serde_yaml error as a scenario error at its line and column.
fn yaml_error(path: &Path, e: serde_yaml::Error) -> Vec<ScenarioError> {
    let loc = e.location().map(|l| super::positions::Location {
        line: l.line(),
        column: l.column(),
    });
    let text = e.to_string();
    let message = if loc.is_some() {
        without_location(&text).to_string()
    } else {
        text
    };
    vec![ScenarioError {
        file: path.into(),
        location: loc,
        path: String::new(),
        message: format!("YAML: {message}"),
    }]
}

/// serde_yaml's message without its trailing ` at line L column C` (the error already
/// starts with `file:line:column`).
pub(crate) fn without_location(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => &message[..i],
        _ => message,
    }
}

/// `vars:` defaults of the scenario. The file as written must parse (its `${...}` are
/// plain scalars); its structure is checked later, so a `vars:` that is not a mapping of
/// scalars is ignored here.
fn scenario_defaults(source: &str) -> Result<Vars, serde_yaml::Error> {
    let Value::Mapping(m) = serde_yaml::from_str::<Value>(source)? else {
        return Ok(Vars::new());
    };
    let Some(Value::Mapping(vars)) = m.get("vars") else {
        return Ok(Vars::new());
    };
    Ok(vars
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), scalar_text(v)?)))
        .collect())
}

/// Deserialises one section, recording the error with its key path.
/// Goes through JSON values because serde_yaml's `Value` only accepts `!tagged` enums,
/// while scenarios write kinds as one-key maps (`http: {...}`).
fn section<T: DeserializeOwned>(value: Value, at: &KeyPath, errs: &mut Errors) -> Option<T> {
    let json = match serde_json::to_value(&value) {
        Ok(j) => j,
        Err(e) => {
            errs.add(at, format!("cannot be read: {e} (keys must be strings)"));
            return None;
        }
    };
    match serde_path_to_error::deserialize::<_, T>(json) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let path = if inner == "." || inner.is_empty() {
                at.to_string()
            } else if inner.starts_with('[') {
                format!("{at}{inner}")
            } else {
                at.key(&inner).to_string()
            };
            let message = e.into_inner().to_string();
            let path = match unknown_variant(&message) {
                Some(v) => format!("{path}.{v}"),
                None => path,
            };
            errs.add(path, message);
            None
        }
    }
}

fn take(map: &mut Mapping, key: &str) -> Option<Value> {
    map.remove(key)
}

/// What the structural pass knows even where items failed to parse.
pub(crate) struct Gaps {
    /// Names of every probe item that has a `name`, parsed or not.
    pub probe_names: BTreeSet<String>,
    /// Number of step items written, parsed or not.
    pub steps_written: usize,
}

/// Builds as much of the scenario as parses; broken parts are recorded and left out (or
/// defaulted) so the semantic checks can still report their own errors.
fn build(path: &Path, doc: Value, errs: &mut Errors) -> Option<(Scenario, Gaps)> {
    let Value::Mapping(mut top) = doc else {
        errs.add(
            "",
            "a scenario must be a YAML mapping with apiVersion, kind, metadata, probes and steps",
        );
        return None;
    };
    for key in top.keys() {
        let name = key.as_str().unwrap_or("?");
        if !TOP_KEYS.contains(&name) {
            errs.add(
                name,
                format!(
                    "unknown key `{name}`; expected one of {}",
                    TOP_KEYS.join(", ")
                ),
            );
        }
    }
    check_header(&top, errs);
    let metadata = match take(&mut top, "metadata") {
        Some(v) => section::<Metadata>(v, &KeyPath::at("metadata"), errs),
        None => {
            errs.add("", "missing `metadata` (with at least `name`)");
            None
        }
    };
    let gaps = Gaps {
        probe_names: raw_names(top.get("probes")),
        steps_written: raw_len(top.get("steps")),
    };
    let scenario = Scenario {
        file: path.into(),
        metadata: metadata.unwrap_or(Metadata {
            name: "unnamed".into(),
            description: None,
        }),
        target: opt_section::<Target>(&mut top, "target", errs),
        settings: opt_section::<Settings>(&mut top, "settings", errs),
        report: opt_section::<ReportSettings>(&mut top, "report", errs),
        expect: opt_section(&mut top, "expect", errs),
        abort_if: opt_section(&mut top, "abort-if", errs),
        probes: list(&mut top, "probes", errs, probe_decl),
        steps: list(&mut top, "steps", errs, step),
    };
    Some((scenario, gaps))
}

fn raw_names(v: Option<&Value>) -> BTreeSet<String> {
    let Some(Value::Sequence(items)) = v else {
        return BTreeSet::new();
    };
    items
        .iter()
        .filter_map(|i| i.get("name").and_then(Value::as_str).map(String::from))
        .collect()
}

fn raw_len(v: Option<&Value>) -> usize {
    match v {
        Some(Value::Sequence(items)) => items.len(),
        _ => 0,
    }
}

fn check_header(top: &Mapping, errs: &mut Errors) {
    match top.get("apiVersion").and_then(Value::as_str) {
        Some("kubedrill/v1") => {}
        Some(other) => errs.add(
            "apiVersion",
            format!("`{other}` is not supported; use `kubedrill/v1`"),
        ),
        None => errs.add("", "missing `apiVersion: kubedrill/v1`"),
    }
    match top.get("kind").and_then(Value::as_str) {
        Some("Scenario") => {}
        Some(other) => errs.add(
            "kind",
            format!("`{other}` is not a kind kubedrill knows; use `Scenario`"),
        ),
        None => errs.add("", "missing `kind: Scenario`"),
    }
}

/// A section that may be absent (then its default).
fn opt_section<T: DeserializeOwned + Default>(
    top: &mut Mapping,
    key: &str,
    errs: &mut Errors,
) -> T {
    match take(top, key) {
        None | Some(Value::Null) => T::default(),
        Some(v) => section(v, &KeyPath::at(key), errs).unwrap_or_default(),
    }
}

/// A list section whose items are built one by one so every broken item reports.
fn list<T>(
    top: &mut Mapping,
    key: &str,
    errs: &mut Errors,
    item: fn(Value, &KeyPath, &mut Errors) -> Option<T>,
) -> Vec<T> {
    let at = KeyPath::at(key);
    let items = match take(top, key) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Sequence(s)) => s,
        Some(_) => {
            errs.add(at, format!("`{key}` must be a list"));
            return Vec::new();
        }
    };
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| item(v, &at.index(i), errs))
        .collect()
}

const PROBE_COMMON: &[&str] = &["name", "interval", "timeout", "max-in-flight"];

fn probe_decl(value: Value, at: &KeyPath, errs: &mut Errors) -> Option<ProbeDecl> {
    let Value::Mapping(mut map) = value else {
        errs.add(
            at,
            "a probe must be a mapping: `name`, `interval`, `timeout` and one probe kind",
        );
        return None;
    };
    let name = match take(&mut map, "name") {
        Some(Value::String(s)) => Some(s),
        _ => {
            errs.add(at, "a probe needs a `name`");
            None
        }
    };
    let interval = duration_field(&mut map, "interval", at, errs, 1000);
    let timeout = duration_field(&mut map, "timeout", at, errs, 1000);
    let max_in_flight = match take(&mut map, "max-in-flight") {
        None => Some(None),
        Some(v) => section::<u64>(v, &at.key("max-in-flight"), errs).map(Some),
    };
    let kinds: Vec<String> = map
        .keys()
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    let spec = match kinds.len() {
        1 => section::<ProbeSpec>(Value::Mapping(map), at, errs),
        0 => {
            let known: Vec<_> = crate::probes::catalogue().iter().map(|c| c.0).collect();
            errs.add(
                at,
                format!("the probe has no kind; add one of {}", known.join(", ")),
            );
            None
        }
        _ => {
            errs.add(
                at.key(&kinds[1]),
                format!(
                    "a probe has exactly one kind besides {}; found {}",
                    PROBE_COMMON.join(", "),
                    kinds
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            None
        }
    };
    Some(ProbeDecl {
        index: index_of(at),
        name: name?,
        interval: interval?,
        timeout: timeout?,
        max_in_flight: max_in_flight?,
        spec: spec?,
    })
}

fn duration_field(
    map: &mut Mapping,
    key: &str,
    at: &KeyPath,
    errs: &mut Errors,
    default_ms: u64,
) -> Option<HumanDuration> {
    match take(map, key) {
        None => Some(HumanDuration(std::time::Duration::from_millis(default_ms))),
        Some(v) => section(v, &at.key(key), errs),
    }
}

fn step(value: Value, at: &KeyPath, errs: &mut Errors) -> Option<Step> {
    let raw: RawStep = section(value, at, errs)?;
    let mut kinds: BTreeSet<&str> = BTreeSet::new();
    if raw.wait.is_some() {
        kinds.insert("wait");
    }
    if raw.fault.is_some() {
        kinds.insert("fault");
    }
    if raw.heal.is_some() {
        kinds.insert("heal");
    }
    if raw.wait_until.is_some() {
        kinds.insert("wait-until");
    }
    if kinds.len() != 1 {
        let found = if kinds.is_empty() {
            "none".to_string()
        } else {
            kinds.into_iter().collect::<Vec<_>>().join(", ")
        };
        errs.add(
            at,
            format!("a step has exactly one of wait, fault, heal, wait-until; found {found}"),
        );
        return None;
    }
    if raw.fault.is_none() && (raw.hold.is_some() || raw.id.is_some()) {
        errs.add(at, "`for` and `id` only apply to `fault` steps");
        return None;
    }
    let action = if let Some(d) = raw.wait {
        StepAction::Wait(d)
    } else if let Some(spec) = raw.fault {
        StepAction::Fault {
            id: raw
                .id
                .unwrap_or_else(|| format!("fault-{}", step_number(at))),
            spec,
            hold: raw.hold,
        }
    } else if let Some(id) = raw.heal {
        StepAction::Heal(id)
    } else {
        StepAction::WaitUntil(raw.wait_until?)
    };
    Some(Step {
        index: index_of(at),
        name: raw.name,
        action,
    })
}

/// Index from a path like `steps[3]`.
fn index_of(at: &KeyPath) -> usize {
    at.as_str()
        .rsplit_once('[')
        .and_then(|(_, n)| n.trim_end_matches(']').parse::<usize>().ok())
        .unwrap_or(0)
}

/// 1-based step number from a path like `steps[3]`.
fn step_number(at: &KeyPath) -> usize {
    index_of(at) + 1
}

/// `unknown variant `x`, expected ...` → `x`, so the error points at the kind's key.
fn unknown_variant(message: &str) -> Option<&str> {
    message.strip_prefix("unknown variant `")?.split('`').next()
}

/// Node names the scenario can see: inline nodes plus the inventory file's, or `None`
/// when an inventory is named but cannot be read yet (e.g. the lab is not up).
fn known_nodes(s: &Scenario) -> Option<BTreeSet<String>> {
    let mut names: BTreeSet<String> = s.target.nodes.iter().map(|n| n.name.clone()).collect();
    if let Some(inv) = &s.target.inventory {
        names.extend(
            crate::engine::load_inventory(inv, &s.file)
                .ok()?
                .into_iter()
                .map(|n| n.name),
        );
    }
    Some(names)
}

/// Every node a probe or fault names must exist in the inventory (when it is known).
fn check_node_refs(s: &Scenario, errs: &mut Errors) {
    let uses_nodes = s.probes.iter().any(|p| !p.spec.node_refs().is_empty())
        || s.steps.iter().any(|st| matches!(&st.action, StepAction::Fault { spec, .. } if !spec.node_refs().is_empty()));
    if !uses_nodes {
        return;
    }
    let Some(known) = known_nodes(s) else { return };
    let list = known.iter().cloned().collect::<Vec<_>>().join(", ");
    let mut check = |refs: Vec<String>, at: KeyPath| {
        for name in refs.into_iter().filter(|n| !known.contains(n)) {
            let have = if list.is_empty() {
                "the scenario has no inventory (target.inventory or target.nodes)".to_string()
            } else {
                format!("known: {list}")
            };
            errs.add(
                &at,
                format!("node `{name}` is not in the inventory ({have})"),
            );
        }
    };
    for p in &s.probes {
        check(
            p.spec.node_refs(),
            KeyPath::at("probes")
                .index(p.index)
                .key(p.spec.kind())
                .key("node"),
        );
    }
    for st in &s.steps {
        if let StepAction::Fault { spec, .. } = &st.action {
            check(
                spec.node_refs(),
                KeyPath::at("steps")
                    .index(st.index)
                    .key("fault")
                    .key(spec.kind())
                    .key("nodes"),
            );
        }
    }
}
