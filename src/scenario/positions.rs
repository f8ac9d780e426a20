//! Where each key path sits in the YAML source, so errors found after parsing (in
//! values deserialised piecewise, or in cross-references) can still name line and column.

use std::collections::{HashMap, HashSet};

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

/// Deepest nesting of mappings and sequences accepted in a scenario or vars file.
/// (serde_yaml itself stops at 128; this limit keeps our error the one users see.)
pub const MAX_DEPTH: usize = 100;

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// Key path (`probes[0].http.url`) → location of the key (or of the item for sequences).
#[derive(Debug, Default)]
pub struct PositionIndex {
    by_path: HashMap<String, Location>,
}

impl PositionIndex {
    /// Indexes `source`; returns the syntax error's location and message on failure.
    ///
    /// The walk pulls events one at a time (no recursion) and refuses nesting deeper than
    /// [`MAX_DEPTH`] and a second document, so the recursive parsers that run afterwards
    /// (serde_yaml, serde_json) only ever see shallow, single-document input.
    pub fn build(source: &str) -> Result<Self, (Location, String)> {
        check_characters(source)?;
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(source);
        let mut documents = 0usize;
        loop {
            let (ev, mark) = parser
                .next_token()
                .map_err(|e| (to_location(e.marker()), e.info().to_string()))?;
            match ev {
                Event::StreamEnd => break,
                Event::DocumentStart => {
                    documents += 1;
                    if documents > 1 {
                        return Err((
                            to_location(&mark),
                            "a second YAML document starts here; a file holds one document \
                             (remove the `---` line or split the file)"
                                .to_string(),
                        ));
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..)
                    if walker.stack.len() >= MAX_DEPTH =>
                {
                    return Err((
                        to_location(&mark),
                        format!("nesting deeper than {MAX_DEPTH} levels is not supported"),
                    ));
                }
                _ => {}
            }
            walker.on_event(ev, mark);
            if let Some(e) = walker.error.take() {
                return Err(e);
            }
        }
        Ok(Self {
            by_path: walker.index,
        })
    }

    /// The location of `path`, or of its closest indexed parent.
    pub fn locate(&self, path: &str) -> Option<Location> {
        let mut p = path.to_string();
        loop {
            if let Some(l) = self.by_path.get(&p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }
}

/// Refuses control characters YAML does not allow (NUL above all), with their location.
fn check_characters(source: &str) -> Result<(), (Location, String)> {
    let bad = |c: char| (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{7f}';
    let Some(at) = source.find(bad) else {
        return Ok(());
    };
    let before = &source[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let c = source[at..].chars().next().unwrap_or('\0');
    let what = if c == '\0' {
        "a NUL byte".to_string()
    } else {
        format!("control character U+{:04X}", c as u32)
    };
    Err((
        Location { line, column },
        format!("{what} is not allowed in YAML"),
    ))
}

fn to_location(m: &Marker) -> Location {
    Location {
        line: m.line(),
        column: m.col() + 1,
    }
}

enum Frame {
    Map {
        path: String,
        pending_key: Option<String>,
        keys: HashSet<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    index: HashMap<String, Location>,
    /// The first structural error found (a duplicate key).
    error: Option<(Location, String)>,
}

impl Walker {
    /// Path of the value that starts now; records it and advances the parent.
    fn value_path(&mut self, mark: Marker) -> String {
        let path = match self.stack.last_mut() {
            None => String::new(),
            Some(Frame::Map {
                path, pending_key, ..
            }) => {
                let key = pending_key.take().unwrap_or_default();
                join(path, &key)
            }
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                self.index.entry(p.clone()).or_insert(to_location(&mark));
                p
            }
        };
        path
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, ..) => {
                if let Some(Frame::Map {
                    path,
                    pending_key,
                    keys,
                }) = self.stack.last_mut()
                {
                    if pending_key.is_none() {
                        let full = join(path, &text);
                        if !keys.insert(text.clone()) {
                            if self.error.is_none() {
                                let first = self.index.get(&full).map(|l| l.line).unwrap_or(0);
                                self.error = Some((
                                    to_location(&mark),
                                    format!("duplicate key `{text}` (first on line {first})"),
                                ));
                            }
                            *pending_key = Some(text);
                            return;
                        }
                        self.index.insert(full, to_location(&mark));
                        *pending_key = Some(text);
                        return;
                    }
                }
                self.value_path(mark);
            }
            Event::Alias(_) => {
                self.value_path(mark);
            }
            Event::MappingStart(..) => {
                let path = self.value_path(mark);
                self.stack.push(Frame::Map {
                    path,
                    pending_key: None,
                    keys: HashSet::new(),
                });
            }
            Event::SequenceStart(..) => {
                let path = self.value_path(mark);
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_keys_and_items() {
        let src = "a:\n  b: 1\nlist:\n  - x: 2\n  - y: 3\n";
        let idx = PositionIndex::build(src).unwrap();
        assert_eq!(idx.locate("a.b"), Some(Location { line: 2, column: 3 }));
        assert_eq!(
            idx.locate("list[1].y"),
            Some(Location { line: 5, column: 5 })
        );
        assert_eq!(
            idx.locate("list[1].y.deeper"),
            Some(Location { line: 5, column: 5 })
        );
        let err = PositionIndex::build("a: [1,\n").unwrap_err();
        assert!(err.0.line >= 1);
    }

    #[test]
    fn scenario_deep_nesting_is_refused_before_any_recursive_parser() {
        // One block sequence 30,000 deep overflowed the stack of the recursive walk.
        let src = format!("a: 1\nb:\n{}\n", "- ".repeat(30_000));
        let (loc, msg) = PositionIndex::build(&src).unwrap_err();
        assert_eq!(loc.line, 3);
        assert!(msg.contains("nesting deeper than 100 levels"), "{msg}");
        let flow = format!("a: {}{}\n", "[".repeat(50_000), "]".repeat(50_000));
        let (loc, msg) = PositionIndex::build(&flow).unwrap_err();
        assert_eq!(loc.line, 1);
        // The scanner's own flow-level limit may answer first; either way, an error.
        assert!(
            msg.contains("nesting deeper") || msg.contains("recursion limit"),
            "{msg}"
        );
        // Through the whole loader (serde_yaml never sees it).
        let doc = format!(
            "apiVersion: kubedrill/v1\nsteps:\n{}\n",
            "- ".repeat(40_000)
        );
        let errs =
            crate::scenario::load_str(std::path::Path::new("d.yaml"), &doc, &Default::default())
                .unwrap_err();
        assert!(errs[0].to_string().starts_with("d.yaml:3:"), "{}", errs[0]);
        // 100 levels are fine.
        let ok = format!("a: {}{}\n", "[".repeat(99), "]".repeat(99));
        assert!(PositionIndex::build(&ok).is_ok());
    }

    #[test]
    fn scenario_duplicate_keys_nul_bytes_and_second_documents_are_located() {
        let (loc, msg) = PositionIndex::build("a: 1\nb:\n  c: 1\n  c: 2\n").unwrap_err();
        assert_eq!((loc.line, loc.column), (4, 3));
        assert_eq!(msg, "duplicate key `c` (first on line 3)");
        let (loc, msg) = PositionIndex::build("a: 1\nb: x\0y\n").unwrap_err();
        assert_eq!((loc.line, loc.column), (2, 5));
        assert!(msg.contains("NUL"), "{msg}");
        let (loc, msg) = PositionIndex::build("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(loc.line, 2);
        assert!(msg.contains("second YAML document"), "{msg}");
        // Same key in different mappings is fine; so is one leading `---`.
        assert!(PositionIndex::build("---\na: { c: 1 }\nb: { c: 1 }\n").is_ok());
    }
}
