//! `kubedrill plan` against the lab's real 3-member etcd: the quorum guard refuses at plan
//! time (exit 2, and `run` refuses before its baseline), and the plan shows the exact
//! iptables commands with the chain name the run then uses.

use std::path::Path;
use std::time::Duration;

use kubedrill::access::AccessSpec;

use crate::common::{journal_has, kubedrill, only_run_dir, read_report, temp_dir, write};
use crate::drill_lab::{iptables_state, run_file, shipped, until, DrillLab};
use crate::lab_fixture::{LabFixture, LabKey};
use crate::run_binary::{run_to_end, Exit};

static LAB: DrillLab = DrillLab::new(LabKey::Etcd);
const NODES: [&str; 3] = ["n0", "n1", "n2"];

fn iptables_all(lab: &LabFixture) -> Vec<String> {
    NODES.iter().map(|n| iptables_state(lab, n)).collect()
}

fn plan(file: &Path, extra: &[&str]) -> Exit {
    Exit::of(kubedrill().arg("plan").arg(file).args(extra))
}

/// A scenario on the lab with an etcd probe, an expectation, a baseline wait and `steps`.
fn scenario(lab: &LabFixture, name: &str, steps: &str) -> String {
    format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: {name} }}\n\
         target: {{ inventory: {}/inventory.yaml }}\n\
         probes:\n  - name: etcd\n    interval: 200ms\n    timeout: 1s\n    etcd: {{}}\n\
         steps:\n  - wait: 1s\n{steps}\
         expect:\n  - {{ probe: etcd, max-outage: \"<= 10s\" }}\n",
        lab.cfg.dir.display()
    )
}

/// The chain named in the plan's `-N` command.
fn planned_chain(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("runs: on "))
        .find_map(|l| l.split_once(" -N ").map(|(_, c)| c.trim().to_string()))
        .unwrap_or_else(|| panic!("no `iptables -N` in the plan:\n{stdout}"))
}

#[tokio::test]
async fn plan_and_run_refuse_a_quorum_breaking_partition_before_the_baseline() {
    let (_turn, lab) = LAB.turn().await;
    let before = iptables_all(lab);
    let dir = temp_dir();
    // No `etcd-nodes`: validation cannot count the members, the plan must.
    let steps = "  - fault:\n      etcd-partition: { members: [n0, n1] }\n    for: 5s\n";
    let file = write(
        dir.path(),
        "two.yaml",
        &scenario(lab, "two-of-three", steps),
    );

    let out = plan(&file, &[]);
    out.assert_code(2);
    assert!(
        out.stdout.contains("REFUSED") && out.stdout.contains("quorum needs 2"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("quorum"), "{}", out.stderr);

    let reports = dir.path().join("reports");
    let out = run_to_end(&file, &reports);
    out.assert_code(2);
    assert!(
        !out.stdout.contains("PASS") && !out.stdout.contains("FAIL"),
        "{}",
        out.stdout
    );
    assert!(!journal_has(&reports, "\"entry\":\"injecting\""));
    let report = read_report(&only_run_dir(&reports));
    assert!(
        report["reason"].as_str().unwrap().contains("quorum"),
        "{report}"
    );
    let started: Vec<_> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "step-started")
        .collect();
    assert!(
        started.is_empty(),
        "no step, not even the baseline: {started:?}"
    );
    assert_eq!(report["expectations"], serde_json::json!([]));
    assert_eq!(iptables_all(lab), before, "iptables untouched");
}

#[tokio::test]
async fn plan_counts_a_partition_an_earlier_step_leaves_in_place() {
    let (_turn, lab) = LAB.turn().await;
    let dir = temp_dir();
    // Each alone isolates 1 of 3; the first has no `for`, so both would be in place.
    let steps = "  - id: first\n    fault:\n      etcd-partition: { member: n0 }\n\
                 \x20 - id: second\n    fault:\n      etcd-partition: { member: n1 }\n    for: 5s\n";
    let file = write(
        dir.path(),
        "two-steps.yaml",
        &scenario(lab, "one-then-another", steps),
    );
    let out = plan(&file, &[]);
    out.assert_code(2);
    assert!(
        out.stdout.contains("REFUSED: fault second")
            && out.stdout.contains("n0: left isolated by fault first"),
        "{}",
        out.stdout
    );
    // Healed in between, the same two partitions are fine.
    let steps = "  - id: first\n    fault:\n      etcd-partition: { member: n0 }\n\
                 \x20 - heal: first\n\
                 \x20 - id: second\n    fault:\n      etcd-partition: { member: n1 }\n    for: 5s\n";
    let file = write(
        dir.path(),
        "healed.yaml",
        &scenario(lab, "one-then-another", steps),
    );
    plan(&file, &[]).assert_code(0);
}

#[tokio::test]
async fn plan_shows_the_iptables_commands_and_the_chain_the_run_uses() {
    let (_turn, lab) = LAB.turn().await;
    let before = iptables_all(lab);
    let file = shipped("lab/etcd-partition-leader.yaml");
    let set = format!("lab_dir={}", lab.cfg.dir.display());
    let out = plan(&file, &["--set", &set]);
    out.assert_code(0);
    let chain = planned_chain(&out.stdout);
    assert!(
        chain.starts_with("KUBEDRILL-PART-") && chain.len() <= 28,
        "{chain}"
    );
    for cmd in [
        format!("iptables -w 5 -A {chain} -p tcp --dport 2380 -j DROP"),
        format!("iptables -w 5 -I INPUT 1 -j {chain}"),
        format!("iptables -w 5 -I OUTPUT 1 -j {chain}"),
    ] {
        assert!(out.stdout.contains(&cmd), "`{cmd}` in:\n{}", out.stdout);
    }
    // How each node is reached: the lab's nodes over SSH with strict host keys.
    for n in &lab.lab.inventory.nodes {
        let AccessSpec::Ssh(ssh) = &n.access else {
            panic!("the lab reaches {} over SSH", n.name);
        };
        let line = format!(
            "node {:<16} ssh {}@{}:{} (strict, known_hosts {}",
            n.name,
            ssh.user.as_deref().expect("user"),
            ssh.host,
            ssh.port.expect("port"),
            ssh.known_hosts_file
                .as_ref()
                .expect("known_hosts")
                .display()
        );
        assert!(out.stdout.contains(&line), "`{line}` in:\n{}", out.stdout);
    }
    // The same plan again names the same chain: it is chosen, not drawn.
    assert_eq!(planned_chain(&plan(&file, &["--set", &set]).stdout), chain);

    let dir = temp_dir();
    let root = dir.path().to_path_buf();
    let run = tokio::spawn(async move { run_file(&file, lab, &root).await });
    // During the fault, the isolated node's rules hold exactly that chain.
    let seen = until(
        Duration::from_secs(30),
        "the planned chain in place",
        || {
            let chain = chain.clone();
            async move {
                NODES
                    .iter()
                    .find(|n| iptables_state(lab, n).contains(&format!(":{chain} ")))
                    .map(|n| n.to_string())
            }
        },
    )
    .await;
    let outcome = run.await.unwrap();
    let r = &outcome.report;
    assert_eq!(r.exit_code, 0, "verdict {:?}: {:?}", r.verdict, r.reason);
    assert_eq!(r.faults[0].details["chain"], chain.as_str());
    assert_eq!(r.faults[0].details["isolated"][0]["node"], seen.as_str());
    let journal = std::fs::read_to_string(only_run_dir(dir.path()).join("journal.jsonl")).unwrap();
    assert!(journal.contains(&chain), "the journaled revert names it");
    assert_eq!(iptables_all(lab), before);
}

#[tokio::test]
async fn a_chain_already_in_place_is_refused_at_plan_time() {
    let (_turn, lab) = LAB.turn().await;
    let dir = temp_dir();
    let steps = "  - fault:\n      etcd-partition: { member: n2 }\n    for: 2s\n";
    let file = write(dir.path(), "n2.yaml", &scenario(lab, "isolate-n2", steps));
    let out = plan(&file, &[]);
    out.assert_code(0);
    let chain = planned_chain(&out.stdout);
    // As if another run of this scenario held it (or a killed run left it).
    let iptables = |op: &str| {
        let st = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.netns("n2"),
                "iptables",
                "-w",
                "5",
                op,
                &chain,
            ])
            .status()
            .unwrap();
        assert!(st.success(), "iptables {op} {chain}");
    };
    iptables("-N");
    let out = plan(&file, &[]);
    iptables("-X");
    out.assert_code(2);
    assert!(
        out.stdout
            .contains(&format!("chain {chain} is already on node n2")),
        "{}",
        out.stdout
    );
}
