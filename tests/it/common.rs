//! Helpers shared by the integration tests: the binary, condition waits, real local
//! servers (dnsmasq) and process inspection.
#![allow(dead_code)]

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The kubedrill binary under test.
pub fn kubedrill() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubedrill"));
    c.env("KUBEDRILL_NO_LIVE", "1");
    c
}

/// Polls `cond` every 20ms until it holds; panics naming `what` after `limit`.
pub fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A port free on 127.0.0.1 for both TCP and UDP right now.
pub fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = tcp.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The state letter of a process (`R`, `S`, `T` stopped, `Z`...), `None` if gone.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// A real dnsmasq on 127.0.0.1:PORT answering `*.example.test` with 10.1.2.3.
pub struct Dnsmasq {
    pub child: Child,
    pub port: u16,
}

/// The address every `example.test` name resolves to.
pub const DNS_ANSWER: &str = "10.1.2.3";

impl Dnsmasq {
    /// Starts dnsmasq in the foreground and waits until it answers.
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--no-daemon",
                "--user=root",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                &format!("--port={port}"),
                &format!("--address=/example.test/{DNS_ANSWER}"),
                "--pid-file=",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq (Debian dnsmasq-base) must be installed");
        let d = Dnsmasq { child, port };
        wait_for(Duration::from_secs(10), "dnsmasq to answer", || d.answers());
        d
    }

    /// The server as `IP:PORT`.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The dnsmasq pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True when a query for `a.example.test` is answered within 300ms.
    pub fn answers(&self) -> bool {
        dns_query_answers(self.port)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.pid().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a minimal DNS query for `a.example.test` A and checks for any answer.
pub fn dns_query_answers(port: u16) -> bool {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["a", "example", "test"] {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    if sock.send_to(&q, ("127.0.0.1", port)).is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    matches!(sock.recv_from(&mut buf), Ok((n, _)) if n > 12 && buf[6..8] != [0, 0])
}

/// A fresh temporary directory for one test.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// The single run directory created under `root`.
pub fn only_run_dir(root: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("report root")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(
        dirs.len(),
        1,
        "expected one run directory in {}: {dirs:?}",
        root.display()
    );
    dirs[0].clone()
}

/// Reads `report.json` of a run directory.
pub fn read_report(run_dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run_dir.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("json")
}

/// The report of the single run under the report root `root`.
pub fn only_report(root: &Path) -> serde_json::Value {
    read_report(&only_run_dir(root))
}

/// Whether any run's journal under the report root `root` contains `needle`.
pub fn journal_has(root: &Path, needle: &str) -> bool {
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .any(|run| {
            std::fs::read_to_string(run.path().join("journal.jsonl"))
                .is_ok_and(|j| j.contains(needle))
        })
}

/// A millisecond figure of a report; panics when it is not a number.
pub fn ms(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The probe named `name` in an in-process run's report.
pub fn probe<'a>(
    report: &'a kubedrill::report::RunReport,
    name: &str,
) -> &'a kubedrill::report::ProbeRecord {
    report
        .probes
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no probe {name} in the report"))
}
