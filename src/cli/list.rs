//! `kubedrill list`: the catalogue of faults and probes.

use crate::exit_code::ExitCode;

/// Prints every fault and probe kind with its summary and an example.
pub fn list() -> i32 {
    println!("FAULTS (a `fault` step; reverted after `for`, at a `heal` step, or at the end)\n");
    print_entries(crate::faults::catalogue());
    println!("PROBES (each samples on its own interval for the whole run)\n");
    print_entries(crate::probes::catalogue());
    ExitCode::Pass.code()
}

fn print_entries(entries: Vec<(&str, &str, &str)>) {
    for (kind, summary, example) in entries {
        println!("  {kind:<18} {summary}");
        for line in example.lines() {
            println!("      {line}");
        }
        println!();
    }
}
