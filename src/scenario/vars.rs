//! `${name}` variables: scenario defaults (`vars:`), overridden by `--vars FILE`, overridden
//! by `--set key=value`. `$${` writes a literal `${`.

use std::collections::BTreeMap;
use std::path::Path;

use super::positions::{Location, PositionIndex};

/// Largest scenario text accepted after `${variables}` are expanded (8 MiB).
pub const MAX_EXPANDED_BYTES: usize = 8 * 1024 * 1024;

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
    let text = super::input::read_checked(path)
        .map_err(|e| format!("{}: vars file: {e}", path.display()))?;
    PositionIndex::build(&text).map_err(|(l, m)| {
        format!(
            "{}:{}:{}: YAML syntax: {m}",
            path.display(),
            l.line,
            l.column
        )
    })?;
    let map: BTreeMap<String, serde_yaml::Value> =
        serde_yaml::from_str(&text).map_err(|e| match e.location() {
            Some(l) => format!(
                "{}:{}:{}: {}",
                path.display(),
                l.line(),
                l.column(),
                super::load::without_location(&e.to_string())
            ),
            None => format!("{}: {e}", path.display()),
        })?;
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

/// A `${name}` with no value anywhere, or one whose expansion makes the text too large.
#[derive(Debug, PartialEq)]
pub struct UndefinedVar {
    pub name: String,
    pub location: Location,
    /// True when the variable has a value but expanding it here would exceed
    /// [`MAX_EXPANDED_BYTES`] (expansion stops there).
    pub too_large: bool,
}

/// Replaces every `${name}` in `source` outside comments; returns all undefined names with
/// their location. Expansion stops with an error naming the variable when the text would
/// grow beyond [`MAX_EXPANDED_BYTES`].
pub fn substitute(source: &str, vars: &Vars) -> Result<String, Vec<UndefinedVar>> {
    let mut out = String::with_capacity(source.len());
    let mut missing = Vec::new();
    let mut locator = Locator::new(source);
    let mut offset = 0usize;
    for line in source.split_inclusive('\n') {
        let (code, comment) = line.split_at(comment_start(line).unwrap_or(line.len()));
        let mut sub = Sub {
            vars,
            out: &mut out,
            missing: &mut missing,
            locator: &mut locator,
        };
        if !sub.line(code, offset) {
            return Err(missing);
        }
        out.push_str(comment);
        offset += line.len();
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

/// Byte offset → line and column, for many offsets in increasing order: line starts are
/// found once, and the column is counted on from the previous offset on the same line, so
/// locating every `${...}` of a file costs time linear in its size.
struct Locator<'a> {
    source: &'a str,
    line_starts: Vec<usize>,
    /// The last offset located, with its line index and 1-based column.
    last: Option<(usize, usize, usize)>,
}

impl<'a> Locator<'a> {
    fn new(source: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            source,
            line_starts,
            last: None,
        }
    }

    fn locate(&mut self, byte: usize) -> Location {
        let line = self.line_starts.partition_point(|s| *s <= byte) - 1;
        let (from, col) = match self.last {
            Some((b, l, c)) if l == line && b <= byte => (b, c),
            _ => (self.line_starts[line], 1),
        };
        let column = col + self.source[from..byte].chars().count();
        self.last = Some((byte, line, column));
        Location {
            line: line + 1,
            column,
        }
    }
}

struct Sub<'s, 'a> {
    vars: &'s Vars,
    out: &'s mut String,
    missing: &'s mut Vec<UndefinedVar>,
    locator: &'s mut Locator<'a>,
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

impl Sub<'_, '_> {
    /// Substitutes in one line's code; false when expansion stopped (text too large).
    fn line(&mut self, code: &str, base: usize) -> bool {
        let mut rest = code;
        let mut consumed = base;
        while let Some(pos) = rest.find("${") {
            if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
                self.out.push_str(&rest[..pos - 1]);
                self.out.push_str("${");
                consumed += pos + 2;
                rest = &rest[pos + 2..];
                continue;
            }
            self.out.push_str(&rest[..pos]);
            let after = &rest[pos + 2..];
            let Some(end) = after.find('}') else {
                self.out.push_str(&rest[pos..]);
                return true;
            };
            let name = after[..end].trim();
            match self.vars.get(name) {
                Some(v) if self.out.len() + v.len() > MAX_EXPANDED_BYTES => {
                    self.missing.push(UndefinedVar {
                        name: name.to_string(),
                        location: self.locator.locate(consumed + pos),
                        too_large: true,
                    });
                    return false;
                }
                Some(v) => self.out.push_str(v),
                None => self.missing.push(UndefinedVar {
                    name: name.to_string(),
                    location: self.locator.locate(consumed + pos),
                    too_large: false,
                }),
            }
            consumed += pos + 3 + end;
            rest = &after[end + 1..];
        }
        self.out.push_str(rest);
        true
    }
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
                location: Location { line: 2, column: 4 },
                too_large: false,
            }]
        );
        assert!(parse_set("a b=1").is_err());
        assert_eq!(parse_set("k=v=w").unwrap(), ("k".into(), "v=w".into()));
    }

    #[test]
    fn scenario_locating_many_undefined_variables_is_linear() {
        // 60,000 undefined references over ~950 KB, on many lines and on one long line:
        // rescanning the file per error took 26 s; linear is milliseconds.
        let many_lines = "k: ${nope} ${nope}\n".repeat(30_000) + &"x".repeat(400_000);
        let one_line = format!("k: {}\n", "é ${nope} ".repeat(60_000));
        let start = std::time::Instant::now();
        let a = substitute(&many_lines, &Vars::new()).unwrap_err();
        let b = substitute(&one_line, &Vars::new()).unwrap_err();
        let took = start.elapsed();
        assert_eq!((a.len(), b.len()), (60_000, 60_000));
        assert_eq!(
            a[59_999].location,
            Location {
                line: 30_000,
                column: 12
            }
        );
        assert_eq!(
            b[1].location,
            Location {
                line: 1,
                column: 16
            }
        );
        assert_eq!(
            b[59_999].location,
            Location {
                line: 1,
                column: 6 + 59_999 * 10
            }
        );
        assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    }

    #[test]
    fn scenario_variable_expansion_is_bounded_and_names_the_variable() {
        let vars: Vars = [("big".to_string(), "x".repeat(1 << 20))].into();
        let source = "p: ${big}\n".repeat(1500);
        let err = substitute(&source, &vars).unwrap_err();
        assert_eq!(
            err,
            vec![UndefinedVar {
                name: "big".into(),
                location: Location { line: 8, column: 4 },
                too_large: true,
            }]
        );
        // Below the cap, every reference is expanded.
        let ok = substitute(&"p: ${big}\n".repeat(7), &vars).unwrap();
        assert_eq!(ok.len(), 7 * ((1 << 20) + 4));
    }
}
