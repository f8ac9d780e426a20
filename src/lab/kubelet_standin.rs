//! The lab's kubelet stand-in: a tiny HTTP server answering `GET /healthz` with `ok`, so
//! "stop the kubelet" drills have something to stop and probe. Run it through the
//! `kubedrill-kubelet-standin --listen ADDR:PORT` binary (or any CLI wrapper of `serve`).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves `/healthz` on `listen` until the process is killed.
pub async fn serve(listen: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(answer(stream));
    }
}

async fn answer(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    });
    if read.await.is_err() {
        return;
    }
    let (status, body) = response(&String::from_utf8_lossy(&head));
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Status line and body for a request head: `ok` for `GET /healthz`, 404 otherwise.
pub fn response(request_head: &str) -> (&'static str, &'static str) {
    let mut first = request_head.lines().next().unwrap_or("").split_whitespace();
    match (first.next(), first.next()) {
        (Some("GET" | "HEAD"), Some(path)) if path.split('?').next() == Some("/healthz") => {
            ("200 OK", "ok")
        }
        _ => ("404 Not Found", "not found"),
    }
}

/// The Kubernetes lab's pod runner (`kubedrill-kubelet-standin --pods LAB_DIR`): real
/// processes for the pods that ask for one; runs until killed.
pub async fn run_pods(lab_dir: &std::path::Path) -> Result<(), String> {
    super::kubernetes::pod_runner::run_lab(lab_dir).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_healthz_only() {
        assert_eq!(response("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").1, "ok");
        assert_eq!(response("GET /healthz?verbose HTTP/1.1\r\n\r\n").1, "ok");
        assert_eq!(response("GET / HTTP/1.1\r\n\r\n").0, "404 Not Found");
        assert_eq!(response("").0, "404 Not Found");
    }
}
