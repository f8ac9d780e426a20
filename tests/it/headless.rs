//! Headless Chromium (Debian `chromium`, see scripts/install-deps.sh) for the tests that
//! check pages in a real browser: the DOM after the page loaded and ran its scripts, and a
//! screenshot. Each call gets its own profile directory, so calls never share state.
#![allow(dead_code)]

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one chromium call may take.
const LIMIT: Duration = Duration::from_secs(90);

/// Runs `chromium --headless ... ARGS URL`, returns its stdout; panics on failure or after
/// [`LIMIT`].
fn chromium(args: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium (Debian package `chromium`) must be installed");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} {url} did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap();
    if !status.success() {
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        panic!("chromium {args:?} {url} failed ({status}): {err}");
    }
    out
}

/// The DOM of `url` as the browser built it (`--dump-dom`).
pub fn dump_dom(url: &str) -> String {
    let dom = chromium(&["--dump-dom"], url);
    assert!(dom.contains("<html"), "no document from {url}: {dom}");
    dom
}

/// A 1280x900 screenshot of `url` into `file`; asserts a non-empty PNG was written.
pub fn screenshot(url: &str, file: &Path) {
    chromium(
        &[
            &format!("--screenshot={}", file.display()),
            "--window-size=1280,900",
            "--hide-scrollbars",
        ],
        url,
    );
    let png = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(
        png.len() > 1000 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a screenshot ({} bytes)",
        file.display(),
        png.len()
    );
}

/// `GET PATH` on 127.0.0.1:PORT: (status, body); `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get_at(([127, 0, 0, 1], port).into(), path)
}

/// `GET PATH` on `addr`: (status, body); `None` when nothing answers.
pub fn http_get_at(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}
