//! A ground-truth target for the measurement tests: a network namespace of its own
//! (`kdt-truth`, 10.213.248.2/24, joined to the host's 10.213.248.1 by a veth; the subnet is
//! clear of the lab fixtures' per-process 10.213.1-246 and the bench's .251) running the
//! kubelet stand-in (HTTP `/healthz` and a TCP listener on :8080) and dnsmasq (`truth.test`
//! → 10.9.9.9 on :53, UDP and TCP).
//!
//! Cuts and heals are iptables rule sets prepared up front and applied atomically inside
//! the namespace with `iptables-restore --noflush` by a small shell script (`truth.sh`),
//! which logs the wall-clock instants (ns) taken immediately before and after each change:
//! the real change lies in that bracket. kubedrill runs the script as a `command` fault (so
//! its heal instant exists), or a background process runs it on a schedule of its own.
//!
//! One target exists at a time on this machine (fixed names and subnet): an exclusive
//! `flock` on `/run/kdt-truth.lock` serialises tests across threads and processes, and
//! whatever a crashed holder left behind is removed before a new target comes up. Drop
//! kills the servers and removes the namespace and the host rules, also when a test panics.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const NETNS: &str = "kdt-truth";
const HOST_VETH: &str = "kdt-truth-h";
const PEER_VETH: &str = "kdt-truth-p";
pub const HOST_ADDR: &str = "10.213.248.1";
pub const ADDR: &str = "10.213.248.2";
pub const HTTP_PORT: u16 = 8080;
pub const DNS_NAME: &str = "truth.test";
pub const DNS_ANSWER: &str = "10.9.9.9";
const LOCK_FILE: &str = "/run/kdt-truth.lock";
/// Comment on the host rules that let the veth's traffic through a DROP policy.
const HOST_RULE_TAG: &str = "kdt-truth";
/// The chain inside the namespace that cuts fill and heals flush (jumped to from INPUT).
const CUT_CHAIN: &str = "KDT-CUT";

/// How a cut refuses traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutMode {
    /// Packets vanish: TCP connects and UDP queries time out.
    Drop,
    /// TCP gets a reset, UDP an ICMP port-unreachable.
    Reject,
}

impl CutMode {
    /// The `truth.sh` action applying this cut.
    pub fn action(self) -> &'static str {
        match self {
            CutMode::Drop => "cut-drop",
            CutMode::Reject => "cut-reject",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CutMode::Drop => "drop",
            CutMode::Reject => "reject",
        }
    }
}

/// A change bracketed by wall-clock instants, in ms since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WallBracket {
    pub before_ms: f64,
    pub after_ms: f64,
}

/// One cut as it really happened, and its heal (`None`: still cut when the log was read).
#[derive(Debug, Clone, PartialEq)]
pub struct WallCut {
    pub mode: String,
    pub cut: WallBracket,
    pub heal: Option<WallBracket>,
}

pub struct TruthTarget {
    dir: tempfile::TempDir,
    standin: Child,
    dnsmasq: Child,
    /// Released last (fields drop after `Drop::drop`), once everything is removed.
    _lock: File,
}

impl TruthTarget {
    /// Brings the target up (waiting for this machine's previous target to go away) and
    /// waits until HTTP, TCP and DNS (UDP and TCP) answer from the host.
    pub fn up() -> Self {
        let lock = exclusive();
        remove_leftovers();
        let dir = tempfile::Builder::new()
            .prefix("kdt-truth-")
            .tempdir()
            .expect("tempdir");
        build_network();
        write_rule_files(dir.path());
        write_script(dir.path());
        let standin = spawn_in_netns(
            dir.path(),
            "standin",
            &[
                env!("CARGO_BIN_EXE_kubedrill-kubelet-standin"),
                "--listen",
                &format!("{ADDR}:{HTTP_PORT}"),
            ],
        );
        // --keep-in-foreground, not --no-daemon: debug mode serves TCP queries in the main
        // process, where one connection hung by a cut would stall UDP as well.
        let dnsmasq = spawn_in_netns(
            dir.path(),
            "dnsmasq",
            &[
                "dnsmasq",
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--user=root",
                "--pid-file=",
                "--bind-interfaces",
                &format!("--listen-address={ADDR}"),
                &format!("--address=/{DNS_NAME}/{DNS_ANSWER}"),
                "--log-facility=-",
            ],
        );
        let t = TruthTarget {
            dir,
            standin,
            dnsmasq,
            _lock: lock,
        };
        let ready = super::poll_until(Duration::from_secs(20), || {
            http_healthz_ok() && dns_udp_answers() && dns_tcp_answers()
        });
        assert!(
            ready,
            "the truth target did not come up (HTTP {}, DNS/UDP {}, DNS/TCP {});\n{}",
            http_healthz_ok(),
            dns_udp_answers(),
            dns_tcp_answers(),
            t.logs()
        );
        t
    }

    /// `ADDR:PORT` of the HTTP server (also the TCP listener).
    pub fn tcp_address(&self) -> String {
        format!("{ADDR}:{HTTP_PORT}")
    }

    pub fn http_url(&self) -> String {
        format!("http://{ADDR}:{HTTP_PORT}/healthz")
    }

    pub fn dns_server(&self) -> String {
        format!("{ADDR}:53")
    }

    /// The script applying cuts and heals: `sh truth.sh ACTION...`, each action one of
    /// `cut-drop`, `cut-reject`, `heal` or `sleep:SECONDS`.
    pub fn script(&self) -> PathBuf {
        self.dir.path().join("truth.sh")
    }

    /// argv running `truth.sh` with `actions` (for a `command` fault).
    pub fn argv(&self, actions: &[&str]) -> Vec<String> {
        let mut v = vec!["sh".to_string(), self.script().display().to_string()];
        v.extend(actions.iter().map(|a| a.to_string()));
        v
    }

    /// A YAML flow sequence of `argv(actions)`.
    pub fn argv_yaml(&self, actions: &[&str]) -> String {
        let words: Vec<String> = self
            .argv(actions)
            .iter()
            .map(|w| format!("{w:?}"))
            .collect();
        format!("[{}]", words.join(", "))
    }

    /// Spawns `truth.sh actions...` in the background (a schedule kubedrill knows nothing of).
    pub fn spawn_script(&self, actions: &[String]) -> Child {
        Command::new("sh")
            .arg(self.script())
            .args(actions)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn truth.sh")
    }

    /// Applies a cut or a heal now (logged like any other).
    pub fn apply(&self, action: &str) {
        let out = Command::new("sh")
            .arg(self.script())
            .arg(action)
            .output()
            .expect("truth.sh");
        assert!(
            out.status.success(),
            "truth.sh {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every cut logged so far with its heal, in order.
    pub fn cuts(&self) -> Vec<WallCut> {
        let log = std::fs::read_to_string(self.dir.path().join("truth.log")).unwrap_or_default();
        let mut cuts: Vec<WallCut> = Vec::new();
        for line in log.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [action, before, after] = parts[..] else {
                panic!("bad truth.log line: {line:?}");
            };
            let ns = |s: &str| -> f64 {
                s.parse::<i128>()
                    .unwrap_or_else(|_| panic!("bad instant in {line:?}")) as f64
                    / 1e6
            };
            let bracket = WallBracket {
                before_ms: ns(before),
                after_ms: ns(after),
            };
            match action {
                "heal" => {
                    // A heal with nothing cut (or a second one) changes nothing: ignored.
                    if let Some(open) = cuts.last_mut().filter(|c| c.heal.is_none()) {
                        open.heal = Some(bracket);
                    }
                }
                cut => {
                    // A cut while already cut keeps the first instant.
                    if cuts.last().is_none_or(|c| c.heal.is_some()) {
                        cuts.push(WallCut {
                            mode: cut.trim_start_matches("cut-").to_string(),
                            cut: bracket,
                            heal: None,
                        });
                    }
                }
            }
        }
        cuts
    }

    /// Logs of the servers (for failure messages).
    pub fn logs(&self) -> String {
        ["standin", "dnsmasq"]
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(self.dir.path().join(format!("{n}.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(10).collect();
                format!(
                    "== {n}.log\n{}\n",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect()
    }

    /// Directory of the rule files, script and log (kept until drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TruthTarget {
    fn drop(&mut self) {
        for child in [&mut self.standin, &mut self.dnsmasq] {
            let _ = child.kill();
            let _ = child.wait();
        }
        remove_leftovers();
    }
}

/// Holds this machine's truth-target lock (for timing tests that need no target but must
/// not overlap one) and raises this process's priority; released on drop.
pub fn exclusive() -> File {
    let lock = take_lock();
    raise_priority();
    lock
}

/// Nice value of the target's servers and of the test process while it measures.
const PRIORITY: i32 = -10;

/// Raises every thread of this process (the runtime's workers included; Linux nice is per
/// thread) to `PRIORITY`; threads and processes started later inherit it, `truth.sh`
/// included. Builds loading this 2-core machine then delay neither kubedrill's samples
/// nor the truth's timestamps: the tests compare the measurement with the cuts, not with
/// CPU starvation. Left raised: the test binary is a test binary.
fn raise_priority() {
    for task in std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
    {
        if let Ok(tid) = task.file_name().to_string_lossy().parse::<libc::id_t>() {
            // SAFETY: setpriority on one of our own threads; failure is harmless.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, PRIORITY) };
        }
    }
}

fn take_lock() -> File {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_FILE)
        .unwrap_or_else(|e| panic!("{LOCK_FILE}: {e}"));
    // SAFETY: flock on a descriptor we own; the lock lives as long as the returned file.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(
        rc,
        0,
        "flock {LOCK_FILE}: {}",
        std::io::Error::last_os_error()
    );
    file
}

/// Runs a command; panics with its output when it fails.
fn sh(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", argv[0]));
    assert!(
        out.status.success(),
        "`{}` failed: {}",
        argv.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command, ignoring failure; whether it succeeded.
fn try_sh(argv: &[&str]) -> bool {
    Command::new(argv[0])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn host_rules() -> [[&'static str; 9]; 2] {
    let tail = ["-m", "comment", "--comment", HOST_RULE_TAG, "-j", "ACCEPT"];
    let rule = |chain, dir| {
        let mut r = [""; 9];
        r[0] = chain;
        r[1] = dir;
        r[2] = HOST_VETH;
        r[3..].copy_from_slice(&tail);
        r
    };
    [rule("INPUT", "-i"), rule("OUTPUT", "-o")]
}

/// Removes the namespace (killing what runs in it), the veth and the host rules.
fn remove_leftovers() {
    let list = sh(&["ip", "netns", "list"]);
    if list
        .lines()
        .any(|l| l.split_whitespace().next() == Some(NETNS))
    {
        let pids = sh(&["ip", "netns", "pids", NETNS]);
        for pid in pids.split_whitespace() {
            try_sh(&["kill", "-9", pid]);
        }
        sh(&["ip", "netns", "del", NETNS]);
    }
    if try_sh(&["ip", "link", "show", "dev", HOST_VETH]) {
        try_sh(&["ip", "link", "del", HOST_VETH]);
    }
    for rule in host_rules() {
        while try_sh(&[&["iptables", "-w", "5", "-D"][..], &rule[..]].concat()) {}
    }
}

fn build_network() {
    let ns = NETNS;
    sh(&["ip", "netns", "add", ns]);
    sh(&[
        "ip", "link", "add", HOST_VETH, "type", "veth", "peer", "name", PEER_VETH,
    ]);
    sh(&["ip", "link", "set", PEER_VETH, "netns", ns]);
    sh(&["ip", "-n", ns, "link", "set", PEER_VETH, "name", "eth0"]);
    sh(&[
        "ip",
        "addr",
        "add",
        &format!("{HOST_ADDR}/24"),
        "dev",
        HOST_VETH,
    ]);
    sh(&["ip", "link", "set", HOST_VETH, "up"]);
    sh(&[
        "ip",
        "-n",
        ns,
        "addr",
        "add",
        &format!("{ADDR}/24"),
        "dev",
        "eth0",
    ]);
    sh(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
    sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    for rule in host_rules() {
        sh(&[&["iptables", "-w", "5", "-I", rule[0], "1"][..], &rule[1..]].concat());
    }
    sh(&[
        "ip", "netns", "exec", ns, "iptables", "-w", "5", "-N", CUT_CHAIN,
    ]);
    sh(&[
        "ip", "netns", "exec", ns, "iptables", "-w", "5", "-I", "INPUT", "1", "-j", CUT_CHAIN,
    ]);
}

/// `cut-drop.rules`, `cut-reject.rules` and `heal.rules`: whole changes for
/// `iptables-restore --noflush` (HTTP/TCP :8080 and DNS :53 over UDP and TCP).
fn write_rule_files(dir: &Path) {
    let c = CUT_CHAIN;
    let drop = format!(
        "*filter\n-A {c} -p tcp --dport {HTTP_PORT} -j DROP\n-A {c} -p tcp --dport 53 -j DROP\n\
         -A {c} -p udp --dport 53 -j DROP\nCOMMIT\n"
    );
    let reject = format!(
        "*filter\n-A {c} -p tcp --dport {HTTP_PORT} -j REJECT --reject-with tcp-reset\n\
         -A {c} -p tcp --dport 53 -j REJECT --reject-with tcp-reset\n\
         -A {c} -p udp --dport 53 -j REJECT --reject-with icmp-port-unreachable\nCOMMIT\n"
    );
    let heal = format!("*filter\n-F {c}\nCOMMIT\n");
    for (name, text) in [("cut-drop", drop), ("cut-reject", reject), ("heal", heal)] {
        std::fs::write(dir.join(format!("{name}.rules")), text).expect("rules");
    }
}

/// `truth.sh ACTION...`: applies each action in order; for a cut or a heal it appends
/// `ACTION BEFORE_NS AFTER_NS` to `truth.log`, the instants read right before and right
/// after `iptables-restore` returned.
fn write_script(dir: &Path) {
    let d = dir.display();
    let script = format!(
        r#"#!/bin/sh
set -e
for action in "$@"; do
  case "$action" in
    cut-drop|cut-reject|heal)
      b=$(date +%s%N)
      ip netns exec {NETNS} iptables-restore -w 5 --noflush < "{d}/$action.rules"
      a=$(date +%s%N)
      echo "$action $b $a" >> "{d}/truth.log" ;;
    sleep:*) sleep "${{action#sleep:}}" ;;
    *) echo "truth.sh: unknown action $action" >&2; exit 2 ;;
  esac
done
"#
    );
    std::fs::write(dir.join("truth.sh"), script).expect("truth.sh");
}

/// Starts `argv` in the namespace; it inherits the raised priority (see `raise_priority`):
/// the target must answer at once whenever it is not cut, or a probe with a 15 ms timeout
/// sees a slow target where the truth says healthy.
fn spawn_in_netns(dir: &Path, name: &str, argv: &[&str]) -> Child {
    let log = File::create(dir.join(format!("{name}.log"))).expect("log");
    Command::new("ip")
        .args(["netns", "exec", NETNS])
        .args(argv)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `GET /healthz` from the host answers 200 within 300 ms.
pub fn http_healthz_ok() -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(
        &format!("{ADDR}:{HTTP_PORT}").parse().unwrap(),
        Duration::from_millis(300),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200")
}

/// A DNS query for `truth.test` A (id 0x1234).
fn dns_query() -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in DNS_NAME.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// dnsmasq answers `truth.test` over UDP within 300 ms.
pub fn dns_udp_answers() -> bool {
    let sock = std::net::UdpSocket::bind(format!("{HOST_ADDR}:0")).expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    if sock.send_to(&dns_query(), (ADDR, 53)).is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    matches!(sock.recv_from(&mut buf), Ok((n, _)) if n > 12 && buf[6..8] != [0, 0])
}

/// dnsmasq answers `truth.test` over TCP within 300 ms.
pub fn dns_tcp_answers() -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(
        &format!("{ADDR}:53").parse().unwrap(),
        Duration::from_millis(300),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
    let q = dns_query();
    let mut msg = (q.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(&q);
    if s.write_all(&msg).is_err() {
        return false;
    }
    let mut buf = [0u8; 514];
    let mut n = 0;
    while n < 14 {
        match s.read(&mut buf[n..]) {
            Ok(0) | Err(_) => return false,
            Ok(k) => n += k,
        }
    }
    buf[8..10] != [0, 0]
}
