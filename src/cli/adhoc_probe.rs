//! `--probe` shorthands of `inject` and `probe`: `api`, `dns=SERVER,NAME`,
//! `tcp=HOST:PORT`, `http=URL`, `node-ready`, `etcd`, `nats` (and any probe kind with no
//! arguments), each with a sensible interval and timeout; `--probe-yaml` for the rest.

use serde_yaml::{Mapping, Value};

/// One probe item of the generated scenario and the flag it came from.
pub struct ProbeItem {
    pub item: Mapping,
    pub flag: String,
}

/// Interval and timeout a shorthand gets unless `--probe-interval`/`--probe-timeout`.
fn default_schedule(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "dns" | "tcp" => ("200ms", "1s"),
        "http" | "etcd" | "nats" => ("250ms", "1s"),
        "api" => ("500ms", "2s"),
        "node-ready" => ("1s", "5s"),
        _ => ("1s", "5s"),
    }
}

/// `KIND` or `KIND=ARGS` as the probe kind's spec.
pub fn shorthand_spec(text: &str) -> Result<(String, Value), String> {
    let (kind, args) = match text.split_once('=') {
        Some((k, a)) => (k.trim(), Some(a.trim())),
        None => (text.trim(), None),
    };
    let known: Vec<&str> = crate::probes::catalogue().iter().map(|c| c.0).collect();
    if !known.contains(&kind) {
        return Err(format!(
            "unknown probe kind `{kind}`; use one of {} (`kubedrill list`)",
            known.join(", ")
        ));
    }
    let list = |a: &str| -> Value {
        Value::Sequence(
            a.split(',')
                .map(|s| Value::String(s.trim().to_string()))
                .collect(),
        )
    };
    let mut spec = Mapping::new();
    match (kind, args) {
        ("api", a) => {
            if let Some(a) = a {
                spec.insert("endpoints".into(), list(a));
            }
            spec.insert("connection".into(), "fresh".into());
        }
        ("dns", Some(a)) => {
            let Some((server, name)) = a.split_once(',') else {
                return Err("write `dns=SERVER,NAME`, e.g. dns=10.96.0.10:53,kubernetes.default.svc.cluster.local".into());
            };
            spec.insert("server".into(), with_dns_port(server.trim()).into());
            spec.insert("name".into(), name.trim().into());
        }
        ("tcp", Some(a)) => {
            spec.insert("address".into(), a.into());
        }
        ("http", Some(a)) => {
            spec.insert("url".into(), a.into());
        }
        ("node-ready", Some(a)) => {
            let mut nodes = Mapping::new();
            nodes.insert("names".into(), list(a));
            spec.insert("nodes".into(), Value::Mapping(nodes));
        }
        ("etcd", Some(a)) => {
            spec.insert("endpoints".into(), list(a));
        }
        ("nats", Some(a)) => {
            spec.insert("monitors".into(), list(a));
        }
        ("dns" | "tcp" | "http", None) => {
            let form = match kind {
                "dns" => "dns=SERVER,NAME",
                "tcp" => "tcp=HOST:PORT",
                _ => "http=URL",
            };
            return Err(format!("`{kind}` needs its target: write `{form}`"));
        }
        (_, None) => {}
        (_, Some(_)) => {
            return Err(format!(
                "`{kind}` has no shorthand arguments; write it with --probe-yaml '{{name: ..., {kind}: {{...}}}}'"
            ))
        }
    }
    Ok((kind.to_string(), Value::Mapping(spec)))
}

/// `10.0.0.1` → `10.0.0.1:53`; an address with a port (or bracketed IPv6) is kept.
fn with_dns_port(server: &str) -> String {
    let has_port = if server.starts_with('[') {
        server.contains("]:")
    } else {
        server.matches(':').count() == 1
    };
    if has_port || server.matches(':').count() > 1 {
        server.to_string()
    } else {
        format!("{server}:53")
    }
}

/// Builds every probe item: shorthands first, then `--probe-yaml` mappings, names made
/// unique (`dns`, `dns-2`, ...).
pub fn probe_items(
    shorthands: &[String],
    yaml: &[String],
    interval: Option<&str>,
    timeout: Option<&str>,
) -> Result<Vec<ProbeItem>, String> {
    let mut items = Vec::new();
    let mut names = Names::default();
    for text in shorthands {
        let flag = format!("--probe {text}");
        let (kind, spec) = shorthand_spec(text).map_err(|e| format!("{flag}: {e}"))?;
        let (i, t) = default_schedule(&kind);
        let mut item = Mapping::new();
        item.insert("name".into(), names.next(&kind).into());
        item.insert("interval".into(), interval.unwrap_or(i).into());
        item.insert("timeout".into(), timeout.unwrap_or(t).into());
        item.insert(kind.into(), spec);
        items.push(ProbeItem { item, flag });
    }
    for text in yaml {
        let flag = format!("--probe-yaml {text}");
        let item =
            yaml_item(text, interval, timeout, &mut names).map_err(|e| format!("{flag}: {e}"))?;
        items.push(ProbeItem { item, flag });
    }
    Ok(items)
}

fn yaml_item(
    text: &str,
    interval: Option<&str>,
    timeout: Option<&str>,
    names: &mut Names,
) -> Result<Mapping, String> {
    let Value::Mapping(given) =
        serde_yaml::from_str::<Value>(text).map_err(|e| format!("not YAML: {e}"))?
    else {
        return Err(
            "write a probe as a YAML mapping: '{name: x, interval: 1s, tcp: {address: \"h:p\"}}'"
                .into(),
        );
    };
    let kind = given
        .keys()
        .filter_map(Value::as_str)
        .find(|k| !["name", "interval", "timeout", "max-in-flight"].contains(k))
        .unwrap_or("probe")
        .to_string();
    let (i, t) = default_schedule(&kind);
    let mut item = Mapping::new();
    let name = match given.get("name") {
        Some(n) => {
            names.taken(n.as_str().unwrap_or_default());
            n.clone()
        }
        None => names.next(&kind).into(),
    };
    item.insert("name".into(), name);
    item.insert("interval".into(), interval.unwrap_or(i).into());
    item.insert("timeout".into(), timeout.unwrap_or(t).into());
    for (k, v) in given {
        item.insert(k, v);
    }
    Ok(item)
}

/// Probe names handed out so far.
#[derive(Default)]
struct Names(std::collections::BTreeSet<String>);

impl Names {
    fn next(&mut self, kind: &str) -> String {
        let name = (1..)
            .map(|n| match n {
                1 => kind.to_string(),
                n => format!("{kind}-{n}"),
            })
            .find(|n| !self.0.contains(n))
            .expect("an unused name exists");
        self.0.insert(name.clone());
        name
    }

    fn taken(&mut self, name: &str) {
        self.0.insert(name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(items: &[ProbeItem]) -> String {
        let seq: Vec<Value> = items
            .iter()
            .map(|i| Value::Mapping(i.item.clone()))
            .collect();
        serde_yaml::to_string(&seq).unwrap()
    }

    #[test]
    fn shorthands_become_probe_items_with_their_own_schedule() {
        let items = probe_items(
            &[
                "api".into(),
                "dns=10.0.0.1,kubernetes.default".into(),
                "dns=10.0.0.2:5353,x.test".into(),
                "tcp=10.0.0.1:10248".into(),
            ],
            &[],
            None,
            None,
        )
        .unwrap();
        let text = yaml(&items);
        assert!(
            text.contains(
                "name: api\n  interval: 500ms\n  timeout: 2s\n  api:\n    connection: fresh"
            ),
            "{text}"
        );
        assert!(text.contains("server: 10.0.0.1:53"), "{text}");
        assert!(text.contains("name: dns-2"), "{text}");
        assert!(text.contains("server: 10.0.0.2:5353"), "{text}");
        assert!(text.contains("address: 10.0.0.1:10248"), "{text}");
        assert_eq!(items[3].flag, "--probe tcp=10.0.0.1:10248");
    }

    #[test]
    fn probe_interval_and_timeout_override_the_defaults() {
        let items = probe_items(
            &["etcd".into()],
            &["{tcp: {address: 'h:1'}}".into()],
            Some("100ms"),
            Some("3s"),
        )
        .unwrap();
        let text = yaml(&items);
        assert_eq!(text.matches("interval: 100ms").count(), 2, "{text}");
        assert!(text.contains("name: tcp"), "{text}");
    }

    #[test]
    fn bad_shorthands_name_the_flag() {
        let err = probe_items(&["tcp".into()], &[], None, None).err().unwrap();
        assert!(err.starts_with("--probe tcp: "), "{err}");
        assert!(err.contains("tcp=HOST:PORT"), "{err}");
        let err = probe_items(&["bogus=1".into()], &[], None, None)
            .err()
            .unwrap();
        assert!(err.contains("unknown probe kind `bogus`"), "{err}");
        let err = probe_items(&["dns=10.0.0.1".into()], &[], None, None)
            .err()
            .unwrap();
        assert!(err.contains("dns=SERVER,NAME"), "{err}");
    }
}
