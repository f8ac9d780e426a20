//! What is left of the fake Kubernetes API server: what a real one cannot be made to do on
//! demand. It answers `GET /readyz` with `ok` (404 to anything else) over plain HTTP on
//! 127.0.0.1 until `set_hang(true)`; from then on it accepts connections and reads requests
//! but never answers, on new and kept-alive connections alike. Everything else the
//! Kubernetes tests need runs against the real lab (`kube_lab.rs`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct FakeKube {
    addr: std::net::SocketAddr,
    hang: Arc<AtomicBool>,
}

impl FakeKube {
    /// Starts the server on the current tokio runtime.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let hang = Arc::new(AtomicBool::new(false));
        let h = hang.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, h.clone()));
            }
        });
        Self { addr, hang }
    }

    pub fn set_hang(&self, hang: bool) {
        self.hang.store(hang, Ordering::SeqCst);
    }

    /// A kubeconfig for this server (context `fake`, no credentials) in `dir`.
    pub fn write_kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{ name: fake, cluster: {{ server: \"http://{}\" }} }}]\nusers: [{{ name: fake, user: {{}} }}]\ncontexts: [{{ name: fake, context: {{ cluster: fake, user: fake }} }}]\ncurrent-context: fake\n",
            self.addr
        );
        std::fs::write(&path, text).expect("kubeconfig written");
        path
    }
}

/// One connection: a request at a time (headers only; the probe sends no bodies).
async fn serve(mut conn: TcpStream, hang: Arc<AtomicBool>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        if hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let ready = head.starts_with("GET /readyz");
        let (status, body) = if ready {
            ("200 OK", "ok")
        } else {
            ("404 Not Found", "not found")
        };
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if conn.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
