//! `kubedrill run --print-scenario`: each scenario as it would run, one self-contained
//! document: variables substituted (`vars:` dropped), `--context`, `--kubeconfig`,
//! `--allow-context` and `--report-dir` written into it, paths made absolute.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::args::RunArgs;
use super::load::cli_vars;
use crate::exit_code::ExitCode;
use crate::scenario::vars::{scalar_text, substitute, Vars};

/// Prints every file (already loaded and valid) as its resolved scenario.
pub fn print_run_scenarios(a: &RunArgs) -> i32 {
    let cli = match cli_vars(&a.vars) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::Invalid.code();
        }
    };
    let mut texts = Vec::new();
    for f in &a.files {
        if let Err(e) = context_allowed(f, a) {
            eprintln!("error: {}: {e}", f.display());
            return ExitCode::Invalid.code();
        }
        match resolved(f, &cli, a) {
            Ok(t) => texts.push(t),
            Err(e) => {
                eprintln!("error: {}: {e}", f.display());
                return ExitCode::Invalid.code();
            }
        }
    }
    // Several scenarios: one document each, split with `---` (save each to its own file).
    print!("{}", texts.join("---\n"));
    ExitCode::Pass.code()
}

fn resolved(file: &Path, cli: &Vars, a: &RunArgs) -> Result<String, String> {
    let source = crate::scenario::read_checked(file)?;
    let source = source.strip_prefix('\u{feff}').unwrap_or(&source);
    let doc: Value = serde_yaml::from_str(source).map_err(|e| e.to_string())?;
    let mut vars: Vars = doc
        .get("vars")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), scalar_text(v)?)))
                .collect()
        })
        .unwrap_or_default();
    vars.extend(cli.clone());
    let text = substitute(source, &vars)
        .map_err(|missing| format!("{} variable(s) without a value", missing.len()))?;
    let Value::Mapping(mut doc) =
        serde_yaml::from_str::<Value>(&text).map_err(|e| e.to_string())?
    else {
        return Err("not a YAML mapping".into());
    };
    doc.remove("vars");
    write_target(&mut doc, file, a);
    if let Some(dir) = &a.report_dir {
        let report = doc
            .entry("report".into())
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if let Value::Mapping(r) = report {
            r.insert("dir".into(), absolute(dir));
        }
    }
    let body = serde_yaml::to_string(&Value::Mapping(doc)).map_err(|e| e.to_string())?;
    Ok(format!(
        "# {} as `kubedrill run` would run it (variables substituted)\n{}",
        file.display(),
        // A `${` left after substitution was written `$${`: keep it literal.
        body.replace("${", "$${")
    ))
}

/// `--context C` is written as `target.context: C`, which also allows C; print only when
/// the run would allow C as well, so the printed scenario is no more permissive.
fn context_allowed(file: &Path, a: &RunArgs) -> Result<(), String> {
    let Some(c) = &a.context else { return Ok(()) };
    let vars = cli_vars(&a.vars)?;
    let s = crate::scenario::load_file(file, &vars).map_err(|e| format!("{} error(s)", e.len()))?;
    let allowed = s
        .target
        .context
        .iter()
        .chain(&s.target.allowed_contexts)
        .chain(&a.allow_context);
    if allowed.clone().any(|x| x == c) {
        Ok(())
    } else {
        Err(format!(
            "--context {c}: the scenario does not allow this context (target.context, allowed-contexts) and no --allow-context {c} was given; the run would refuse it"
        ))
    }
}

fn write_target(doc: &mut Mapping, file: &Path, a: &RunArgs) {
    let target = doc
        .entry("target".into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    let Value::Mapping(t) = target else { return };
    if let Some(Value::String(inv)) = t.get("inventory") {
        let full = crate::access::inventory_path(Path::new(inv), file);
        t.insert("inventory".into(), absolute(&full));
    }
    if let Some(k) = a.kubeconfig.as_deref() {
        t.insert("kubeconfig".into(), absolute(k));
    } else if let Some(Value::String(k)) = t.get("kubeconfig") {
        t.insert("kubeconfig".into(), absolute(Path::new(k)));
    }
    if let Some(c) = &a.context {
        t.insert("context".into(), c.clone().into());
    }
    if !a.allow_context.is_empty() {
        let list = t
            .entry("allowed-contexts".into())
            .or_insert_with(|| Value::Sequence(Vec::new()));
        if let Value::Sequence(l) = list {
            l.extend(a.allow_context.iter().map(|c| Value::String(c.clone())));
        }
    }
    if t.is_empty() {
        doc.remove("target");
    }
}

fn absolute(p: &Path) -> Value {
    let full = std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or_else(|_| p.to_path_buf());
    Value::String(full.display().to_string())
}
