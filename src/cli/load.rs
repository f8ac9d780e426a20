//! Loading many scenario files with variables, printing every error.

use std::path::PathBuf;

use super::args::VarArgs;
use crate::scenario::vars::{load_vars_file, parse_set, Vars};
use crate::scenario::{load_file, variable_names, Scenario};

/// Merges `--vars` then `--set`.
pub fn cli_vars(a: &VarArgs) -> Result<Vars, String> {
    let mut vars = match &a.vars {
        Some(p) => load_vars_file(p)?,
        None => Vars::new(),
    };
    for s in &a.set {
        let (k, v) = parse_set(s)?;
        vars.insert(k, v);
    }
    Ok(vars)
}

/// Loads every file; prints every error of every file to stderr. `None` if any failed.
pub fn load_all(files: &[PathBuf], a: &VarArgs) -> Option<Vec<Scenario>> {
    let vars = match cli_vars(a) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return None;
        }
    };
    if let Err(e) = check_set_names(files, a) {
        eprintln!("error: {e}");
        return None;
    }
    let mut ok = Vec::new();
    let mut failed = 0;
    for f in files {
        match load_file(f, &vars) {
            Ok(s) => ok.push(s),
            Err(errors) => {
                failed += 1;
                for e in errors {
                    eprintln!("error: {e}");
                }
            }
        }
    }
    if failed > 0 {
        eprintln!(
            "{failed} of {} scenario file(s) invalid; nothing was run",
            files.len()
        );
        None
    } else {
        Some(ok)
    }
}

/// Every `--set` must name a variable that some scenario file declares (`vars:`) or uses
/// (`${name}`), so a typo such as `--set holdd=60s` is not silently ignored. Files that
/// cannot be read or parsed are skipped here; loading them reports why.
fn check_set_names(files: &[PathBuf], a: &VarArgs) -> Result<(), String> {
    if a.set.is_empty() {
        return Ok(());
    }
    let mut known = std::collections::BTreeSet::new();
    for f in files {
        match variable_names(f) {
            Some(names) => known.extend(names),
            None => return Ok(()),
        }
    }
    for s in &a.set {
        let (k, _) = parse_set(s)?;
        if !known.contains(&k) {
            let defined = if known.is_empty() {
                "the scenario defines no variables".to_string()
            } else {
                format!(
                    "defined: {}",
                    known.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            return Err(format!(
                "`--set {s}`: no scenario declares or uses variable `{k}` ({defined})"
            ));
        }
    }
    Ok(())
}
