//! `--serve ADDR`: the web live view for a game-day room. A small HTTP/1 server (hyper, on
//! a tokio task) bound before anything runs, so a bad or busy address is exit 2 with
//! nothing injected. While a run goes, `/` is the live page, folded from the engine's event
//! stream like the terminal's live view (`report/live.rs`, `report/live_html.rs`), and
//! `/live.json` its fresh state, which the page polls. Between the runs of one command the
//! page says which run ended and waits for the next. Once every run is over, `/` is the
//! final `report.html` (a suite's: its `index.html`), and the report files beside it are
//! served too (`.html`, `.json`, `.xml`, `.md` only: never the journal or the samples).
//! The server lives as long as the command: after the last run it keeps serving the final
//! page for `--serve-linger` (Ctrl-C/SIGTERM end that wait at once), then stops.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::engine::{EngineEvent, EventSink};
use crate::exit_code::ExitCode;
use crate::report::live::LiveRun;
use crate::report::{live_html, RunReport};
use crate::scenario::{ReportFormat, Scenario};

/// A request must send its head within this long ...
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// ... and a connection (a browser keeps one open while it polls) lasts at most this long.
const CONNECTION_LIMIT: Duration = Duration::from_secs(300);
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:";

/// The running server; cheap to clone.
#[derive(Clone)]
pub struct LiveServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LiveServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LiveServer({})", self.shared.addr)
    }
}

struct Shared {
    addr: SocketAddr,
    page: Mutex<Page>,
    /// The last run's final page, shown once the command has run everything.
    last: Mutex<Option<(String, Option<PathBuf>)>>,
}

enum Page {
    /// Nothing to show yet, or between the runs of one command.
    Waiting(String),
    /// A run under way; `clock` maps the engine's offsets to this process's clock (the
    /// instant the first offset was seen, and that offset).
    Live {
        run: Box<LiveRun>,
        clock: Option<(Instant, f64)>,
    },
    /// Every run is over: the report (or the suite's index), and the directory its files
    /// are served from.
    Final { html: String, root: Option<PathBuf> },
}

impl Shared {
    fn page(&self) -> MutexGuard<'_, Page> {
        self.page.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn last(&self) -> MutexGuard<'_, Option<(String, Option<PathBuf>)>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A run ended: keep its final page for [`LiveServer::conclude`], say so meanwhile.
    fn run_ended(&self, html: String, root: Option<PathBuf>, message: String) {
        *self.last() = Some((html, root));
        *self.page() = Page::Waiting(message);
    }
}

/// Binds `addr` and starts serving; prints the URL. An error is printed: exit 2.
pub async fn start(addr: SocketAddr) -> Result<LiveServer, i32> {
    match LiveServer::bind(addr).await {
        Ok(s) => {
            eprintln!("live view: http://{}/", s.addr());
            Ok(s)
        }
        Err(e) => {
            eprintln!("error: --serve {addr}: {e}");
            eprintln!("nothing was run");
            Err(ExitCode::Invalid.code())
        }
    }
}

impl LiveServer {
    /// Binds `addr` (port 0: any free port) and serves on a tokio task.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let shared = Arc::new(Shared {
            addr: listener.local_addr()?,
            page: Mutex::new(Page::Waiting("waiting for the run to start".into())),
            last: Mutex::new(None),
        });
        tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Self { shared })
    }

    /// The address served (the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Shows the run of `s` live from `events` until the engine says it finished (or the
    /// sink is gone). Call before the engine starts, so no event is missed.
    pub fn follow(&self, s: &Scenario, events: &EventSink) -> JoinHandle<()> {
        let mut rx = events.subscribe();
        *self.shared.page() = Page::Live {
            run: Box::new(LiveRun::new(s)),
            clock: None,
        };
        let shared = self.shared.clone();
        tokio::spawn(async move {
            loop {
                let event = rx.recv().await;
                let mut page = shared.page();
                let Page::Live { run, clock } = &mut *page else {
                    return;
                };
                match event {
                    Ok(e) => {
                        let offset = match &e {
                            EngineEvent::Timeline(t) => Some(t.offset_ms),
                            EngineEvent::Observed { sample, .. } => Some(sample.end_ms),
                            _ => None,
                        };
                        if let (None, Some(ms)) = (&clock, offset) {
                            *clock = Some((Instant::now(), ms));
                        }
                        run.apply(&e);
                        if matches!(e, EngineEvent::Finished) {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(n)) => run.missed_events += n,
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }

    /// A run is over; its report becomes the final page once the command is done.
    pub fn finished(&self, report: &RunReport, run_dir: &Path) {
        self.shared.run_ended(
            crate::report::render(report, ReportFormat::Html),
            Some(run_dir.to_path_buf()),
            format!(
                "{}: {} (exit {}), reports in {}",
                report.scenario.name,
                format!("{:?}", report.verdict).to_uppercase(),
                report.exit_code,
                run_dir.display()
            ),
        );
    }

    /// A run could not start (nothing was injected).
    pub fn not_started(&self, name: &str, error: &str) {
        let message = format!("{name}: the run could not start, nothing was injected: {error}");
        self.shared
            .run_ended(live_html::message_page(&message), None, message);
    }

    /// Every run is over: `/` is the last run's report from now on, its run directory's
    /// reports beside it; for a suite, the suite's index.html (in the directory holding
    /// the runs' directories) with every run's reports.
    pub fn conclude(&self, suite: bool) {
        let Some((mut html, mut root)) = self.shared.last().take() else {
            *self.shared.page() = Page::Final {
                html: live_html::message_page("nothing was run"),
                root: None,
            };
            return;
        };
        let suite_dir = root
            .as_deref()
            .and_then(Path::parent)
            .filter(|_| suite)
            .map(Path::to_path_buf);
        if let Some(dir) = suite_dir {
            if let Ok(index) = std::fs::read_to_string(dir.join("index.html")) {
                (html, root) = (index, Some(dir));
            }
        }
        *self.shared.page() = Page::Final { html, root };
    }

    /// Keeps serving the final page for `linger` (a signal ends the wait), then returns.
    pub async fn linger(&self, linger: Duration) {
        use tokio::signal::unix::{signal, SignalKind};
        eprintln!(
            "live view: the final report stays at http://{}/ for {} (Ctrl-C to stop now)",
            self.addr(),
            humantime::format_duration(linger)
        );
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep(linger) => {}
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors and the like: try again shortly.
                tracing::debug!("live view: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(respond(&shared, req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIMIT, conn).await;
        });
    }
}

async fn respond(shared: &Shared, req: Request<hyper::body::Incoming>) -> Response<String> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n");
    }
    let path = req.uri().path();
    let root = {
        let page = shared.page();
        match path {
            "/" | "/index.html" => return reply(StatusCode::OK, HTML, &page_html(&page)),
            "/live.json" => return reply(StatusCode::OK, JSON, &live_json(&page)),
            _ => match &*page {
                Page::Final { root, .. } => root.clone(),
                _ => None,
            },
        }
    };
    match root {
        Some(root) => static_file(&root, path).await,
        None => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";

fn page_html(page: &Page) -> String {
    match page {
        Page::Waiting(message) => live_html::waiting_page(message),
        Page::Live { run, clock } => live_html::page(run, now_ms(clock)),
        Page::Final { html, .. } => html.clone(),
    }
}

/// The engine's current offset, from the first offset seen and this process's clock.
fn now_ms(clock: &Option<(Instant, f64)>) -> f64 {
    clock.map_or(0.0, |(seen, ms)| ms + seen.elapsed().as_secs_f64() * 1000.0)
}

/// What the page polls: `finished`, and otherwise the fresh `<main>` and a summary.
fn live_json(page: &Page) -> String {
    let v = match page {
        Page::Waiting(message) => serde_json::json!({
            "finished": false,
            "title": "kubedrill · live view",
            "html": format!("<p class=\"waiting\">{}</p>", crate::report::live_html::text(message)),
        }),
        Page::Live { run, clock } => {
            let now = now_ms(clock);
            serde_json::json!({
                "finished": false,
                "title": live_html::title(run),
                "html": live_html::main(run, now),
                "elapsed_ms": now,
                "step": run.step.as_ref().map(|(i, n, d)| serde_json::json!({"index": i, "total": n, "description": d})),
                "faults_in_place": run.faults_in_place().map(|f| f.id.clone()).collect::<Vec<_>>(),
                "probes": live_html::probe_states(run),
            })
        }
        Page::Final { .. } => serde_json::json!({ "finished": true }),
    };
    v.to_string()
}

/// A report file under `root`: plain path components only, report formats only.
async fn static_file(root: &Path, path: &str) -> Response<String> {
    let not_found = || reply(StatusCode::NOT_FOUND, "text/plain", "not found\n");
    let rel = Path::new(path.trim_start_matches('/'));
    if path.contains('%') || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return not_found();
    }
    let kind = match rel.extension().and_then(|e| e.to_str()) {
        Some("html") => HTML,
        Some("json") => JSON,
        Some("xml") => "application/xml",
        Some("md") => "text/markdown; charset=utf-8",
        _ => return not_found(),
    };
    match tokio::fs::read_to_string(root.join(rel)).await {
        Ok(text) => reply(StatusCode::OK, kind, &text),
        Err(_) => not_found(),
    }
}

fn reply(status: StatusCode, content_type: &str, body: &str) -> Response<String> {
    let mut r = Response::new(body.to_string());
    *r.status_mut() = status;
    let h = r.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = hyper::header::HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set("content-type", content_type);
    set("cache-control", "no-store");
    set("content-security-policy", CSP);
    set("x-content-type-options", "nosniff");
    r
}
