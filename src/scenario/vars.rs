//! `${name}` variables: scenario defaults (`vars:`), overridden by `--vars FILE`, overridden
//! by `--set key=value`. `$${` writes a literal `${`.

use std::collections::BTreeMap;
use std::path::Path;

use super::positions::Location;

/// Variables given on the command line, already merged (`--vars` then `--set`).
pub type Vars = BTreeMap<String, String>;

/// Parses `key=value` from `--set`.
pub fn parse_set(arg: &str) -> Result<(String, String), String> {
    let (k, v) = arg
        .split_once('=')
        .ok_or_else(|| format!("`--set {arg}` must look like key=value"))?;
    let k = k.trim();
    if k.is_empty()
        || !k
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "`--set {arg}`: variable names use letters, digits, `_` and `-`"
        ));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Reads a vars file: a YAML mapping of names to scalars.
pub fn load_vars_file(path: &Path) -> Result<Vars, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read vars file: {e}", path.display()))?;
    let map: BTreeMap<String, serde_yaml::Value> =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    map.into_iter()
        .map(|(k, v)| {
            scalar_text(&v)
                .map(|s| (k.clone(), s))
                .ok_or_else(|| format!("{}: `{k}` must be a string or number", path.display()))
        })
        .collect()
}

/// Text of a YAML scalar.
pub fn scalar_text(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A `${name}` with no value anywhere.
#[derive(Debug, PartialEq)]
pub struct UndefinedVar {
    pub name: String,
    pub location: Location,
}

/// Replaces every `${name}` in `source` outside comments; returns all undefined names with
/// their location.
pub fn substitute(source: &str, vars: &Vars) -> Result<String, Vec<UndefinedVar>> {
    let mut out = String::with_capacity(source.len());
    let mut missing = Vec::new();
    let mut offset = 0usize;
    for line in source.split_inclusive('\n') {
        let (code, comment) = line.split_at(comment_start(line).unwrap_or(line.len()));
        substitute_line(code, offset, source, vars, &mut out, &mut missing);
        out.push_str(comment);
        offset += line.len();
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

/// Byte index of a YAML comment's `#` (at line start or after a blank, outside quotes).
fn comment_start(line: &str) -> Option<usize> {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && prev != '\\' => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return Some(i),
            _ => {}
        }
        prev = c;
    }
    None
}

fn substitute_line(
    code: &str,
    base: usize,
    source: &str,
    vars: &Vars,
    out: &mut String,
    missing: &mut Vec<UndefinedVar>,
) {
    let mut rest = code;
    let mut consumed = base;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            consumed += pos + 2;
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[pos..]);
            return;
        };
        let name = after[..end].trim();
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => missing.push(UndefinedVar {
                name: name.to_string(),
                location: location_of(source, consumed + pos),
            }),
        }
        consumed += pos + 3 + end;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
}

fn location_of(source: &str, byte: usize) -> Location {
    let before = &source[..byte];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    Location { line, column }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_and_reports_missing_with_location() {
        let vars: Vars = [("host".to_string(), "10.0.0.1".to_string())].into();
        assert_eq!(
            substitute("url: http://${host}:80 $${x}", &vars).unwrap(),
            "url: http://10.0.0.1:80 ${x}"
        );
        assert_eq!(
            substitute("a: x # ${ignored} in a comment\n", &vars).unwrap(),
            "a: x # ${ignored} in a comment\n"
        );
        assert_eq!(
            substitute("a: 'x # ${host}'\n", &vars).unwrap(),
            "a: 'x # 10.0.0.1'\n"
        );
        let err = substitute("a: 1\nb: ${nope}\n", &vars).unwrap_err();
        assert_eq!(
            err,
            vec![UndefinedVar {
                name: "nope".into(),
                location: Location { line: 2, column: 4 }
            }]
        );
        assert!(parse_set("a b=1").is_err());
        assert_eq!(parse_set("k=v=w").unwrap(), ("k".into(), "v=w".into()));
    }
}
