//! Broken scenarios: every error names file, line, column and key path; exit code 2;
//! nothing is injected.

use std::path::Path;

use crate::common::{kubedrill, temp_dir, write};
use crate::run_binary::{run_to_end, Exit};

/// `kubedrill validate FILE`: the exit code and stderr.
fn validate(file: &str) -> (Option<i32>, String) {
    let out = Exit::of(kubedrill().args(["validate", file]));
    (out.code, out.stderr)
}

fn assert_errors(file: &str, expected: &[&str]) {
    let path = format!(
        "{}/tests/fixtures/invalid/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let (code, stderr) = validate(&path);
    assert_eq!(code, Some(2), "exit code for {file}; stderr:\n{stderr}");
    for e in expected {
        let want = format!("{path}:{e}");
        assert!(stderr.contains(&want), "missing `{want}` in:\n{stderr}");
    }
    let count = stderr.lines().filter(|l| l.starts_with("error: ")).count();
    assert_eq!(count, expected.len(), "error count for {file}:\n{stderr}");
}

#[test]
fn typo_in_a_key_names_the_key_and_the_valid_ones() {
    assert_errors(
        "typo-key.yaml",
        &["8:41: probes[0].http.expect-stauts: unknown field `expect-stauts`, expected one of `url`, `method`, `expect-status`"],
    );
}

#[test]
fn bad_durations_are_explained() {
    assert_errors(
        "bad-duration.yaml",
        &[
            "7:5: probes[0].interval: `10 parsecs` is not a duration",
            "10:5: steps[0].wait: `5` has no unit; write it like `5s` or `5ms`",
        ],
    );
}

#[test]
fn unknown_fault_kind_points_at_the_kind() {
    assert_errors(
        "unknown-fault.yaml",
        &["7:7: steps[0].fault.explode-datacenter: unknown variant `explode-datacenter`"],
    );
}

#[test]
fn expectation_on_undefined_probe() {
    assert_errors(
        "undefined-probe.yaml",
        &["11:5: expect[0].probe: probe `api` is not defined under `probes` (defined: web)"],
    );
}

#[test]
fn zero_and_negative_intervals() {
    assert_errors(
        "zero-interval.yaml",
        &[
            "7:5: probes[0].interval: must be longer than zero",
            "10:5: probes[1].interval: `-1s` is negative",
        ],
    );
}

#[test]
fn empty_steps() {
    assert_errors("empty-steps.yaml", &["8:1: steps: there are no steps"]);
}

#[test]
fn every_error_of_a_file_is_reported_together() {
    assert_errors(
        "many-errors.yaml",
        &[
            "8:5: probes[0].htp: unknown variant `htp`",
            "10:12: probes[1].dns.server: `not an ip` must be an IP address",
            "10:53: probes[1].dns.record-type: `BOGUS` is not a DNS record type",
            "13:5: steps[1].heal: no earlier fault step has `id: nothing-to-heal`",
            "14:29: steps[2].wait-until.healthy[0]: probe `ghost` is not defined",
            "16:19: expect[0].availability: `availability` takes a percentage",
            "17:7: expect[1].availability: `availability` needs a `probe`",
            "19:7: abort-if[0].probe: probe `ghost` is not defined",
        ],
    );
}

#[test]
fn undefined_variable_is_located_and_set_fixes_it() {
    let dir = temp_dir();
    let file = write(
        dir.path(),
        "vars.yaml",
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: v }\nsteps:\n  - wait: ${pause}\n",
    );
    let f = file.to_str().unwrap();
    let (code, stderr) = validate(f);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{f}:5:11: variable `pause` has no value")),
        "{stderr}"
    );
    Exit::of(kubedrill().args(["validate", f, "--set", "pause=1s"])).assert_code(0);
}

#[test]
fn nothing_is_injected_from_an_invalid_scenario() {
    let dir = temp_dir();
    let flag = dir.path().join("injected");
    let text = format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: x }}\nsteps:\n  - fault:\n      command: {{ inject: [touch, {}], revert: [true] }}\n    for: 1s\n  - wait: 0s\n",
        flag.display()
    );
    let file = write(dir.path(), "bad.yaml", &text);
    let out = run_to_end(&file, &dir.path().join("reports"));
    out.assert_code(2);
    assert!(out
        .stderr
        .contains("steps[1].wait: must be longer than zero"));
    assert!(!flag.exists(), "the fault must not have been injected");
    assert!(
        !dir.path().join("reports").exists(),
        "no run directory for an invalid scenario"
    );
}

#[test]
fn shipped_scenarios_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files = Vec::new();
    collect_yaml(&root, &mut files);
    assert!(!files.is_empty());
    Exit::of(kubedrill().arg("validate").args(&files)).assert_code(0);
}

fn collect_yaml(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        // `fixtures/` holds Kubernetes objects the drills need, not scenarios.
        if p.is_dir() && !p.ends_with("fixtures") {
            collect_yaml(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
}

#[test]
fn columns_are_those_of_the_file_and_comments_are_not_substituted() {
    let dir = temp_dir();
    let text = "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: cols }  # ${not_a_var} in a comment\nvars: { host: a-very-long-host-name.example }\nprobes:\n  - { name: p, http: { url: \"http://${host}/\", methd: GET } }\nsteps:\n  - wait: 1s\n";
    let file = write(dir.path(), "cols.yaml", text);
    let f = file.to_str().unwrap();
    let (code, stderr) = validate(f);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{f}:6:48: probes[0].http.methd: unknown field `methd`"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("not_a_var"), "{stderr}");
}

#[test]
fn nodes_missing_from_the_inventory_are_refused() {
    let dir = temp_dir();
    let inventory = write(
        dir.path(),
        "inventory.yaml",
        "nodes:\n  - { name: n1, access: { local: { netns: kd-none } } }\n",
    );
    let text = format!(
        "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: {{ name: ghosts }}\ntarget: {{ inventory: {} }}\nprobes:\n  - {{ name: p, node-command: {{ node: ghost, argv: [\"true\"] }} }}\nsteps:\n  - fault:\n      stop-kubelet: {{ nodes: [n1] }}\n    for: 1s\n  - fault:\n      node-command: {{ nodes: [phantom], inject: [\"true\"], revert: [\"true\"] }}\n    for: 1s\n",
        inventory.display()
    );
    let file = write(dir.path(), "ghosts.yaml", &text);
    let f = file.to_str().unwrap();
    let (code, stderr) = validate(f);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{f}:6:32: probes[0].node-command.node: node `ghost` is not in the inventory (known: n1)")), "{stderr}");
    assert!(stderr.contains("12:23: steps[1].fault.node-command.nodes: node `phantom` is not in the inventory (known: n1)"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error: ")).count(),
        2,
        "n1 is known: {stderr}"
    );
}

#[test]
fn the_readme_scenario_reference_validates() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let after = readme
        .split("## Scenario reference")
        .nth(1)
        .expect("section");
    let yaml = after
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("yaml block");
    let dir = temp_dir();
    let inventory = write(
        dir.path(),
        "inventory.yaml",
        "nodes:\n  - { name: n0, access: { local: { netns: x } } }\n  - { name: n1, access: { local: { netns: y } } }\n",
    );
    let file = write(dir.path(), "readme.yaml", yaml);
    Exit::of(
        kubedrill()
            .args(["validate", file.to_str().unwrap(), "--set"])
            .arg(format!("lab_dir={}", dir.path().display())),
    )
    .assert_code(0);
    drop(inventory);
}

// ---- Hostile input: every case fails fast with exit 2 and a located error. ----

/// `kubedrill validate ARGS...` that must end within `limit` (killed otherwise).
fn validate_within(args: &[&str], limit: std::time::Duration) -> (Option<i32>, String) {
    use std::process::Stdio;
    let mut child = kubedrill()
        .arg("validate")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            return (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`kubedrill validate {args:?}` still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

const SECS_10: std::time::Duration = std::time::Duration::from_secs(10);
const OK_HEAD: &str = "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: h }\n";

#[test]
fn validation_deep_nesting_is_refused_with_its_line() {
    let dir = temp_dir();
    let text = format!("{OK_HEAD}steps:\n{}\n", "- ".repeat(30_000));
    let file = write(dir.path(), "deep.yaml", &text);
    let f = file.to_str().unwrap();
    let (code, stderr) = validate_within(&[f], SECS_10);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{f}:5:")) && stderr.contains("nesting deeper than 100 levels"),
        "{stderr}"
    );
}

#[test]
fn validation_huge_variable_expansion_names_the_variable() {
    let dir = temp_dir();
    let big = "x".repeat(1 << 20);
    let uses: String = (0..1500)
        .map(|i| format!("  - {{ name: \"p{i}${{big}}\" }}\n"))
        .collect();
    let text = format!("{OK_HEAD}vars: {{ big: {big} }}\nprobes:\n{uses}steps:\n  - wait: 1s\n");
    let file = write(dir.path(), "big.yaml", &text);
    let (code, stderr) = validate_within(&[file.to_str().unwrap()], SECS_10);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("expanding variable `big` here makes the scenario larger than 8 MiB"),
        "{stderr}"
    );
}

#[test]
fn validation_fifo_scenario_and_vars_are_refused_without_hanging() {
    let dir = temp_dir();
    let fifo = dir.path().join("fifo.yaml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let f = fifo.to_str().unwrap();
    let (code, stderr) = validate_within(&[f], SECS_10);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("is a FIFO (named pipe); give a regular file"),
        "{stderr}"
    );
    let ok = write(
        dir.path(),
        "ok.yaml",
        &format!("{OK_HEAD}steps:\n  - wait: 1s\n"),
    );
    let (code, stderr) = validate_within(&[ok.to_str().unwrap(), "--vars", f], SECS_10);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{f}: vars file: cannot read")),
        "{stderr}"
    );
}

#[test]
fn validation_devices_and_huge_files_are_refused_unread() {
    let (code, stderr) = validate_within(&["/dev/zero"], SECS_10);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("/dev/zero is a character device"),
        "{stderr}"
    );
    let dir = temp_dir();
    let big = dir.path().join("big.yaml");
    // Sparse: 50 MB of size, no disk used.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(50 << 20)
        .unwrap();
    let (code, stderr) = validate_within(&[big.to_str().unwrap()], SECS_10);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("the limit is 4194304 bytes (4 MiB)"),
        "{stderr}"
    );
}

#[test]
fn validation_duplicate_key_is_reported_not_missing_vars() {
    assert_errors(
        "duplicate-key.yaml",
        &["7:1: YAML syntax: duplicate key `steps` (first on line 5)"],
    );
}

#[test]
fn validation_second_document_is_reported() {
    assert_errors(
        "two-documents.yaml",
        &["7:1: YAML syntax: a second YAML document starts here"],
    );
}

#[test]
fn validation_nul_byte_is_reported_and_bom_accepted() {
    let dir = temp_dir();
    let text = format!("{OK_HEAD}vars: {{ pause: 1s }}\nsteps:\n  - wait: ${{pause}}\n");
    let bom = write(dir.path(), "bom.yaml", &format!("\u{feff}{text}"));
    let (code, stderr) = validate_within(&[bom.to_str().unwrap()], SECS_10);
    assert_eq!(code, Some(0), "{stderr}");
    let nul = write(dir.path(), "nul.yaml", &format!("{text}# a\0b\n"));
    let f = nul.to_str().unwrap();
    let (code, stderr) = validate_within(&[f], SECS_10);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{f}:7:4: YAML syntax: a NUL byte is not allowed")),
        "{stderr}"
    );
    assert!(!stderr.contains("has no value"), "{stderr}");
}

#[test]
fn validation_set_of_an_unknown_variable_lists_the_defined_ones() {
    let dir = temp_dir();
    let text = format!("{OK_HEAD}vars: {{ hold: 1s }}\nsteps:\n  - wait: ${{pause}}\n");
    let file = write(dir.path(), "s.yaml", &text);
    let f = file.to_str().unwrap();
    let (code, stderr) = validate_within(&[f, "--set", "pause=1s", "--set", "holdd=60s"], SECS_10);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("`--set holdd=60s`: no scenario declares or uses variable `holdd` (defined: hold, pause)"),
        "{stderr}"
    );
    let (code, stderr) = validate_within(&[f, "--set", "pause=1s", "--set", "hold=2s"], SECS_10);
    assert_eq!(code, Some(0), "{stderr}");
}
