//! `kubedrill plan` refuses what `run` would refuse before it starts (exit 2), shows how
//! each node is reached and the commands a fault runs; a run refused at its setup prints
//! no PASS/FAIL lines. No lab needed: nothing here connects to a node.

use std::path::Path;

use crate::common::{free_port, kubedrill, only_report, temp_dir, write};
use crate::run_binary::{run_to_end, Exit};

/// `kubedrill plan FILE EXTRA...`.
fn plan(file: &Path, extra: &[&str]) -> Exit {
    Exit::of(kubedrill().arg("plan").arg(file).args(extra))
}

/// A scenario on `inventory` with one probe, one expectation and a stop-service fault on n1.
fn scenario(inventory: &Path) -> String {
    scenario_on(inventory, "n1")
}

fn scenario_on(inventory: &Path, node: &str) -> String {
    format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: plan-refusals }}\n\
         target: {{ inventory: {} }}\n\
         probes:\n  - name: web\n    interval: 200ms\n    timeout: 1s\n    tcp: {{ address: \"127.0.0.1:9\" }}\n\
         steps:\n  - wait: 1s\n  - fault:\n      stop-service: {{ nodes: [{node}], service: app, \
         stop: [systemctl, stop, app.service], status: [systemctl, is-active, --quiet, app.service] }}\n    for: 2s\n\
         expect:\n  - {{ probe: web, max-outage: \"<= 1s\" }}\n",
        inventory.display()
    )
}

#[test]
fn plan_with_a_missing_inventory_exits_2_and_hints_at_the_lab_only_for_the_labs() {
    let dir = temp_dir();
    let missing = dir.path().join("nowhere/inventory.yaml");
    let file = write(dir.path(), "s.yaml", &scenario(&missing));
    let out = plan(&file, &[]);
    out.assert_code(2);
    assert!(
        out.stderr.contains(&missing.display().to_string()),
        "names the inventory: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("lab up") && !out.stdout.contains("lab up"),
        "no lab hint for a user's inventory:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains("refused before it starts"),
        "{}",
        out.stdout
    );

    // The lab's inventory (under the lab's directory) gets the hint.
    let lab_missing = Path::new("/var/lib/kubedrill/lab")
        .join(format!("no-such-lab-{}", std::process::id()))
        .join("inventory.yaml");
    let file = write(dir.path(), "lab.yaml", &scenario(&lab_missing));
    let out = plan(&file, &[]);
    out.assert_code(2);
    assert!(
        out.stderr.contains("run `kubedrill lab up` first"),
        "{}",
        out.stderr
    );
    // `run --dry-run` is the plan: the same refusal.
    let out = Exit::of(kubedrill().args(["run", "--dry-run"]).arg(&file));
    out.assert_code(2);
}

#[test]
fn plan_with_a_broken_inventory_or_no_kubernetes_context_exits_2() {
    let dir = temp_dir();
    let inventory = write(
        dir.path(),
        "inventory.yaml",
        "nodes:\n  - name: n1\n    acess: { local: {} }\n",
    );
    let out = plan(&write(dir.path(), "s.yaml", &scenario(&inventory)), &[]);
    out.assert_code(2);
    assert!(out.stderr.contains("inventory"), "{}", out.stderr);

    // A Kubernetes probe with a kubeconfig that does not exist: `run` would refuse it.
    let text = "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: plan-no-context }\n\
                probes:\n  - name: api\n    interval: 1s\n    timeout: 1s\n    api: {}\n\
                steps:\n  - wait: 1s\n";
    let file = write(dir.path(), "k.yaml", text);
    let kubeconfig = dir.path().join("no-kubeconfig");
    let out = plan(&file, &["--kubeconfig", kubeconfig.to_str().unwrap()]);
    out.assert_code(2);
    assert!(out.stderr.contains("Kubernetes"), "{}", out.stderr);
}

#[test]
fn a_run_refused_at_its_inventory_judges_no_expectation() {
    let dir = temp_dir();
    let missing = dir.path().join("nowhere/inventory.yaml");
    let file = write(dir.path(), "s.yaml", &scenario(&missing));
    let reports = dir.path().join("reports");
    let out = run_to_end(&file, &reports);
    out.assert_code(2);
    for word in ["PASS", "FAIL"] {
        assert!(
            !out.stdout.contains(word) && !out.stderr.contains(word),
            "no {word} line for a run that never started:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    assert!(out.stdout.contains("did not start"), "{}", out.stdout);
    let report = only_report(&reports);
    assert_eq!(report["expectations"], serde_json::json!([]), "{report}");
    assert_eq!(report["exit_code"], 2);
}

/// A network namespace of this test's own, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Self {
        let name = format!("kdplan{tag}{}", std::process::id());
        let st = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(st.success(), "ip netns add {name}");
        Self(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

#[test]
fn plan_refuses_a_node_the_run_could_not_reach() {
    let dir = temp_dir();
    let port = free_port();
    let inventory = write(
        dir.path(),
        "inventory.yaml",
        &format!(
            "nodes:\n  - name: n1\n    access:\n      ssh: {{ host: 127.0.0.1, port: {port}, user: root, \
             connect-timeout: 3s }}\n"
        ),
    );
    let out = plan(&write(dir.path(), "s.yaml", &scenario(&inventory)), &[]);
    out.assert_code(2);
    assert!(out.stderr.contains("n1"), "{}", out.stderr);
    assert!(
        out.stdout.contains("refused before it starts"),
        "{}",
        out.stdout
    );
}

#[test]
fn plan_shows_how_each_node_is_reached_and_the_status_command_that_verifies_a_stop() {
    let ns = Netns::new("s");
    let dir = temp_dir();
    let known = write(dir.path(), "known_hosts", "");
    let inventory = write(
        dir.path(),
        "inventory.yaml",
        &format!(
            "nodes:\n  - name: n1\n    access:\n      ssh: {{ host: 10.231.0.12, port: 2222, user: root, \
             known-hosts: strict, known-hosts-file: {} }}\n\
             \x20 - name: n2\n    access: {{ local: {{ netns: {} }} }}\n\
             \x20 - name: n3\n    access: {{ docker: {{ container: kind-worker }} }}\n",
            known.display(),
            ns.0
        ),
    );
    // The stop runs on n2, the one node reachable here: `plan` checks access to the nodes
    // a run touches, and n1 and n3 are only listed.
    let file = write(dir.path(), "s.yaml", &scenario_on(&inventory, "n2"));
    let out = plan(&file, &[]);
    out.assert_code(0);
    let ssh = format!(
        "ssh root@10.231.0.12:2222 (strict, known_hosts {})",
        known.display()
    );
    let netns = format!("netns {}", ns.0);
    for line in [
        ssh.as_str(),
        netns.as_str(),
        "docker exec kind-worker",
        "runs: on n2: systemctl stop app.service",
        "runs: on n2: systemctl is-active --quiet app.service",
        "verifies the stop",
    ] {
        assert!(out.stdout.contains(line), "`{line}` in:\n{}", out.stdout);
    }
}
