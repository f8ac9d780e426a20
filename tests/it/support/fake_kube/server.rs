//! The HTTP/1.1 side: accepting (or refusing) connections, the fault switches, the log.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

use super::api::{self, Reply};
use super::controllers;
use super::records::RequestRecord;
use super::routes::{ApiRequest, Query};
use super::state::ClusterState;
use super::status::ApiError;

/// How the fake API server is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Every request is answered 503 with a ServiceUnavailable Status.
    ServiceUnavailable,
    /// The listener is closed (connection refused) and open connections are dropped.
    RefuseConnections,
}

/// The fault switches, read at each connection and request.
#[derive(Debug, Clone, Default)]
pub struct Switches {
    pub outage: Option<Outage>,
    /// Read requests but never answer them.
    pub hang: bool,
    /// Delay before every answer.
    pub latency: Duration,
}

impl Switches {
    fn refusing(&self) -> bool {
        self.outage == Some(Outage::RefuseConnections)
    }
}

pub type SharedState = Arc<Mutex<ClusterState>>;

/// How often the simulated controllers run.
const TICK: Duration = Duration::from_millis(25);

/// Runs the simulated controllers until the runtime stops.
pub async fn run_controllers(state: SharedState) {
    let mut interval = tokio::time::interval(TICK);
    loop {
        interval.tick().await;
        controllers::tick(
            &mut state.lock().expect("state lock"),
            std::time::Instant::now(),
        );
    }
}

/// Accepts connections on `listener`'s port, closing and reopening it with the outage switch.
pub async fn serve(
    listener: TcpListener,
    state: SharedState,
    mut switches: watch::Receiver<Switches>,
) {
    let address = listener
        .local_addr()
        .expect("bound listener has an address");
    let mut listener = Some(listener);
    loop {
        if switches.borrow_and_update().refusing() {
            listener = None;
        } else if listener.is_none() {
            listener = Some(rebind(address).await);
        }
        let changed = match &listener {
            None => switches.changed().await,
            Some(open) => tokio::select! {
                accepted = open.accept() => {
                    if let Ok((stream, _)) = accepted {
                        tokio::spawn(serve_connection(stream, state.clone(), switches.clone()));
                    }
                    Ok(())
                }
                changed = switches.changed() => changed,
            },
        };
        if changed.is_err() {
            return;
        }
    }
}

/// Reopens the listener on the same port after a RefuseConnections outage.
async fn rebind(address: SocketAddr) -> TcpListener {
    for _ in 0..500 {
        let socket = TcpSocket::new_v4().expect("create socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        if socket.bind(address).is_ok() {
            if let Ok(listener) = socket.listen(1024) {
                return listener;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("could not listen on {address} again after the outage");
}

async fn serve_connection(
    stream: TcpStream,
    state: SharedState,
    switches: watch::Receiver<Switches>,
) {
    let mut outage = switches.clone();
    let service = service_fn(move |request| respond(request, state.clone(), switches.clone()));
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    // Dropping the connection future closes the socket.
    tokio::select! {
        _ = connection => {}
        _ = outage.wait_for(Switches::refusing) => {}
    }
}

async fn respond(
    request: Request<Incoming>,
    state: SharedState,
    switches: watch::Receiver<Switches>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let header = |name: hyper::header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let raw_query = parts.uri.query().unwrap_or_default().to_string();
    let mut record = RequestRecord {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: raw_query.clone(),
        content_type: header(hyper::header::CONTENT_TYPE),
        accept: header(hyper::header::ACCEPT),
        authorization_present: parts.headers.contains_key(hyper::header::AUTHORIZATION),
        body: String::from_utf8_lossy(&body).into_owned(),
        status: None,
    };
    let switches = switches.borrow().clone();
    if switches.hang {
        state.lock().expect("state lock").requests.push(record);
        return std::future::pending().await;
    }
    if !switches.latency.is_zero() {
        tokio::time::sleep(switches.latency).await;
    }
    let api_request = ApiRequest {
        method: record.method.clone(),
        path: record.path.clone(),
        query: Query::parse(&raw_query),
        content_type: record.content_type.clone().unwrap_or_default(),
        body,
    };
    let mut state = state.lock().expect("state lock");
    let reply = match switches.outage {
        Some(Outage::ServiceUnavailable) => Reply::error(&ApiError::service_unavailable()),
        _ => api::handle(&mut state, &api_request),
    };
    record.status = Some(reply.code);
    state.requests.push(record);
    let response = Response::builder()
        .status(reply.code)
        .header(hyper::header::CONTENT_TYPE, reply.content_type)
        .body(Full::new(Bytes::from(reply.body)))
        .expect("valid response parts");
    Ok(response)
}
