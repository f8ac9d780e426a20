//! The `api` probe's connection and timeouts against the lab's real apiservers, through a
//! TCP relay on loopback in front of the lab's load balancer. The relay counts the
//! connections the probe opens and can hold every byte the server sends for a set time,
//! which makes a real apiserver answer slowly on demand.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubedrill::probes::{ProbeSpec, Sampler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::kube_fixture::{Target, LAB_CONTEXT};
use crate::support::kube_lab::shared;

/// A relay from 127.0.0.1:`port` to `upstream`.
struct Relay {
    port: u16,
    accepted: Arc<AtomicUsize>,
    /// Milliseconds every server-to-client byte is held.
    delay_ms: Arc<AtomicU64>,
}

impl Relay {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (count, delay) = (accepted.clone(), delay_ms.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let upstream = upstream.clone();
                let delay = delay.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    relay(client, server, delay).await;
                });
            }
        });
        Self {
            port,
            accepted,
            delay_ms,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn delay(&self, d: Duration) {
        self.delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }
}

/// Client bytes go straight on; each chunk from the server is written `delay` after it
/// arrived (chunks keep their order and their spacing).
async fn relay(client: TcpStream, server: TcpStream, delay: Arc<AtomicU64>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = server_read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let due = Instant::now() + Duration::from_millis(delay.load(Ordering::SeqCst));
            if tx.send((due, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    while let Some((due, bytes)) = rx.recv().await {
        tokio::time::sleep_until(due.into()).await;
        if client_write.write_all(&bytes).await.is_err() {
            break;
        }
    }
    let _ = client_write.shutdown().await;
    reader.abort();
    up.abort();
}

/// The lab's admin kubeconfig with its server replaced by the relay (the apiserver
/// certificates carry 127.0.0.1 among their names).
fn through(relay: &Relay, dir: &std::path::Path) -> Target {
    let lab = shared();
    let text = std::fs::read_to_string(lab.kubeconfig()).unwrap();
    let server = format!("https://{}:6443", lab.var("lb_addr"));
    assert!(text.contains(&server), "the kubeconfig names {server}");
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        text.replace(&server, &format!("https://127.0.0.1:{}", relay.port)),
    )
    .unwrap();
    Target {
        kubeconfig: path,
        context: LAB_CONTEXT.into(),
        dir: tempfile::TempDir::new().unwrap(),
    }
}

fn sampler(t: &Target, api: &str, timeout: Duration) -> Box<dyn Sampler> {
    let yaml = format!("api: {api}");
    let value: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
    let spec: ProbeSpec = serde_json::from_value(value).unwrap();
    spec.build(&t.ctx(), timeout).expect("probe builds")
}

async fn relay_to_lab() -> Relay {
    let lab = tokio::task::spawn_blocking(shared).await.unwrap();
    Relay::start(format!("{}:6443", lab.var("lb_addr"))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn api_probe_opens_a_connection_per_sample_unless_told_to_reuse() {
    let relay = relay_to_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let t = through(&relay, dir.path());

    let fresh = sampler(&t, "{ list-latency: true }", Duration::from_secs(5));
    for i in 0..4 {
        let detail = fresh.sample().await.expect("healthy").expect("detail");
        assert!(detail["list_ms"].is_u64(), "{detail}");
        // Each sample's two requests (readyz, list) each get a new connection.
        assert_eq!(relay.accepted(), 2 * (i + 1), "sample {i}");
    }

    let before = relay.accepted();
    let reuse = sampler(
        &t,
        "{ list-latency: true, connection: reuse }",
        Duration::from_secs(5),
    );
    reuse.sample().await.expect("healthy");
    // The list may leave before the readyz connection is back in the pool: at most two.
    let kept = relay.accepted() - before;
    assert!((1..=2).contains(&kept), "{kept} connections");
    for _ in 0..4 {
        reuse.sample().await.expect("healthy");
    }
    // Later samples ride the kept-alive connections: the pool may grow to two when a
    // sample's requests overlap (as the first one's may), never one per sample (fresh
    // opened 8 for four samples).
    let total = relay.accepted() - before;
    assert!(
        (kept..=2).contains(&total),
        "{total} connections for five samples: later samples ride the kept-alive ones"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_probe_slow_answer_within_the_timeout_is_healthy_even_on_an_idle_connection() {
    let relay = relay_to_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let t = through(&relay, dir.path());
    let timeout = Duration::from_secs(2);
    let probe = sampler(&t, "{ connection: reuse }", timeout);
    probe.sample().await.expect("healthy while fast");

    // The kept connection sits idle (as between two samples 1.5s apart), then the server
    // answers in 1.3s: within the 2s timeout. Idle time must not count against the read
    // timeout (kube 5 counts it unless `reset_reader_on_write`).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    relay.delay(Duration::from_millis(1300));
    let started = Instant::now();
    let detail = probe
        .sample()
        .await
        .unwrap_or_else(|e| panic!("a 1.3s answer within 2s is healthy, got: {e}"))
        .expect("detail");
    assert!(
        detail["latency_ms"].as_u64().unwrap() >= 1300,
        "the answer was held 1.3s: {detail}"
    );
    assert!(started.elapsed() < timeout);
    assert_eq!(
        relay.accepted(),
        1,
        "the same connection served both samples"
    );

    // An answer held past the timeout is reported as a timeout, at the timeout.
    relay.delay(Duration::from_millis(3000));
    let started = Instant::now();
    let err = probe
        .sample()
        .await
        .expect_err("a 3s answer fails a 2s probe");
    let took = started.elapsed();
    assert_eq!(err, "timed out after 2s");
    assert!(
        took >= timeout && took < timeout + Duration::from_millis(500),
        "failed after {took:?}"
    );
}

#[test]
fn failed_api_requests_are_recorded_by_the_probe_not_logged_by_the_client() {
    let lab = shared();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("refused.yaml");
    // Nothing listens on port 1 of loopback: every request of the probe is refused.
    std::fs::write(
        &scenario,
        format!(
            "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: refused }}\ntarget: {{ context: {LAB_CONTEXT}, kubeconfig: {} }}\nprobes:\n  - name: dead\n    interval: 200ms\n    timeout: 1s\n    api: {{ endpoints: [\"https://127.0.0.1:1\"] }}\nsteps:\n  - wait: 1s\n",
            lab.kubeconfig().display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubedrill"))
        .arg("run")
        .arg("--report-dir")
        .arg(dir.path().join("reports"))
        .arg(&scenario)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("report.json"))
        .find(|p| p.is_file())
        .expect("report.json");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let failed = report["probes"][0]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["error"].is_string())
        .count();
    assert!(failed >= 3, "the probe recorded the refusals: {report}");
    assert!(
        !stderr.contains("failed with error"),
        "the client's own error lines are not logged: {stderr}"
    );
}
