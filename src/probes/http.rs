//! `http`: a request whose answer must carry the expected status.
//!
//! One sample is one request, written here on hyper's HTTP/1.1 connection API rather than
//! through reqwest, whose client hides retries a sample must not have:
//! - the connect: the first address of the host and one SYN (see [`super::one_syn`]);
//!   reqwest's only cap on the connect (`connect_timeout`) also covers the TLS handshake
//!   and is split between the host's addresses, which it tries one after the other;
//! - redirects are not followed unless `follow-redirects: true` (then up to 10, each hop
//!   one request);
//! - `connection: fresh` (the default) makes a new connection (TCP, TLS) per sample;
//!   `reuse` keeps one kept-alive connection between samples, makes a new one only when
//!   that one closed, and never resends a request that failed on it.
//!
//! TLS is rustls with the webpki roots (what reqwest used), HTTP/1.1 only. The sample's
//! latency is the time to the response head: the body is not waited for (with `reuse`
//! it is read in the background before the connection is kept).

use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures::future::BoxFuture;
use http::header::{AUTHORIZATION, CONNECTION, HOST, LOCATION, USER_AGENT};
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::{self, ClientConfig};
use tokio_rustls::TlsConnector;

use super::{one_syn, short_error, ProbeKind, SampleResult, Sampler};
use crate::engine::RunContext;
use crate::scenario::{Errors, KeyPath};

/// Hops followed with `follow-redirects: true`.
const MAX_REDIRECTS: usize = 10;

/// How samples reach the server.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum HttpConnection {
    /// A new connection (one SYN, TLS handshake) for every sample.
    #[default]
    Fresh,
    /// One kept-alive connection across samples; a new one only when it closed.
    Reuse,
}

/// `http: { url, method, expect-status, insecure-skip-tls-verify, follow-redirects, connection }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HttpProbe {
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    /// Status that counts as healthy; any 2xx when absent.
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// Accept any TLS certificate. Off by default; only for labs with self-signed certs.
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
    /// Follow up to 10 redirects; off by default, so a 3xx is the sample's status.
    #[serde(default)]
    pub follow_redirects: bool,
    /// `fresh` (default): a new connection per sample; `reuse`: one kept-alive connection.
    #[serde(default)]
    pub connection: HttpConnection,
}

fn default_method() -> String {
    "GET".into()
}

impl ProbeKind for HttpProbe {
    const KIND: &'static str = "http";
    const SUMMARY: &'static str =
        "HTTP request, one per sample on a fresh connection (one SYN, no redirects followed unless asked); healthy when the status matches (any 2xx by default)";
    const EXAMPLE: &'static str = "name: web\ninterval: 250ms\ntimeout: 1s\nhttp: { url: \"http://127.0.0.1:8080/healthz\", expect-status: 200, follow-redirects: false, connection: fresh }";

    fn validate(&self, at: &KeyPath, errs: &mut Errors) {
        match reqwest::Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(u) => errs.add(
                at.key("url"),
                format!("scheme `{}` is not http or https", u.scheme()),
            ),
            Err(e) => errs.add(at.key("url"), format!("`{}` is not a URL: {e}", self.url)),
        }
        if reqwest::Method::from_bytes(self.method.as_bytes()).is_err() {
            errs.add(
                at.key("method"),
                format!("`{}` is not an HTTP method", self.method),
            );
        }
        if let Some(s) = self.expect_status {
            if !(100..=599).contains(&s) {
                errs.add(
                    at.key("expect-status"),
                    format!("{s} is not an HTTP status (100-599)"),
                );
            }
        }
    }

    fn target(&self) -> String {
        format!("{} {}", self.method, redact_url(&self.url))
    }

    fn build(&self, _ctx: &Arc<RunContext>, timeout: Duration) -> Result<Box<dyn Sampler>, String> {
        Ok(Box::new(self.sampler(timeout)?))
    }
}

impl HttpProbe {
    fn sampler(&self, timeout: Duration) -> Result<HttpSampler, String> {
        let url = Url::parse(&self.url).map_err(|e| format!("`{}` is not a URL: {e}", self.url))?;
        let method = Method::from_bytes(self.method.as_bytes()).map_err(|e| e.to_string())?;
        Ok(HttpSampler {
            url,
            method,
            expect: self.expect_status,
            follow_redirects: self.follow_redirects,
            reuse: self.connection == HttpConnection::Reuse,
            kept: Arc::new(Mutex::new(None)),
            tls: tls_config(self.insecure_skip_tls_verify)?,
            timeout,
        })
    }
}

/// Drops user:password from a URL before it goes into a report.
pub(crate) fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// What a connection carries: plain TCP or TLS over it.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Sender = SendRequest<String>;

struct HttpSampler {
    url: Url,
    method: Method,
    expect: Option<u16>,
    follow_redirects: bool,
    reuse: bool,
    /// With `reuse`: the idle kept-alive connection, if any.
    kept: Arc<Mutex<Option<Sender>>>,
    tls: Arc<ClientConfig>,
    timeout: Duration,
}

impl Sampler for HttpSampler {
    fn sample(&self) -> BoxFuture<'_, SampleResult> {
        Box::pin(async move {
            let mut url = self.url.clone();
            let mut method = self.method.clone();
            let mut redirects = 0;
            loop {
                let (status, location) = self.exchange(&method, &url).await.map_err(short_error)?;
                if self.follow_redirects && matches!(status, 301 | 302 | 303 | 307 | 308) {
                    if redirects == MAX_REDIRECTS {
                        return Err(format!("more than {MAX_REDIRECTS} redirects"));
                    }
                    let location =
                        location.ok_or_else(|| format!("status {status} without a Location"))?;
                    url = next_hop(&url, &location)?;
                    if (status == 303 && method != Method::HEAD)
                        || (matches!(status, 301 | 302) && method == Method::POST)
                    {
                        method = Method::GET;
                    }
                    redirects += 1;
                    continue;
                }
                let ok = match self.expect {
                    Some(want) => status == want,
                    None => (200..300).contains(&status),
                };
                return if !ok {
                    Err(format!("status {status}"))
                } else if redirects > 0 {
                    Ok(Some(
                        serde_json::json!({ "status": status, "redirects": redirects }),
                    ))
                } else {
                    Ok(Some(serde_json::json!({ "status": status })))
                };
            }
        })
    }
}

impl HttpSampler {
    /// One request to `url`: the status and the `Location` header.
    async fn exchange(&self, method: &Method, url: &Url) -> Result<(u16, Option<String>), String> {
        if self.reuse && same_origin(url, &self.url) {
            return self.exchange_kept(method, url).await;
        }
        let (mut sender, conn) = handshake(self.connect(url).await?).await?;
        let request = self.request(method, url, true)?;
        let mut conn = pin!(conn);
        let mut response = pin!(sender.send_request(request));
        // The connection is driven only while this sample waits for the response head;
        // dropping it then closes the socket.
        let response = tokio::select! {
            biased;
            r = &mut response => r,
            _ = &mut conn => response.await,
        }
        .map_err(|e| format!("http: {}", error_chain(&e)))?;
        Ok(status_and_location(&response))
    }

    /// The request on the kept connection, or on a new one kept afterwards.
    async fn exchange_kept(
        &self,
        method: &Method,
        url: &Url,
    ) -> Result<(u16, Option<String>), String> {
        let mut idle = self.kept.lock().unwrap_or_else(|e| e.into_inner()).take();
        // `ready` fails when the server closed the idle connection: nothing was sent on
        // it, so a new connection is this sample's one attempt.
        if let Some(s) = idle.as_mut() {
            if s.ready().await.is_err() {
                idle = None;
            }
        }
        let mut sender = match idle {
            Some(s) => s,
            None => {
                let (s, conn) = handshake(self.connect(url).await?).await?;
                tokio::spawn(conn);
                s
            }
        };
        let request = self.request(method, url, false)?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("http: {}", error_chain(&e)))?;
        let result = status_and_location(&response);
        // The connection can carry the next request once this body is read; read it in
        // the background (bounded) so the sample ends with the response head.
        let kept = self.kept.clone();
        let limit = self.timeout;
        tokio::spawn(async move {
            let read = tokio::time::timeout(limit, drain(response.into_body())).await;
            if matches!(read, Ok(true)) {
                let mut slot = kept.lock().unwrap_or_else(|e| e.into_inner());
                if slot.is_none() {
                    *slot = Some(sender);
                }
            }
        });
        Ok(result)
    }

    /// A new connection to `url`'s host: one SYN, then the TLS handshake for https.
    async fn connect(&self, url: &Url) -> Result<Box<dyn Io>, String> {
        let host = url.host_str().ok_or("the URL has no host")?;
        let port = url.port_or_known_default().ok_or("the URL has no port")?;
        let addr = one_syn::first_address(host, port).await?;
        let tcp = one_syn::connect(addr, self.timeout).await?;
        let _ = tcp.set_nodelay(true);
        if url.scheme() != "https" {
            return Ok(Box::new(tcp));
        }
        let name = rustls::pki_types::ServerName::try_from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        )
        .map_err(|e| format!("tls: `{host}`: {e}"))?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("tls {addr}: {e}"))?;
        Ok(Box::new(tls))
    }

    fn request(
        &self,
        method: &Method,
        url: &Url,
        close: bool,
    ) -> Result<http::Request<String>, String> {
        let mut target = url.path().to_string();
        if let Some(q) = url.query() {
            target.push('?');
            target.push_str(q);
        }
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let mut req = http::Request::builder()
            .method(method.clone())
            .uri(target)
            .header(HOST, host)
            .header(USER_AGENT, concat!("kubedrill/", env!("CARGO_PKG_VERSION")));
        if close {
            req = req.header(CONNECTION, "close");
        }
        // The probe URL's credentials go to its own origin only, as reqwest did.
        let credentials = if !url.username().is_empty() || url.password().is_some() {
            Some(url)
        } else if same_origin(url, &self.url) {
            Some(&self.url)
        } else {
            None
        };
        if let Some(header) = credentials.and_then(basic_auth) {
            req = req.header(AUTHORIZATION, header);
        }
        req.body(String::new()).map_err(|e| format!("request: {e}"))
    }
}

async fn handshake(
    io: Box<dyn Io>,
) -> Result<(Sender, http1::Connection<TokioIo<Box<dyn Io>>, String>), String> {
    http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("http: {}", error_chain(&e)))
}

fn status_and_location(response: &http::Response<Incoming>) -> (u16, Option<String>) {
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (response.status().as_u16(), location)
}

/// Reads a body to its end (at most 1 MiB); true when it ended cleanly.
async fn drain(mut body: Incoming) -> bool {
    let mut left: usize = 1 << 20;
    loop {
        match std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
            None => return true,
            Some(Ok(frame)) => {
                let n = frame.data_ref().map_or(0, |d| d.len());
                match left.checked_sub(n) {
                    Some(l) => left = l,
                    None => return false,
                }
            }
            Some(Err(_)) => return false,
        }
    }
}

/// Where a redirect leads: `location` resolved against `url`, http or https only.
fn next_hop(url: &Url, location: &str) -> Result<Url, String> {
    let next = url
        .join(location)
        .map_err(|e| format!("redirect to `{location}`: {e}"))?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(format!(
            "redirect to `{}`: not http or https",
            redact_url(next.as_str())
        ));
    }
    Ok(next)
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `Basic ...` from the URL's user and password (percent-decoded), if it has them.
fn basic_auth(url: &Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let pair = format!(
        "{}:{}",
        percent_decode(url.username()),
        percent_decode(url.password().unwrap_or(""))
    );
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    ))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let pair = bytes
            .get(i + 1)
            .copied()
            .and_then(hex)
            .zip(bytes.get(i + 2).copied().and_then(hex));
        match (bytes[i], pair) {
            (b'%', Some((hi, lo))) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// rustls with the webpki roots, HTTP/1.1 by ALPN; any certificate when `insecure`.
fn tls_config(insecure: bool) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth()
    } else {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `insecure-skip-tls-verify`: any certificate is accepted; handshake signatures are
/// still checked (they prove the server holds the certificate's key).
#[derive(Debug)]
struct AnyCertificate(rustls::crypto::WebPkiSupportedAlgorithms);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The innermost cause is usually the useful part (`connection refused`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A local server: the response for each request comes from its path; it counts the
    /// connections it accepted and keeps every request head (lowercased).
    struct Server {
        port: u16,
        connections: Arc<AtomicUsize>,
        heads: Arc<Mutex<Vec<String>>>,
    }

    fn response_for(path: &str) -> String {
        let (status, extra) = match path {
            "/ok" => ("200 OK", ""),
            "/ok-then-close" => ("200 OK", "connection: close\r\n"),
            "/moved" => ("302 Found", "location: /ok\r\n"),
            "/loop" => ("302 Found", "location: /loop\r\n"),
            _ => ("404 Not Found", ""),
        };
        format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n{extra}\r\nhi")
    }

    async fn serve() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (connections.clone(), heads.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut c, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            let mut chunk = [0u8; 1024];
                            match c.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        buf.drain(..end + 4);
                        let path = head.split(' ').nth(1).unwrap_or("").to_string();
                        seen.lock().unwrap().push(head.clone());
                        let reply = response_for(&path);
                        if c.write_all(reply.as_bytes()).await.is_err()
                            || head.contains("connection: close")
                            || reply.contains("connection: close")
                        {
                            return;
                        }
                    }
                });
            }
        });
        Server {
            port,
            connections,
            heads,
        }
    }

    fn probe(yaml: &str) -> HttpProbe {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    fn sampler(yaml: &str) -> HttpSampler {
        probe(yaml).sampler(Duration::from_secs(2)).expect("builds")
    }

    #[test]
    fn new_fields_default_to_one_fresh_request_without_redirects() {
        let p = probe("url: http://127.0.0.1/");
        assert!(!p.follow_redirects);
        assert_eq!(p.connection, HttpConnection::Fresh);
        let p = probe("{ url: \"http://127.0.0.1/\", follow-redirects: true, connection: reuse }");
        assert!(p.follow_redirects);
        assert_eq!(p.connection, HttpConnection::Reuse);
        let e = serde_yaml::from_str::<HttpProbe>("{ url: \"http://x/\", connection: pooled }")
            .unwrap_err();
        assert!(e.to_string().contains("fresh"), "{e}");
    }

    #[tokio::test]
    async fn fresh_makes_a_new_connection_per_sample() {
        let srv = serve().await;
        let s = sampler(&format!("url: http://127.0.0.1:{}/ok", srv.port));
        for _ in 0..2 {
            let detail = s.sample().await.expect("healthy").expect("detail");
            assert_eq!(detail, serde_json::json!({ "status": 200 }));
        }
        assert_eq!(srv.connections.load(Ordering::SeqCst), 2);
        let heads = srv.heads.lock().unwrap().clone();
        assert!(heads[0].starts_with("get /ok http/1.1"), "{heads:?}");
        assert!(
            heads[0].contains(&format!("host: 127.0.0.1:{}", srv.port)),
            "{heads:?}"
        );
        assert!(
            heads.iter().all(|h| h.contains("connection: close")),
            "{heads:?}"
        );
    }

    #[tokio::test]
    async fn reuse_keeps_one_connection_and_replaces_a_closed_one() {
        let srv = serve().await;
        let base = format!("http://127.0.0.1:{}", srv.port);
        let s = sampler(&format!("{{ url: \"{base}/ok\", connection: reuse }}"));
        for _ in 0..3 {
            s.sample().await.expect("healthy");
            // The body is read in the background before the connection is kept.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(srv.connections.load(Ordering::SeqCst), 1);
        let heads = srv.heads.lock().unwrap().clone();
        assert!(
            heads.iter().all(|h| !h.contains("connection: close")),
            "{heads:?}"
        );

        let s = sampler(&format!(
            "{{ url: \"{base}/ok-then-close\", connection: reuse }}"
        ));
        for _ in 0..2 {
            s.sample().await.expect("healthy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(srv.connections.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn redirects_are_the_status_unless_followed() {
        let srv = serve().await;
        let url = format!("http://127.0.0.1:{}/moved", srv.port);
        let err = sampler(&format!("url: {url}")).sample().await.unwrap_err();
        assert_eq!(err, "status 302");
        let as_expected = sampler(&format!("{{ url: \"{url}\", expect-status: 302 }}"));
        as_expected.sample().await.expect("302 expected");
        assert_eq!(srv.heads.lock().unwrap().len(), 2, "no hop was followed");

        let follow = sampler(&format!("{{ url: \"{url}\", follow-redirects: true }}"));
        let detail = follow.sample().await.expect("followed").expect("detail");
        assert_eq!(detail, serde_json::json!({ "status": 200, "redirects": 1 }));
    }

    #[tokio::test]
    async fn a_redirect_loop_stops_after_ten_hops() {
        let srv = serve().await;
        let url = format!("http://127.0.0.1:{}/loop", srv.port);
        let s = sampler(&format!("{{ url: \"{url}\", follow-redirects: true }}"));
        assert_eq!(s.sample().await.unwrap_err(), "more than 10 redirects");
        assert_eq!(srv.heads.lock().unwrap().len(), 11);
    }

    #[tokio::test]
    async fn credentials_in_the_url_become_basic_auth() {
        let srv = serve().await;
        let s = sampler(&format!(
            "url: \"http://user:p%40ss@127.0.0.1:{}/ok\"",
            srv.port
        ));
        s.sample().await.expect("healthy");
        let heads = srv.heads.lock().unwrap().clone();
        // base64("user:p@ss"), lowercased by the server above.
        assert!(
            heads[0].contains("authorization: basic dxnlcjpwqhnz"),
            "{heads:?}"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_refused() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = sampler(&format!("url: http://127.0.0.1:{port}/"))
            .sample()
            .await
            .unwrap_err();
        assert_eq!(err, format!("connect 127.0.0.1:{port}: connection refused"));
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("a%40b%2"), "a@b%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn the_example_names_the_new_fields() {
        assert!(HttpProbe::EXAMPLE.contains("connection: fresh"));
        assert!(HttpProbe::EXAMPLE.contains("follow-redirects"));
    }
}
