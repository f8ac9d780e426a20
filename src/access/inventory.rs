//! The inventory file: `nodes: [NodeSpec...]`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::NodeSpec;

/// Every node a run may touch.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Inventory {
    /// The nodes, in file order; names are unique.
    pub nodes: Vec<NodeSpec>,
}

/// Why an inventory file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read inventory {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("inventory {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
}

impl Inventory {
    /// Reads and checks an inventory file; errors name the file (and line:column for YAML).
    pub fn load(path: &Path) -> Result<Self, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
            path: path.into(),
            source,
        })?;
        Self::parse(&text).map_err(|message| InventoryError::Parse {
            path: path.into(),
            message,
        })
    }

    /// Parses inventory YAML and refuses duplicate node names.
    pub fn parse(text: &str) -> Result<Self, String> {
        let inventory: Inventory = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let mut seen = BTreeSet::new();
        for node in &inventory.nodes {
            if !seen.insert(node.name.as_str()) {
                return Err(format!("node `{}` is listed twice", node.name));
            }
        }
        Ok(inventory)
    }

    /// The inventory as YAML, as `load` reads it.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("an inventory always serialises")
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_duplicates_naming_the_file() {
        let yaml = "nodes:\n  - name: a\n    access: { local: {} }\n";
        let inv = Inventory::parse(yaml).unwrap();
        assert_eq!(inv.nodes[0].name, "a");
        assert_eq!(Inventory::parse(&inv.to_yaml()).unwrap(), inv);
        let dup = format!("{yaml}  - name: a\n    access: {{ local: {{}} }}\n");
        assert!(Inventory::parse(&dup).unwrap_err().contains("listed twice"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.yaml");
        std::fs::write(&path, "nodes:\n  - name: a\n    acces: {}\n").unwrap();
        let err = Inventory::load(&path).unwrap_err().to_string();
        assert!(err.contains("inv.yaml") && err.contains("acces"), "{err}");
    }
}
