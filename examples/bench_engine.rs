//! Figures, not pass/fail: what sampling costs the engine over a long drill. Probes hit a
//! target served by a separate process (the lab's kubelet stand-in), so the CPU and memory
//! printed are kubedrill's own: the schedule, the samples in flight, the reorder buffer,
//! the trackers, `samples.jsonl`, `abort-if` checks, and writing the reports at the end.
//!
//! `bash scripts/bench.sh` runs it. Environment:
//! - `KUBEDRILL_BENCH_SECONDS` (default 120): length of each drill; 3600 for the one-hour
//!   figure (7.2 M samples at 2,000 samples/s).
//! - `KUBEDRILL_BENCH_KINDS` (default `tcp,http`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// 40 probes every 20 ms: 2,000 samples/s.
const PROBES: usize = 40;
const INTERVAL_MS: u64 = 20;
/// Goals from the issue: a quarter of one core, 64 MB.
const CPU_GOAL_PCT: f64 = 25.0;
const RSS_GOAL_MB: f64 = 64.0;

fn rusage_cpu_s() -> f64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    (u.ru_utime.tv_sec + u.ru_stime.tv_sec) as f64
        + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) as f64 / 1e6
}

/// (current RSS, peak RSS) in MiB, from /proc/self/status.
fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak RSS to the current one (so each drill reports its own peak).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Target(Child, u16);

impl Target {
    fn start(dir: &Path) -> Target {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let exe = std::env::current_exe().unwrap();
        let standin = exe.parent().unwrap().join("../kubedrill-kubelet-standin");
        let child = Command::new(standin)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("standin.log")).unwrap())
            .spawn()
            .expect("the kubelet stand-in (cargo build --release --bins)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "stand-in did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Target(child, port)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scenario(kind: &str, port: u16, seconds: u64) -> String {
    let mut yaml = format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: bench-{kind} }}\nsettings: {{ recovery-timeout: 1s }}\nprobes:\n"
    );
    for i in 0..PROBES {
        let spec = match kind {
            "http" => format!("http: {{ url: \"http://127.0.0.1:{port}/healthz\" }}"),
            _ => format!("tcp: {{ address: \"127.0.0.1:{port}\" }}"),
        };
        yaml.push_str(&format!(
            "  - {{ name: p{i}, interval: {INTERVAL_MS}ms, timeout: 1s, {spec} }}\n"
        ));
    }
    yaml.push_str(&format!("steps:\n  - wait: {seconds}s\nabort-if:\n"));
    for i in 0..PROBES {
        yaml.push_str(&format!("  - {{ probe: p{i}, outage: \"> 60s\" }}\n"));
    }
    yaml
}

async fn drill(kind: &str, seconds: u64, dir: &Path) {
    let target = Target::start(dir);
    let file = dir.join(format!("bench-{kind}.yaml"));
    std::fs::write(&file, scenario(kind, target.1, seconds)).unwrap();
    let scenario = kubedrill::scenario::load_file(&file, &Default::default()).expect("valid");
    let opts = kubedrill::engine::RunOptions {
        report_root: dir.join("reports"),
        cluster: Default::default(),
        events: kubedrill::engine::EventSink::new(1024),
        handle_signals: false,
    };
    reset_peak_rss();
    let rss_before = rss_mb().0;
    let cpu0 = rusage_cpu_s();
    let wall = Instant::now();
    // RSS every tenth of the drill, to show it does not grow with the run.
    let rss_log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = rss_log.clone();
    let sampler = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(seconds.max(10) / 10)).await;
            log.lock().unwrap().push(rss_mb().0);
        }
    });
    let out = kubedrill::engine::run(&scenario, &opts).await.expect("run");
    let run_s = wall.elapsed().as_secs_f64();
    let run_cpu = rusage_cpu_s() - cpu0;
    sampler.abort();
    let peak_run = rss_mb().1;
    let written = Instant::now();
    let formats = [
        kubedrill::scenario::ReportFormat::Junit,
        kubedrill::scenario::ReportFormat::Md,
        kubedrill::scenario::ReportFormat::Html,
    ];
    kubedrill::report::write_reports(&out.report, &out.run_dir, &formats).expect("reports");
    let write_s = written.elapsed().as_secs_f64();
    let peak_all = rss_mb().1;
    drop(target);

    let samples: u64 = out
        .report
        .probes
        .iter()
        .map(|p| p.measurements.samples)
        .sum();
    let scheduled: u64 = out.report.probes.iter().map(|p| p.scheduled_ticks).sum();
    let missed: u64 = out.report.probes.iter().map(|p| p.missed_ticks).sum();
    let failed: u64 = out
        .report
        .probes
        .iter()
        .map(|p| p.measurements.failed_samples)
        .sum();
    let size = |name: &str| {
        std::fs::metadata(out.run_dir.join(name)).map_or(0.0, |m| m.len() as f64 / 1048576.0)
    };
    let cpu_pct = 100.0 * run_cpu / run_s;
    println!(
        "Engine, {kind}: {PROBES} probes every {INTERVAL_MS}ms for {seconds}s (verdict {:?})",
        out.report.verdict
    );
    println!(
        "  samples {samples} ({:.0}/s), failed {failed}, scheduled ticks {scheduled}, missed {missed}",
        samples as f64 / run_s
    );
    println!(
        "  CPU {run_cpu:.1}s over {run_s:.1}s: {cpu_pct:.1}% of one core (goal {CPU_GOAL_PCT}%: ratio {:.2})",
        cpu_pct / CPU_GOAL_PCT
    );
    let rss: Vec<String> = rss_log
        .lock()
        .unwrap()
        .iter()
        .map(|m| format!("{m:.0}"))
        .collect();
    println!(
        "  RSS MiB: before {rss_before:.0}, during the drill [{}]",
        rss.join(" ")
    );
    println!(
        "  peak RSS {peak_run:.1} MiB during the drill, {peak_all:.1} MiB with the reports written in {write_s:.1}s (goal {RSS_GOAL_MB} MB: ratio {:.2})",
        peak_all * 1.048576 / RSS_GOAL_MB
    );
    println!(
        "  files: samples.jsonl {:.1} MiB, report.json {:.2} MiB, report.html {:.2} MiB, report.md {:.3} MiB, junit.xml {:.3} MiB",
        size("samples.jsonl"),
        size("report.json"),
        size("report.html"),
        size("report.md"),
        size("junit.xml")
    );
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("KUBEDRILL_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let kinds = std::env::var("KUBEDRILL_BENCH_KINDS").unwrap_or_else(|_| "tcp,http".into());
    let dir = tempfile::tempdir().unwrap();
    for kind in kinds.split(',') {
        drill(kind.trim(), seconds, dir.path()).await;
        println!();
    }
}
