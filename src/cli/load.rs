//! Loading many scenario files with variables, printing every error.

use std::path::PathBuf;

use super::args::VarArgs;
use crate::scenario::vars::{load_vars_file, parse_set, Vars};
use crate::scenario::{load_file, Scenario};

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
