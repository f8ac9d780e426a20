//! The run directory: private modes, where it is announced, and a report root that cannot
//! be written.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::{only_run_dir, temp_dir, write};
use crate::run_binary::run_to_end;

/// A short run: one probe named with markup and a pipe, one fault held briefly (its
/// injection leaves `flag` in `dir`, its revert `reverted`).
fn scenario(dir: &Path) -> String {
    format!(
        r#"apiVersion: kubedrill/v1
kind: Scenario
metadata:
  name: private-run
  description: "drill <b>bold</b> | with a pipe"
probes:
  - name: "<script>alert(1)</script>|x"
    interval: 100ms
    timeout: 100ms
    command: {{ argv: ["true"] }}
steps:
  - fault:
      command: {{ inject: [touch, "{flag}"], revert: [touch, "{reverted}"] }}
    for: 300ms
"#,
        flag = dir.join("flag").display(),
        reverted = dir.join("reverted").display()
    )
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn run_directories_are_private() {
    let dir = temp_dir();
    let file = write(dir.path(), "s.yaml", &scenario(dir.path()));
    let reports = dir.path().join("reports");
    run_to_end(&file, &reports).assert_code(0);
    let run = only_run_dir(&reports);
    assert_eq!(mode(&run), 0o700, "{}", run.display());
    let mut names = Vec::new();
    for e in std::fs::read_dir(&run).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
        names.push(p.file_name().unwrap().to_string_lossy().into_owned());
    }
    names.sort();
    assert_eq!(
        names,
        [
            "journal.jsonl",
            "journal.lock",
            "junit.xml",
            "report.html",
            "report.json",
            "report.md",
            "samples.jsonl"
        ]
    );
}

#[test]
fn report_md_escapes_markup_and_pipes_from_user_text() {
    let dir = temp_dir();
    let file = write(dir.path(), "s.yaml", &scenario(dir.path()));
    let reports = dir.path().join("reports");
    run_to_end(&file, &reports).assert_code(0);
    let md = std::fs::read_to_string(only_run_dir(&reports).join("report.md")).unwrap();
    assert!(!md.contains("<script>") && !md.contains("<b>"), "{md}");
    assert!(
        md.contains("drill &lt;b>bold&lt;/b> \\| with a pipe"),
        "{md}"
    );
    let row = md
        .lines()
        .find(|l| l.starts_with("| &lt;script>alert(1)&lt;/script>\\|x |"))
        .unwrap_or_else(|| panic!("the probe's row, one cell for its name: {md}"));
    let header = md.lines().find(|l| l.starts_with("| Probe |")).unwrap();
    let cells = |l: &str| l.replace("\\|", "").matches('|').count();
    assert_eq!(cells(row), cells(header), "{row}\n{header}");
}

/// A tmpfs mounted read-only in a temporary directory, unmounted on drop.
struct ReadOnlyMount(std::path::PathBuf);

impl ReadOnlyMount {
    fn new(at: &Path) -> Self {
        std::fs::create_dir(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs"])
            .arg(at)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount a read-only tmpfs (needs root)");
        Self(at.to_path_buf())
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn an_unwritable_report_dir_exits_2_and_injects_nothing() {
    let dir = temp_dir();
    let file = write(dir.path(), "s.yaml", &scenario(dir.path()));
    let plain = write(dir.path(), "plain-file", "");
    let ro = ReadOnlyMount::new(&dir.path().join("ro"));
    for reports in [
        plain.clone(),
        plain.join("under"),
        ro.0.clone(),
        ro.0.join("r"),
    ] {
        let out = run_to_end(&file, &reports);
        out.assert_code(2);
        assert!(
            out.stderr.contains("cannot create a run directory"),
            "{}: {}",
            reports.display(),
            out.stderr
        );
        assert!(!out.stdout.contains("PASS"), "{}", out.stdout);
        assert!(!dir.path().join("flag").exists(), "nothing was injected");
    }
}

/// The first line naming the run directory comes before the fault is injected.
fn announces_run_dir_first(out: &str, run: &Path) {
    let announced = out
        .find(&format!("run directory {}", run.display()))
        .unwrap_or_else(|| panic!("the run directory is announced: {out}"));
    let injected = out.find("inject").unwrap_or(usize::MAX);
    assert!(announced < injected, "before the injection: {out}");
}

#[test]
fn run_prints_its_run_directory_at_the_start_in_plain_logs() {
    let dir = temp_dir();
    let file = write(dir.path(), "s.yaml", &scenario(dir.path()));
    let reports = dir.path().join("reports");
    let out = run_to_end(&file, &reports);
    out.assert_code(0);
    announces_run_dir_first(&out.stderr, &only_run_dir(&reports));
}

#[test]
fn run_prints_its_run_directory_at_the_start_on_a_terminal() {
    let dir = temp_dir();
    let file = write(dir.path(), "s.yaml", &scenario(dir.path()));
    let reports = dir.path().join("reports");
    // `script` gives the run a terminal, so the live view is on.
    let cmd = format!(
        "{} run {} --report-dir {}",
        env!("CARGO_BIN_EXE_kubedrill"),
        file.display(),
        reports.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .env_remove("KUBEDRILL_NO_LIVE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains('●') || text.contains('○'),
        "live view on: {text}"
    );
    announces_run_dir_first(&text, &only_run_dir(&reports));
}
