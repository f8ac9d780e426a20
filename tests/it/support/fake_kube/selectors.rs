//! Label selectors (query syntax and `metav1.LabelSelector` objects) and field selectors.

use std::collections::BTreeMap;

use serde_json::Value;

use super::meta;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// One label requirement; `key=value` is `In` with one value, `key!=value` is `NotIn`.
#[derive(Debug, Clone)]
struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses the `labelSelector` query syntax: `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(text: &str) -> Result<Self, String> {
        split_top_level(text)
            .into_iter()
            .filter(|term| !term.trim().is_empty())
            .map(|term| parse_requirement(term.trim()))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Reads a `metav1.LabelSelector` object (`matchLabels` and `matchExpressions`).
    pub fn from_object(selector: &Value) -> Result<Self, String> {
        let mut requirements: Vec<Requirement> = meta::string_map(selector.get("matchLabels"))
            .into_iter()
            .map(|(key, value)| Requirement {
                key,
                operator: Operator::In,
                values: vec![value],
            })
            .collect();
        for expression in selector["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let operator = match expression["operator"].as_str() {
                Some("In") => Operator::In,
                Some("NotIn") => Operator::NotIn,
                Some("Exists") => Operator::Exists,
                Some("DoesNotExist") => Operator::DoesNotExist,
                other => return Err(format!("unknown label selector operator {other:?}")),
            };
            let values = expression["values"].as_array().into_iter().flatten();
            requirements.push(Requirement {
                key: expression["key"].as_str().unwrap_or_default().to_string(),
                operator,
                values: values
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            });
        }
        Ok(Self(requirements))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| r.matches(labels))
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
}

fn parse_requirement(term: &str) -> Result<Requirement, String> {
    let requirement = |key: &str, operator, values: Vec<&str>| Requirement {
        key: key.trim().to_string(),
        operator,
        values: values.into_iter().map(|v| v.trim().to_string()).collect(),
    };
    if let Some(key) = term.strip_prefix('!') {
        return Ok(requirement(key, Operator::DoesNotExist, vec![]));
    }
    if let Some((head, rest)) = term.split_once('(') {
        let values = rest
            .strip_suffix(')')
            .ok_or_else(|| format!("unclosed set in label selector term {term:?}"))?;
        let values = values.split(',').collect();
        return match head.split_whitespace().collect::<Vec<_>>()[..] {
            [key, "in"] => Ok(requirement(key, Operator::In, values)),
            [key, "notin"] => Ok(requirement(key, Operator::NotIn, values)),
            _ => Err(format!("unable to parse requirement {term:?}")),
        };
    }
    for (token, operator) in [
        ("!=", Operator::NotIn),
        ("==", Operator::In),
        ("=", Operator::In),
    ] {
        if let Some((key, value)) = term.split_once(token) {
            return Ok(requirement(key, operator, vec![value]));
        }
    }
    Ok(requirement(term, Operator::Exists, vec![]))
}

/// A parsed field selector: `path=value` / `path==value` / `path!=value`, comma-separated.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text.split(',').filter(|t| !t.is_empty()) {
            let (path, equal, value) = if let Some((p, v)) = term.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (p, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{text}'; can't understand '{term}'"
                ));
            };
            terms.push((path.trim().to_string(), equal, value.trim().to_string()));
        }
        Ok(Self(terms))
    }

    /// Compares the string form of each field (missing fields read as empty, as upstream).
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, equal, expected)| {
            let pointer = format!("/{}", path.replace('.', "/"));
            let actual = match object.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == *expected) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selector_query_syntax_matches_like_upstream() {
        let web = labels(&[("app", "web"), ("tier", "front")]);
        let cases = [
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("app in (db, web)", true),
            ("tier notin (front),app", false),
            ("!app", false),
            ("missing", false),
            ("missing!=x", true),
            ("", true),
        ];
        for (selector, expected) in cases {
            let parsed = LabelSelector::parse(selector).expect(selector);
            assert_eq!(parsed.matches(&web), expected, "{selector}");
        }
        assert!(LabelSelector::parse("app in (web").is_err());
    }

    #[test]
    fn label_selector_objects_combine_labels_and_expressions() {
        let selector = json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["batch"]}],
        });
        let parsed = LabelSelector::from_object(&selector).expect("valid");
        assert!(parsed.matches(&labels(&[("app", "web")])));
        assert!(!parsed.matches(&labels(&[("app", "web"), ("tier", "batch")])));
    }

    #[test]
    fn field_selectors_compare_string_forms() {
        let pod =
            json!({"metadata": {"name": "a"}, "spec": {"nodeName": "n1", "hostNetwork": false}});
        let matches = |text: &str| FieldSelector::parse(text).expect(text).matches(&pod);
        assert!(matches("spec.nodeName=n1,metadata.name==a"));
        assert!(matches("spec.hostNetwork=false"));
        assert!(!matches("spec.nodeName!=n1"));
        assert!(matches("status.phase="));
    }
}
