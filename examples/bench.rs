//! Figures and ratios, not pass/fail: how kubedrill's SSH transport compares with the plain
//! `ssh` client (both with one multiplexed master): the first command from nothing, then
//! commands on an open master. The engine's cost is `bench_engine.rs`. Run as root:
//! `bash scripts/bench.sh` (release build; brings up and removes its own one-node lab).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kubedrill::access::{AccessSpec, NodeAccess, NodeSpec, SshAccess};
use kubedrill::lab::{self, LabConfig};

const COMMANDS: usize = 40;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

fn summary(name: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    println!(
        "  {name:<34} mean {mean:7.1} ms   p50 {:7.1} ms   p95 {:7.1} ms",
        percentile(&ms, 50.0),
        percentile(&ms, 95.0)
    );
    mean
}

/// Fresh connects timed per side (kubedrill and the `ssh` CLI, alternated).
const FIRST_ROUNDS: usize = 10;

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The `ssh` CLI with the options kubedrill gives its master (strict host keys, batch
/// mode, the lab's key only, the same connect timeout and keepalive), over `control`.
fn ssh_cli(ssh: &SshAccess, control: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new("ssh");
    c.stdin(std::process::Stdio::null())
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            ssh.known_hosts_file.as_ref().unwrap().display()
        ))
        .args(["-o", "IdentitiesOnly=yes", "-i"])
        .arg(ssh.identity_file.as_ref().unwrap())
        .args(["-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5"])
        .arg("-S")
        .arg(control)
        .args(extra)
        .arg(format!("root@{}", ssh.host));
    c
}

/// Connect + first command, and the master alone (connect) within it, in ms.
struct FirstCommand {
    total: f64,
    connect: f64,
}

/// `ssh -M -f -N` (returns once the master is up), then `true` through it: the CLI's
/// "connect + first command". The master is stopped afterwards, outside the timing.
fn cli_first_command(ssh: &SshAccess, control: &Path) -> FirstCommand {
    let t = Instant::now();
    let master = ssh_cli(ssh, control, &["-M", "-f", "-N", "-o", "ControlPersist=60"])
        .status()
        .expect("ssh");
    assert!(master.success(), "ssh master");
    let connect = ms(t);
    let first = ssh_cli(ssh, control, &[])
        .arg("true")
        .status()
        .expect("ssh");
    assert!(first.success(), "ssh first command");
    let total = ms(t);
    let _ = ssh_cli(ssh, control, &["-O", "exit"])
        .stderr(std::process::Stdio::null())
        .status();
    FirstCommand { total, connect }
}

/// A new `NodeAccess` (nothing connected) running `true`: kubedrill's "connect + first
/// command" (the command's own duration starts once the master is up). The master is
/// closed afterwards, outside the timing.
async fn kubedrill_first_command(node: &NodeSpec, argv: &[String]) -> FirstCommand {
    let access = NodeAccess::new(node.clone());
    let t = Instant::now();
    let out = access
        .run(argv, Duration::from_secs(10))
        .await
        .expect("first command");
    let total = ms(t);
    access.close().await;
    FirstCommand {
        total,
        connect: total - out.duration.as_secs_f64() * 1000.0,
    }
}

async fn ssh_comparison(dir: &Path) {
    let cfg = LabConfig {
        dir: dir.join("lab"),
        name_prefix: "kbench".into(),
        subnet: "10.213.251.0/24".into(),
        nodes: 1,
        ..LabConfig::default()
    };
    let lab = lab::up(&cfg).await.expect("lab up");
    let node = lab.inventory.node("n0").expect("n0").clone();
    let AccessSpec::Ssh(ssh) = node.access.clone() else {
        panic!("lab nodes use ssh")
    };
    let argv = vec!["true".to_string()];
    let control = dir.join("bench-ctl");

    println!(
        "SSH: connect + first `true` on a lab node ({}), {FIRST_ROUNDS} fresh connects each, alternated",
        ssh.host
    );
    // One unmeasured round each warms caches (binaries, keys) for both sides.
    kubedrill_first_command(&node, &argv).await;
    cli_first_command(&ssh, &control);
    let (mut ours_first, mut cli_first) = (Vec::new(), Vec::new());
    for round in 0..FIRST_ROUNDS {
        if round % 2 == 0 {
            ours_first.push(kubedrill_first_command(&node, &argv).await);
            cli_first.push(cli_first_command(&ssh, &control));
        } else {
            cli_first.push(cli_first_command(&ssh, &control));
            ours_first.push(kubedrill_first_command(&node, &argv).await);
        }
    }
    let totals = |v: &[FirstCommand]| v.iter().map(|f| f.total).collect::<Vec<_>>();
    let connects = |v: &[FirstCommand]| v.iter().map(|f| f.connect).collect::<Vec<_>>();
    let a = summary("kubedrill connect + first command", totals(&ours_first));
    let b = summary("ssh -M master + first command", totals(&cli_first));
    println!("  of which the master alone (connect):");
    summary("  kubedrill", connects(&ours_first));
    summary("  ssh -M -f -N", connects(&cli_first));
    println!("  ratio first command kubedrill / ssh CLI: {:.2}", a / b);

    println!("SSH: {COMMANDS} x `true` over an open master");
    let access = NodeAccess::new(node);
    access
        .run(&argv, Duration::from_secs(10))
        .await
        .expect("first command");
    let mut ours = Vec::new();
    for _ in 0..COMMANDS {
        let t = Instant::now();
        access
            .run(&argv, Duration::from_secs(10))
            .await
            .expect("command");
        ours.push(ms(t));
    }
    access.close().await;

    let ok = ssh_cli(
        &ssh,
        &control,
        &["-M", "-f", "-N", "-o", "ControlPersist=60"],
    )
    .status()
    .expect("ssh");
    assert!(ok.success(), "ssh master");
    let mut plain = Vec::new();
    for _ in 0..COMMANDS {
        let t = Instant::now();
        assert!(ssh_cli(&ssh, &control, &[])
            .arg("true")
            .status()
            .expect("ssh")
            .success());
        plain.push(ms(t));
    }
    let _ = ssh_cli(&ssh, &control, &["-O", "exit"])
        .stderr(std::process::Stdio::null())
        .status();

    let a = summary("kubedrill (openssh native-mux)", ours);
    let b = summary("ssh CLI with ControlMaster", plain);
    println!("  ratio kubedrill / ssh CLI: {:.2}", a / b);
    lab::down(&cfg).await.expect("lab down");
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    ssh_comparison(dir.path()).await;
}
