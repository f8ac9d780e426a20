//! `kubedrill validate`: scenarios, the inventories they name, and `--inventory FILE`.

use std::path::{Path, PathBuf};

use super::args::ValidateArgs;
use super::load::load_all;
use crate::access::{inventory_path, looks_like_inventory, Inventory, InventoryError};
use crate::exit_code::ExitCode;

/// Validates every file; prints `ok` lines for the good ones and every error of the bad
/// ones. A scenario whose `target.inventory` is invalid is invalid; one whose inventory
/// does not exist yet (e.g. the lab is not up) gets a note.
pub fn validate(a: ValidateArgs) -> i32 {
    let mut valid = true;
    // A file given as a scenario that is an inventory gets one clear line, not a list of
    // unknown scenario keys.
    let (inventories, scenarios): (Vec<PathBuf>, Vec<PathBuf>) = a
        .files
        .iter()
        .cloned()
        .partition(|f| looks_like_inventory(f));
    for f in &inventories {
        eprintln!(
            "error: {}: this is an inventory (top-level `nodes:`), not a scenario; \
             validate it with `kubedrill validate --inventory {}`",
            f.display(),
            f.display()
        );
        valid = false;
    }
    if let Some(inv) = &a.inventory {
        valid &= check_inventory(inv, None);
    }
    if !scenarios.is_empty() {
        match load_all(&scenarios, &a.vars) {
            Some(list) => {
                for s in list {
                    let Some(named) = &s.target.inventory else {
                        println!("ok: {} ({})", s.file.display(), s.metadata.name);
                        continue;
                    };
                    let path = inventory_path(named, &s.file);
                    if check_inventory(&path, Some(&s.file)) {
                        println!("ok: {} ({})", s.file.display(), s.metadata.name);
                    } else {
                        valid = false;
                    }
                }
            }
            None => valid = false,
        }
    }
    if valid {
        ExitCode::Pass.code()
    } else {
        ExitCode::Invalid.code()
    }
}

/// Validates one inventory; `scenario` is the file that names it (None for
/// `--inventory`). A missing inventory a scenario names is a note, not an error: it may
/// be written later (`kubedrill lab up`, scripts/kind-vars.sh).
fn check_inventory(path: &Path, scenario: Option<&Path>) -> bool {
    match (Inventory::load(path), scenario) {
        (Ok(inv), _) => {
            println!(
                "ok: {} (inventory, {} node(s))",
                path.display(),
                inv.nodes.len()
            );
            true
        }
        (Err(InventoryError::Read { missing: true, .. }), Some(s)) => {
            eprintln!(
                "note: {}: inventory {} does not exist yet; not checked",
                s.display(),
                path.display()
            );
            true
        }
        (Err(InventoryError::Invalid { errors, .. }), s) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            match s {
                Some(s) => eprintln!(
                    "{}: its inventory {} is invalid ({} error(s)); nothing was run",
                    s.display(),
                    path.display(),
                    errors.len()
                ),
                None => eprintln!(
                    "inventory {} is invalid ({} error(s))",
                    path.display(),
                    errors.len()
                ),
            }
            false
        }
        (Err(e), s) => {
            match s {
                Some(s) => eprintln!("error: {}: {e}", s.display()),
                None => eprintln!("error: {e}"),
            }
            false
        }
    }
}
