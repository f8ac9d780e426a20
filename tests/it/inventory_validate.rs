//! `validate` reads inventories: `--inventory FILE` on its own, the inventory a scenario
//! names, and an inventory given by mistake as a scenario. Every error names file, line,
//! column and key path; an invalid inventory exits 2 and nothing is injected.

use std::path::{Path, PathBuf};

use crate::common::{kubedrill, temp_dir, write};
use crate::run_binary::{run_to_end, Exit};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(name)
}

fn validate(args: &[&str]) -> Exit {
    Exit::of(kubedrill().arg("validate").args(args))
}

fn errors(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect()
}

#[test]
fn inventory_typo_is_reported_with_file_line_column_and_key_path() {
    let f = fixture("typo.yaml");
    let f = f.to_str().unwrap();
    let out = validate(&["--inventory", f]);
    out.assert_code(2);
    let want = format!(
        "error: {f}:6:43: nodes[0].access.ssh.identity-fle: unknown field `identity-fle`, expected one of"
    );
    assert!(
        out.stderr.contains(&want),
        "missing `{want}` in:\n{}",
        out.stderr
    );
    assert_eq!(errors(&out.stderr).len(), 1, "{}", out.stderr);
}

#[test]
fn inventory_wrong_types_are_all_reported() {
    let f = fixture("wrong-types.yaml");
    let f = f.to_str().unwrap();
    let out = validate(&["--inventory", f]);
    out.assert_code(2);
    for want in [
        format!(
            "{f}:6:31: nodes[0].access.ssh.port: invalid type: string \"twenty-two\", expected u16"
        ),
        format!("{f}:8:5: nodes[1].roles: invalid type: string \"worker\", expected a sequence"),
    ] {
        assert!(
            out.stderr.contains(&want),
            "missing `{want}` in:\n{}",
            out.stderr
        );
    }
    assert_eq!(errors(&out.stderr).len(), 2, "{}", out.stderr);
}

#[test]
fn inventory_validates_on_its_own() {
    let f = fixture("good.yaml");
    let f = f.to_str().unwrap();
    let out = validate(&["--inventory", f]);
    out.assert_code(0);
    assert!(
        out.stdout
            .contains(&format!("ok: {f} (inventory, 3 node(s))")),
        "{}",
        out.stdout
    );
}

#[test]
fn inventory_given_as_a_scenario_is_recognised() {
    let f = fixture("good.yaml");
    let f = f.to_str().unwrap();
    let out = validate(&[f]);
    out.assert_code(2);
    let want = format!(
        "error: {f}: this is an inventory (top-level `nodes:`), not a scenario; validate it with `kubedrill validate --inventory {f}`"
    );
    assert!(
        out.stderr.contains(&want),
        "missing `{want}` in:\n{}",
        out.stderr
    );
    assert!(!out.stderr.contains("unknown key"), "{}", out.stderr);
}

#[test]
fn inventory_a_scenario_naming_a_broken_one_fails_validate_and_run_injects_nothing() {
    let scenario = fixture("uses-typo.yaml");
    let inv = fixture("typo.yaml");
    let out = validate(&[scenario.to_str().unwrap()]);
    out.assert_code(2);
    let want = format!(
        "error: {}:6:43: nodes[0].access.ssh.identity-fle: unknown field `identity-fle`",
        inv.display()
    );
    assert!(
        out.stderr.contains(&want),
        "missing `{want}` in:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "{}: its inventory {} is invalid (1 error(s))",
            scenario.display(),
            inv.display()
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("ok:"), "{}", out.stdout);

    // `run` reads it through the same parser: exit 2 with the located error, and the
    // fault (which would create a file) never runs.
    let dir = temp_dir();
    let flag = dir.path().join("injected");
    let text = std::fs::read_to_string(&scenario)
        .unwrap()
        .replace(
            "inventory: typo.yaml",
            &format!("inventory: {}", inv.display()),
        )
        .replace(
            "inject: [\"true\"]",
            &format!("inject: [touch, {}]", flag.display()),
        );
    let file = write(dir.path(), "uses-typo.yaml", &text);
    let reports = dir.path().join("reports");
    let run = run_to_end(&file, &reports);
    run.assert_code(2);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains(&format!(
            "{}:6:43: nodes[0].access.ssh.identity-fle: unknown field",
            inv.display()
        )),
        "{said}"
    );
    assert!(!flag.exists(), "the fault must not have been injected");
}

#[test]
fn inventory_that_does_not_exist_yet_is_a_note_for_validate() {
    let dir = temp_dir();
    let text = "apiVersion: kubedrill/v1\nkind: Scenario\nmetadata: { name: later }\n\
                target: { inventory: not-yet.yaml }\nsteps:\n  - wait: 1s\n";
    let file = write(dir.path(), "later.yaml", text);
    let out = validate(&[file.to_str().unwrap()]);
    out.assert_code(0);
    assert!(
        out.stderr.contains(&format!(
            "note: {}: inventory {} does not exist yet; not checked",
            file.display(),
            dir.path().join("not-yet.yaml").display()
        )),
        "{}",
        out.stderr
    );
    // Given explicitly, a missing inventory is an error.
    let missing = dir.path().join("not-yet.yaml");
    validate(&["--inventory", missing.to_str().unwrap()]).assert_code(2);
}

#[test]
fn inventory_hostile_input_is_refused_like_a_scenario() {
    let dir = temp_dir();
    // A FIFO would block a plain read forever.
    let fifo = dir.path().join("fifo.yaml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a NUL-terminated path in our temp dir.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut child = kubedrill()
        .args(["validate", "--inventory", fifo.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("validate --inventory FIFO still running after 10s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = Exit::from(child.wait_with_output().unwrap());
    out.assert_code(2);
    assert!(out.stderr.contains("is a FIFO"), "{}", out.stderr);

    // Deep nesting stops at the depth limit with its line, before any recursive parser.
    let deep = write(
        dir.path(),
        "deep.yaml",
        &format!("nodes:\n{}\n", "- ".repeat(30_000)),
    );
    let out = validate(&["--inventory", deep.to_str().unwrap()]);
    out.assert_code(2);
    assert!(
        out.stderr.contains(&format!("{}:2:", deep.display()))
            && out.stderr.contains("nesting deeper than 100 levels"),
        "{}",
        out.stderr
    );

    // A BOM is accepted; a duplicate key is located.
    let bom = write(
        dir.path(),
        "bom.yaml",
        "\u{feff}nodes:\n  - { name: a, access: { local: { netns: a } } }\n",
    );
    validate(&["--inventory", bom.to_str().unwrap()]).assert_code(0);
    let dup = write(
        dir.path(),
        "dup.yaml",
        "nodes:\n  - name: a\n    access: { local: { netns: a } }\n    access: { local: { netns: b } }\n",
    );
    let out = validate(&["--inventory", dup.to_str().unwrap()]);
    out.assert_code(2);
    assert!(
        out.stderr.contains(&format!(
            "{}:4:5: YAML syntax: duplicate key `access`",
            dup.display()
        )),
        "{}",
        out.stderr
    );
}

/// Every example in docs/inventory.md is a valid inventory.
#[test]
fn inventory_reference_examples_validate() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/inventory.md"))
            .unwrap();
    let dir = temp_dir();
    let blocks: Vec<&str> = doc
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.starts_with("nodes:"))
        .collect();
    assert!(blocks.len() >= 3, "SSH, netns and docker examples");
    for (i, block) in blocks.iter().enumerate() {
        let file = write(dir.path(), &format!("example-{i}.yaml"), block);
        validate(&["--inventory", file.to_str().unwrap()]).assert_code(0);
    }
}

/// docs/inventory.md names every key an inventory can have: a node with every optional
/// key set, for each access kind, serialised, and each key looked up in the reference.
#[test]
fn inventory_reference_names_every_key() {
    use kubedrill::access::{AccessSpec, DockerAccess, KnownHostsPolicy, LocalAccess};
    use kubedrill::access::{Inventory, NodeSpec, ServiceSpec, SshAccess};
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/inventory.md"))
            .unwrap();
    let service = ServiceSpec {
        name: Some("m1".into()),
        endpoints: [("client".to_string(), "http://a:2379".to_string())].into(),
        start: Some(vec!["a".into()]),
        stop: Some(vec!["a".into()]),
        status: Some(vec!["a".into()]),
    };
    let node = |access| NodeSpec {
        name: "n".into(),
        roles: vec!["r".into()],
        labels: [("k".to_string(), "v".to_string())].into(),
        address: Some("a".into()),
        access,
        services: [("etcd".to_string(), service.clone())].into(),
    };
    let ssh = SshAccess {
        host: "h".into(),
        port: Some(22),
        user: Some("u".into()),
        identity_file: Some("k".into()),
        known_hosts: KnownHostsPolicy::AcceptNew,
        known_hosts_file: Some("f".into()),
        sudo: true,
        connect_timeout: Some(kubedrill::scenario::duration::HumanDuration(
            std::time::Duration::from_secs(1),
        )),
    };
    let inv = Inventory {
        nodes: vec![
            node(AccessSpec::Ssh(ssh)),
            node(AccessSpec::Docker(DockerAccess {
                container: "c".into(),
            })),
            node(AccessSpec::Local(LocalAccess {
                netns: Some("x".into()),
            })),
        ],
    };
    let value: serde_yaml::Value = serde_yaml::from_str(&inv.to_yaml()).unwrap();
    let mut keys = std::collections::BTreeSet::new();
    collect_keys(&value, false, &mut keys);
    assert!(keys.len() > 20, "{keys:?}");
    for k in keys {
        assert!(
            doc.contains(&format!("`{k}`")) || doc.contains(&format!(".{k}`")),
            "docs/inventory.md does not name `{k}`"
        );
    }
}

/// Keys of mappings, except the user's own names (under `labels`, `services`, `endpoints`).
fn collect_keys(v: &serde_yaml::Value, free: bool, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_yaml::Value::Mapping(m) => {
            for (k, v) in m {
                let k = k.as_str().unwrap_or_default();
                if !free {
                    out.insert(k.to_string());
                }
                collect_keys(v, matches!(k, "labels" | "services" | "endpoints"), out);
            }
        }
        serde_yaml::Value::Sequence(s) => s.iter().for_each(|v| collect_keys(v, false, out)),
        _ => {}
    }
}
