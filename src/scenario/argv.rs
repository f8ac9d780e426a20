//! argv lists where `[kill, -STOP, 1234]` means what it says: numbers and booleans in a
//! command are taken as their text instead of being refused.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// One word of a command: text, or a number/boolean taken as its text.
struct Word(String);

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct WordVisitor;
        impl Visitor<'_> for WordVisitor {
            type Value = Word;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a word (text, number or boolean)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
        }
        d.deserialize_any(WordVisitor)
    }
}

struct ArgvVisitor;

impl<'de> Visitor<'de> for ArgvVisitor {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a command as a list of words, like [systemctl, stop, kubelet]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut out = Vec::new();
        while let Some(Word(w)) = seq.next_element()? {
            out.push(w);
        }
        Ok(out)
    }
}

/// `deserialize_with` for `Vec<String>` argv fields.
pub fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_seq(ArgvVisitor)
}

/// The same for optional argv fields.
pub fn lenient_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    lenient(d).map(Some)
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct Cmd {
        #[serde(deserialize_with = "super::lenient")]
        argv: Vec<String>,
    }

    #[test]
    fn numbers_become_words() {
        let c: Cmd = serde_json::from_str(r#"{"argv": ["kill", "-STOP", 1234, true]}"#).unwrap();
        assert_eq!(c.argv, ["kill", "-STOP", "1234", "true"]);
        let e = serde_json::from_str::<Cmd>(r#"{"argv": "kill 1"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("list of words"), "{e}");
        assert!(serde_json::from_str::<Cmd>(r#"{"argv": [["nested"]]}"#).is_err());
    }
}
