//! Every example printed by `kubedrill list` is a valid scenario fragment.

use std::path::Path;

fn indent(text: &str, prefix: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    let rest: Vec<String> = lines.map(|l| format!("{prefix}{l}")).collect();
    format!("- {first}\n{}", rest.join("\n"))
}

fn check(doc: &str) {
    if let Err(errors) =
        crate::scenario::load_str(Path::new("example.yaml"), doc, &Default::default())
    {
        let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        panic!("example does not validate:\n{doc}\n{}", list.join("\n"));
    }
}

/// Examples name nodes; give them an inline inventory.
const HEAD: &str = "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: example }\ntarget:\n  nodes:\n    - { name: n1, access: { local: { netns: x } } }\n    - { name: worker-1, access: { docker: { container: kind-worker } } }\n";

#[test]
fn every_fault_example_validates() {
    for (_, _, example) in crate::faults::catalogue() {
        check(&format!("{HEAD}steps:\n  {}\n", indent(example, "    ")));
    }
}

#[test]
fn every_probe_example_validates() {
    for (_, _, example) in crate::probes::catalogue() {
        check(&format!(
            "{HEAD}probes:\n  {}\nsteps:\n  - wait: 1s\n",
            indent(example, "    ")
        ));
    }
}
