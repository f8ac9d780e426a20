//! A TCP connect that sends exactly one SYN, shared by the `tcp`, `http` and `dns`
//! (over TCP) probes.
//!
//! When a SYN goes unanswered the kernel sends it again after the initial retransmission
//! timeout (1 s, `TCP_TIMEOUT_INIT`): a hidden retry, through which a sample started
//! during a short cut succeeds after the heal and the cut never shows. We give up on the
//! connect at [`SYN_WAIT`] (900 ms, or the sample timeout when shorter), before that timer
//! fires; closing a socket in SYN-SENT stops its retransmit timer, so nothing else is sent.
//!
//! Why not `TCP_USER_TIMEOUT` below the initial RTO: measured on Linux 6.18 (a namespace
//! whose INPUT chain drops the SYN, SYNs counted by the rule), a connect with
//! `TCP_USER_TIMEOUT` of 1 ms, 500 ms or 999 ms fails with ETIMEDOUT at about 1.03 s, but
//! only after the kernel has sent the retransmitted SYN (the rule counts 2): the user
//! timeout is checked only once a retransmission happened (`retransmits_timed_out` is
//! false while `icsk_retransmits` is 0), and the retransmitted SYN could still be
//! answered before the connect fails. A connect abandoned at 900 ms sent exactly one SYN.
//! (The margin assumes the default initial RTO; nothing in the kernel lowers it except a
//! BPF `sock_ops` program.)

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

/// Longest wait for the answer to the SYN: below the kernel's initial SYN retransmission
/// timeout (1 s), so the SYN is never sent twice.
pub(crate) const SYN_WAIT: Duration = Duration::from_millis(900);

/// Connects to `addr` with one SYN, waiting at most `min(timeout, SYN_WAIT)` for the answer.
pub(crate) async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    let wait = timeout.min(SYN_WAIT);
    match tokio::time::timeout(wait, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(format!("connect {addr}: {}", io_text(&e))),
        Err(_) => Err(format!(
            "connect {addr}: no answer to the SYN within {} (one attempt, no retransmit)",
            humantime::format_duration(wait)
        )),
    }
}

/// The first address `host` resolves to (an IP literal is taken as it is): a sample tries
/// one address, as trying the next ones would be further attempts.
pub(crate) async fn first_address(host: &str, port: u16) -> Result<SocketAddr, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse() {
        return Ok(SocketAddr::new(ip, port));
    }
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("resolve {host}: no address"))
}

/// Short text for the socket errors a probe meets (`connection refused`), the OS text
/// otherwise.
pub(crate) fn io_text(e: &io::Error) -> String {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::TimedOut
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::AddrNotAvailable
        | K::BrokenPipe
        | K::UnexpectedEof => e.kind().to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_is_reported_in_short() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = connect(addr, Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(err, format!("connect {addr}: connection refused"));
    }

    #[tokio::test]
    async fn connects_to_a_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        connect(addr, Duration::from_secs(1))
            .await
            .expect("connected");
    }

    #[tokio::test]
    async fn ip_literals_need_no_lookup() {
        let a = first_address("[::1]", 80).await.unwrap();
        assert_eq!(a, "[::1]:80".parse().unwrap());
        let b = first_address("10.1.2.3", 53).await.unwrap();
        assert_eq!(b, "10.1.2.3:53".parse().unwrap());
    }
}
