//! Where each key path sits in the YAML source, so errors found after parsing (in
//! values deserialised piecewise, or in cross-references) can still name line and column.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

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
    pub fn build(source: &str) -> Result<Self, (Location, String)> {
        let mut walker = Walker::default();
        Parser::new_from_str(source)
            .load(&mut walker, false)
            .map_err(|e| (to_location(e.marker()), e.info().to_string()))?;
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
}

impl Walker {
    /// Path of the value that starts now; records it and advances the parent.
    fn value_path(&mut self, mark: Marker) -> String {
        let path = match self.stack.last_mut() {
            None => String::new(),
            Some(Frame::Map { path, pending_key }) => {
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

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, ..) => {
                if let Some(Frame::Map { path, pending_key }) = self.stack.last_mut() {
                    if pending_key.is_none() {
                        self.index.insert(join(path, &text), to_location(&mark));
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
}
