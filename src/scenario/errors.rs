//! Validation errors that name file, line, column and key path, collected together.

use std::fmt;
use std::path::{Path, PathBuf};

use super::positions::{Location, PositionIndex};

/// One thing wrong with a scenario, in words a user can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    pub file: PathBuf,
    pub location: Option<Location>,
    /// Key path such as `probes[1].interval`; empty for the document itself.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.location {
            write!(f, ":{}:{}", l.line, l.column)?;
        }
        if self.path.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.path, self.message)
        }
    }
}

/// Collects every error of one file; locations come from the position index.
pub struct Errors<'a> {
    file: &'a Path,
    index: &'a PositionIndex,
    list: Vec<ScenarioError>,
}

impl<'a> Errors<'a> {
    /// An empty collection for `file`.
    pub fn new(file: &'a Path, index: &'a PositionIndex) -> Self {
        Self {
            file,
            index,
            list: Vec::new(),
        }
    }

    /// Records an error at `path`.
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        let location = self.index.locate(&path);
        self.list.push(ScenarioError {
            file: self.file.to_path_buf(),
            location,
            path,
            message: message.into(),
        });
    }

    /// Records an error whose location the parser already knows.
    pub fn add_at(
        &mut self,
        path: impl Into<String>,
        location: Option<Location>,
        message: impl Into<String>,
    ) {
        let path = path.into();
        let location = location.or_else(|| self.index.locate(&path));
        self.list.push(ScenarioError {
            file: self.file.to_path_buf(),
            location,
            path,
            message: message.into(),
        });
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// All errors, ordered by position in the file.
    pub fn into_vec(mut self) -> Vec<ScenarioError> {
        self.list.sort_by_key(|e| {
            e.location
                .map(|l| (l.line, l.column))
                .unwrap_or((usize::MAX, 0))
        });
        self.list
    }
}

/// A key path builder: `at("probes").index(1).key("interval")`.
#[derive(Debug, Clone, Default)]
pub struct KeyPath(String);

impl KeyPath {
    /// The path `key`.
    pub fn at(key: &str) -> Self {
        Self(key.to_string())
    }

    /// `self.key`.
    pub fn key(&self, key: &str) -> Self {
        if self.0.is_empty() {
            Self(key.to_string())
        } else {
            Self(format!("{}.{key}", self.0))
        }
    }

    /// `self[i]`.
    pub fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<KeyPath> for String {
    fn from(p: KeyPath) -> String {
        p.0
    }
}

impl From<&KeyPath> for String {
    fn from(p: &KeyPath) -> String {
        p.0.clone()
    }
}
