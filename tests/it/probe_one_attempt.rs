//! One sample is one attempt, checked on real components: a namespace joined to the host
//! by a veth, with dnsmasq or the kubelet stand-in inside it, and iptables rules in the
//! namespace whose packet counters say how many queries or SYNs reached it.
//!
//! Each test has its own namespace `kdp1-<k>` and a /30 of 10.213.244.0/24, so the tests
//! run in parallel; everything is removed on Drop, also when the test fails.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubedrill::access::NodePool;
use kubedrill::cluster::{Cluster, ClusterSettings};
use kubedrill::engine::RunContext;
use kubedrill::probes::{ProbeSpec, Sampler};

use crate::common::{free_port, wait_for};

/// A namespace with its veth and the processes started in it.
struct Cage {
    ns: String,
    host_if: String,
    /// The namespace's address.
    inside: String,
    children: Vec<Child>,
}

/// Runs a command, panicking with its stderr when it fails.
fn sh(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes what a `Cage` creates; missing pieces are fine.
fn remove(ns: &str, host_if: &str) {
    let quiet = |argv: &[&str]| {
        let _ = Command::new(argv[0])
            .args(&argv[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    quiet(&["ip", "netns", "del", ns]);
    quiet(&["ip", "link", "del", host_if]);
}

impl Cage {
    /// Namespace `kdp1-<k>` at 10.213.244.<4k+2>, the host end at .<4k+1>.
    fn new(k: u8) -> Self {
        assert!(k < 60);
        let (ns, host_if, peer) = (
            format!("kdp1-{k}"),
            format!("kdp1h{k}"),
            format!("kdp1p{k}"),
        );
        remove(&ns, &host_if); // leftovers of a run that was killed
        let host = format!("10.213.244.{}", 4 * k + 1);
        let inside = format!("10.213.244.{}", 4 * k + 2);
        let cage = Cage {
            ns,
            host_if,
            inside,
            children: Vec::new(),
        };
        let (ns, hi) = (cage.ns.as_str(), cage.host_if.as_str());
        sh(&["ip", "netns", "add", ns]);
        sh(&[
            "ip", "link", "add", hi, "type", "veth", "peer", "name", &peer,
        ]);
        sh(&["ip", "link", "set", &peer, "netns", ns]);
        sh(&["ip", "addr", "add", &format!("{host}/30"), "dev", hi]);
        sh(&["ip", "link", "set", hi, "up"]);
        let inside_cidr = format!("{}/30", cage.inside);
        sh(&["ip", "-n", ns, "addr", "add", &inside_cidr, "dev", &peer]);
        sh(&["ip", "-n", ns, "link", "set", &peer, "up"]);
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        cage
    }

    /// Starts `argv` inside the namespace (`ip netns exec` execs it: the child is the process).
    fn spawn(&mut self, argv: &[&str]) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(argv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        self.children.push(child);
    }

    /// dnsmasq on the namespace's address, port 53 (UDP and TCP): `*.probe.test` → 10.1.2.3.
    fn dnsmasq(&mut self) {
        let listen = format!("--listen-address={}", self.inside);
        self.spawn(&[
            "dnsmasq",
            "--no-daemon",
            "--no-resolv",
            "--no-hosts",
            "--user=root",
            "--pid-file=",
            "--bind-interfaces",
            &listen,
            "--port=53",
            "--address=/probe.test/10.1.2.3",
        ]);
    }

    /// The kubelet stand-in (`GET /healthz` → 200) on the namespace's address:10248.
    fn http_server(&mut self) -> SocketAddr {
        let addr: SocketAddr = format!("{}:10248", self.inside).parse().unwrap();
        let listen = addr.to_string();
        self.spawn(&[
            env!("CARGO_BIN_EXE_kubedrill-kubelet-standin"),
            "--listen",
            &listen,
        ]);
        wait_for(Duration::from_secs(10), "the stand-in to listen", || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        addr
    }

    /// `iptables ARGS` in the namespace.
    fn iptables(&self, args: &[&str]) {
        sh(&[
            &["ip", "netns", "exec", &self.ns, "iptables", "-w", "5"],
            args,
        ]
        .concat());
    }

    /// Packets counted by the INPUT rule whose target is `target` (the only such rule).
    fn counted(&self, target: &str) -> u64 {
        counted(&self.ns, target)
    }
}

fn counted(ns: &str, target: &str) -> u64 {
    let listing = sh(&[
        "ip", "netns", "exec", ns, "iptables", "-w", "5", "-L", "INPUT", "-v", "-x", "-n",
    ]);
    let rules: Vec<&str> = listing
        .lines()
        .filter(|l| l.split_whitespace().nth(2) == Some(target))
        .collect();
    assert_eq!(rules.len(), 1, "one {target} rule in\n{listing}");
    rules[0]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no packet count in {}", rules[0]))
}

impl Drop for Cage {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        remove(&self.ns, &self.host_if);
    }
}

fn ctx() -> Arc<RunContext> {
    Arc::new(RunContext {
        nodes: NodePool::new(Vec::new()),
        cluster: Cluster::new(ClusterSettings::default()),
        run_dir: PathBuf::from("/nonexistent"),
        revert_timeout: Duration::from_secs(5),
    })
}

/// A probe built through the public API, as the engine builds it.
fn sampler(yaml: &str, timeout: Duration) -> Box<dyn Sampler> {
    let value: serde_json::Value = serde_yaml::from_str(yaml).expect("YAML");
    let spec: ProbeSpec = serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"));
    spec.build(&ctx(), timeout).expect("probe builds")
}

/// One sample bounded by `timeout` as the engine bounds it; the result and how long it took.
async fn sample(s: &dyn Sampler, timeout: Duration) -> (Result<(), String>, Duration) {
    let started = Instant::now();
    let result = match tokio::time::timeout(timeout, s.sample()).await {
        Ok(r) => r.map(|_| ()),
        Err(_) => Err(format!("timed out after {timeout:?}")),
    };
    (result, started.elapsed())
}

/// Polls `s` until a sample is healthy (the server came up).
async fn until_healthy(s: &dyn Sampler) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (r, _) = sample(s, Duration::from_millis(500)).await;
        match r {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("never healthy: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// From a thread: at `at` after `start`, reads the DROP rule's counter and deletes the
/// rule (the heal); returns the count.
fn heal_later(
    ns: &str,
    rule: &[&str],
    start: Instant,
    at: Duration,
) -> std::thread::JoinHandle<u64> {
    let ns = ns.to_string();
    let rule: Vec<String> = rule.iter().map(|s| s.to_string()).collect();
    std::thread::spawn(move || {
        std::thread::sleep(at.saturating_sub(start.elapsed()));
        let n = counted(&ns, "DROP");
        let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
        sh(&[
            &["ip", "netns", "exec", &ns, "iptables", "-w", "5", "-D"],
            &rule[..],
        ]
        .concat());
        n
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn dns_udp_query_is_sent_once_when_dropped() {
    let mut cage = Cage::new(0);
    cage.dnsmasq();
    let yaml = format!(
        "dns: {{ server: \"{}\", name: a.probe.test, expect: [\"10.1.2.3\"] }}",
        cage.inside
    );
    let dns = sampler(&yaml, Duration::from_secs(2));
    until_healthy(dns.as_ref()).await;

    cage.iptables(&["-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "DROP"]);
    let (result, took) = sample(dns.as_ref(), Duration::from_secs(3)).await;
    let err = result.expect_err("a dropped query fails the sample");
    assert_eq!(err, "no answer within 2s (one query, not resent)");
    assert!(took >= Duration::from_millis(1900), "{took:?}");
    assert_eq!(cage.counted("DROP"), 1, "the query was sent exactly once");
}

#[tokio::test(flavor = "multi_thread")]
async fn dns_udp_query_rejected_fails_at_once() {
    let mut cage = Cage::new(1);
    cage.dnsmasq();
    let yaml = format!(
        "dns: {{ server: \"{}:53\", name: a.probe.test }}",
        cage.inside
    );
    let dns = sampler(&yaml, Duration::from_secs(2));
    until_healthy(dns.as_ref()).await;

    cage.iptables(&["-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "REJECT"]);
    let (result, took) = sample(dns.as_ref(), Duration::from_secs(2)).await;
    let err = result.expect_err("a rejected query fails the sample");
    assert!(err.contains("refused"), "{err}");
    assert!(took < Duration::from_millis(500), "{took:?}: {err}");
    assert_eq!(cage.counted("REJECT"), 1);

    // A name dnsmasq does not know is a failed sample too, with its code.
    cage.iptables(&["-D", "INPUT", "-p", "udp", "--dport", "53", "-j", "REJECT"]);
    let yaml = format!(
        "dns: {{ server: \"{}\", name: nowhere.invalid }}",
        cage.inside
    );
    let unknown = sampler(&yaml, Duration::from_secs(2));
    let (result, _) = sample(unknown.as_ref(), Duration::from_secs(2)).await;
    assert_eq!(result.unwrap_err(), "answer Refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn dns_over_tcp_sends_one_syn() {
    let mut cage = Cage::new(2);
    cage.dnsmasq();
    let yaml = format!(
        "dns: {{ server: \"{}\", name: a.probe.test, protocol: tcp, expect: [\"10.1.2.3\"] }}",
        cage.inside
    );
    let dns = sampler(&yaml, Duration::from_secs(3));
    until_healthy(dns.as_ref()).await;
    one_syn_then_heal(&cage, dns.as_ref(), "53").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_probe_sends_one_syn() {
    let mut cage = Cage::new(3);
    let addr = cage.http_server();
    let tcp = sampler(
        &format!("tcp: {{ address: \"{addr}\" }}"),
        Duration::from_secs(3),
    );
    until_healthy(tcp.as_ref()).await;
    one_syn_then_heal(&cage, tcp.as_ref(), "10248").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_probe_sends_one_syn() {
    let mut cage = Cage::new(4);
    let addr = cage.http_server();
    let http = sampler(
        &format!("http: {{ url: \"http://{addr}/healthz\", expect-status: 200 }}"),
        Duration::from_secs(3),
    );
    until_healthy(http.as_ref()).await;
    one_syn_then_heal(&cage, http.as_ref(), "10248").await;
}

/// With the SYN to `port` dropped and healed 1.5 s later, a sample with a 3 s timeout
/// fails at the SYN wait (900 ms) instead of succeeding on the kernel's retransmitted SYN
/// after the heal; exactly one SYN reached the namespace; the next sample is healthy.
async fn one_syn_then_heal(cage: &Cage, s: &dyn Sampler, port: &str) {
    let rule = ["INPUT", "-p", "tcp", "--dport", port, "--syn", "-j", "DROP"];
    cage.iptables(&[&["-A"], &rule[..]].concat());
    let start = Instant::now();
    let heal = heal_later(&cage.ns, &rule, start, Duration::from_millis(1500));
    let (result, took) = sample(s, Duration::from_secs(3)).await;
    let syns = heal.join().expect("heal thread");
    let err = result.expect_err("the cut is seen");
    assert!(
        err.contains("no answer to the SYN within 900ms (one attempt, no retransmit)"),
        "{err}"
    );
    assert!(
        took >= Duration::from_millis(850) && took < Duration::from_millis(1400),
        "{took:?}"
    );
    assert_eq!(syns, 1, "one SYN per sample");
    let (after, _) = sample(s, Duration::from_secs(3)).await;
    after.expect("healthy after the heal");
}

/// https keeps working through rustls: a real TLS server (openssl s_server, self-signed
/// certificate) answers with `insecure-skip-tls-verify`, and is refused without it.
#[tokio::test(flavor = "multi_thread")]
async fn https_goes_through_rustls() {
    let dir = crate::common::temp_dir();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    sh(&[
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    let port = free_port();
    let server = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(server);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for(Duration::from_secs(10), "s_server to listen", || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    });

    let url = format!("https://127.0.0.1:{port}/");
    let insecure = sampler(
        &format!("http: {{ url: \"{url}\", insecure-skip-tls-verify: true }}"),
        Duration::from_secs(3),
    );
    let (result, _) = sample(insecure.as_ref(), Duration::from_secs(3)).await;
    result.expect("served over TLS");

    let strict = sampler(
        &format!("http: {{ url: \"{url}\" }}"),
        Duration::from_secs(3),
    );
    let (result, _) = sample(strict.as_ref(), Duration::from_secs(3)).await;
    let err = result.expect_err("a self-signed certificate is not trusted");
    assert!(err.contains("certificate"), "{err}");
}
