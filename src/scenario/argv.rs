//! argv lists where `[kill, -STOP, 1234]` means what it says: numbers and booleans in a
//! command are taken as their text instead of being refused.

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// `deserialize_with` for `Vec<String>` argv fields.
pub fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items: Vec<Scalar> = Vec::deserialize(d).map_err(|_| {
        serde::de::Error::custom("a command is a list of words, like [systemctl, stop, kubelet]")
    })?;
    Ok(items
        .into_iter()
        .map(|s| match s {
            Scalar::Text(t) => t,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        })
        .collect())
}

/// The same for optional argv fields.
pub fn lenient_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    lenient(d).map(Some)
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Cmd {
        #[serde(deserialize_with = "super::lenient")]
        argv: Vec<String>,
    }

    #[test]
    fn numbers_become_words() {
        let c: Cmd = serde_json::from_str(r#"{"argv": ["kill", "-STOP", 1234, true]}"#).unwrap();
        assert_eq!(c.argv, ["kill", "-STOP", "1234", "true"]);
        assert!(serde_json::from_str::<Cmd>(r#"{"argv": "kill 1"}"#).is_err());
    }
}
