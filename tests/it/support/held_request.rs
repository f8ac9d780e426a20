//! Raw HTTP/1.1 requests to one API server (not the load balancer), as a bearer-token
//! identity: a complete one whose response headers say which FlowSchema classified it, and
//! one that is never finished. The API server admits a request through priority and
//! fairness before it reads the body, so a POST whose body never arrives keeps a seat of
//! its priority level executing until its connection closes (or the server's request
//! timeout, 60 s, ends it): that is how a test makes a level that rejects everything else.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// One API server and the identity to call it as.
#[derive(Clone)]
pub struct ApiServer {
    /// `https://IP:PORT`.
    pub endpoint: String,
    pub token: String,
    tls: Arc<ClientConfig>,
}

impl ApiServer {
    /// `endpoint` trusted through the CA in `ca_pem`.
    pub fn new(endpoint: &str, ca_pem: &[u8], token: &str) -> Self {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(cert.expect("CA PEM")).expect("CA certificate");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            endpoint: endpoint.to_string(),
            token: token.to_string(),
            tls: Arc::new(tls),
        }
    }

    async fn connect(&self) -> TlsStream<TcpStream> {
        let hostport = self.endpoint.trim_start_matches("https://");
        let tcp = TcpStream::connect(hostport)
            .await
            .unwrap_or_else(|e| panic!("connect {hostport}: {e}"));
        let host = hostport.rsplit_once(':').expect("IP:PORT").0;
        let name = ServerName::try_from(host.to_string()).expect("server name");
        TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .unwrap_or_else(|e| panic!("TLS to {hostport}: {e}"))
    }

    /// The head of a JSON POST to `path` announcing `length` bytes of body.
    fn head(&self, path: &str, length: usize) -> String {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
            host = self.endpoint.trim_start_matches("https://"),
            token = self.token,
        )
    }

    /// POSTs `body` to `path`; returns the status code and the response head (lower-case
    /// header names).
    pub async fn post(&self, path: &str, body: &str) -> (u16, String) {
        let mut tls = self.connect().await;
        let request = self.head(path, body.len()) + body;
        tls.write_all(request.as_bytes()).await.expect("request");
        let mut answer = Vec::new();
        // `Connection: close`: the server ends the stream after the response.
        let _ = tls.read_to_end(&mut answer).await;
        let text = String::from_utf8_lossy(&answer);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line from {}: {text}", self.endpoint));
        (code, head.to_ascii_lowercase())
    }

    /// Sends the head of a POST to `path` and one byte of its body, then nothing: the
    /// request stays executing at the server while the returned value lives.
    pub async fn hold(&self, path: &str) -> HeldRequest {
        let mut tls = self.connect().await;
        let request = self.head(path, 1000) + "{";
        tls.write_all(request.as_bytes())
            .await
            .expect("request head");
        tls.flush().await.expect("flush");
        HeldRequest { _stream: tls }
    }
}

/// A request the server is still waiting to read; dropping it closes the connection,
/// which ends the request (and frees its seat).
pub struct HeldRequest {
    _stream: TlsStream<TcpStream>,
}

/// The value of header `name` (lower case) in a response head from `ApiServer::post`.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim())
    })
}
