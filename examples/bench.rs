//! Figures and ratios, not pass/fail: how kubedrill's SSH transport compares with the plain
//! `ssh` client (both with one multiplexed master), and what many probes on short
//! intervals cost the engine (schedule kept, CPU, peak memory). Run as root:
//! `bash scripts/bench.sh` (release build; brings up and removes its own one-node lab).

use std::net::TcpListener;
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

fn rusage() -> (f64, i64) {
    // SAFETY: getrusage fills the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let cpu = (u.ru_utime.tv_sec + u.ru_stime.tv_sec) as f64
        + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) as f64 / 1e6;
    (cpu, u.ru_maxrss)
}

async fn engine_load(dir: &Path) {
    const PROBES: usize = 50;
    const INTERVAL_MS: u64 = 50;
    const SECONDS: u64 = 10;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            drop(c)
        }
    });
    let mut yaml = String::from(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: bench }\nprobes:\n",
    );
    for i in 0..PROBES {
        yaml.push_str(&format!("  - {{ name: p{i}, interval: {INTERVAL_MS}ms, timeout: 1s, tcp: {{ address: \"127.0.0.1:{port}\" }} }}\n"));
    }
    yaml.push_str(&format!("steps:\n  - wait: {SECONDS}s\n"));
    let file = dir.join("bench.yaml");
    std::fs::write(&file, yaml).unwrap();
    let scenario = kubedrill::scenario::load_file(&file, &Default::default()).expect("valid");
    let opts = kubedrill::engine::RunOptions {
        report_root: dir.join("reports"),
        cluster: Default::default(),
        events: kubedrill::engine::EventSink::new(1024),
        handle_signals: false,
    };
    let (cpu0, _) = rusage();
    let wall = Instant::now();
    let out = kubedrill::engine::run(&scenario, &opts).await.expect("run");
    let wall_s = wall.elapsed().as_secs_f64();
    let (cpu1, maxrss_kb) = rusage();
    let expected = (SECONDS * 1000 / INTERVAL_MS) as f64;
    let counts: Vec<f64> = out
        .report
        .probes
        .iter()
        .map(|p| p.samples.len() as f64)
        .collect();
    let gaps: Vec<f64> = out
        .report
        .probes
        .iter()
        .flat_map(|p| {
            p.samples
                .windows(2)
                .map(|w| w[1].offset_ms - w[0].offset_ms)
                .collect::<Vec<_>>()
        })
        .collect();
    let max_gap = gaps.iter().cloned().fold(0.0, f64::max);
    let json = serde_json::to_vec(&out.report).unwrap().len();
    println!("Engine: {PROBES} tcp probes every {INTERVAL_MS}ms for {SECONDS}s");
    println!(
        "  samples per probe: min {:.0} / expected {expected:.0} (ratio {:.3})",
        counts.iter().cloned().fold(f64::MAX, f64::min),
        counts.iter().cloned().fold(f64::MAX, f64::min) / expected
    );
    println!("  largest gap between two samples of a probe: {max_gap:.1} ms (interval {INTERVAL_MS} ms, ratio {:.2})", max_gap / INTERVAL_MS as f64);
    println!(
        "  CPU {:.2} s over {wall_s:.1} s wall ({:.1}% of one core)",
        cpu1 - cpu0,
        100.0 * (cpu1 - cpu0) / wall_s
    );
    println!(
        "  peak RSS {:.1} MiB; report.json {:.1} MiB for {} samples",
        maxrss_kb as f64 / 1024.0,
        json as f64 / 1048576.0,
        counts.iter().sum::<f64>()
    );
}

#[tokio::main]
async fn main() {
    // KUBEDRILL_BENCH=ssh|engine|all (default all) picks the parts to run.
    let which = std::env::var("KUBEDRILL_BENCH").unwrap_or_else(|_| "all".into());
    let (engine, ssh) = match which.as_str() {
        "all" => (true, true),
        "engine" => (true, false),
        "ssh" => (false, true),
        other => panic!("KUBEDRILL_BENCH={other}: expected ssh, engine or all"),
    };
    let dir = tempfile::tempdir().unwrap();
    if engine {
        engine_load(dir.path()).await;
    }
    if engine && ssh {
        println!();
    }
    if ssh {
        ssh_comparison(dir.path()).await;
    }
}
