//! The self-describing value tree that stages write as facts.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A fact value: a small self-describing tree, like JSON with bytes and
/// separate signed and unsigned integers (seeds use the full `u64` range).
///
/// Maps are ordered by key, so the same facts always encode to the same bytes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub enum Value {
    /// No value: unknown or absent.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An ordered list.
    List(Vec<Value>),
    /// A map from text keys to values, ordered by key.
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// A map built from key/value pairs.
    pub fn map<K, I>(entries: I) -> Value
    where
        K: Into<String>,
        I: IntoIterator<Item = (K, Value)>,
    {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The value under `key`, if this is a map that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.get(key),
            _ => None,
        }
    }

    /// The value at the end of `path`, following one map key per segment;
    /// a segment that is a decimal number indexes a list instead. `None`
    /// when a key is missing, an index is out of range, or a segment meets
    /// something that is neither a map nor a list (text, a number, null).
    /// An empty path gives the value itself.
    ///
    /// Stored facts are keyed by stage name first, so a fact of the built-in
    /// `metadata` stage is `facts["metadata"].path(["generation", "seed"])`,
    /// or [`StageInput::fact`](crate::StageInput::fact) in a stage.
    ///
    /// ```
    /// use kiln_plugin_api::Value;
    ///
    /// let lora = Value::map([("name", Value::from("detail")), ("strength", Value::from(0.8))]);
    /// let metadata = Value::map([(
    ///     "generation",
    ///     Value::map([
    ///         ("seed", Value::from(42u64)),
    ///         ("model", Value::Null),
    ///         ("loras", Value::List(vec![lora])),
    ///     ]),
    /// )]);
    /// assert_eq!(metadata.path(["generation", "seed"]).and_then(Value::as_u64), Some(42));
    /// assert_eq!(metadata.path(["generation", "loras", "0", "name"]).and_then(Value::as_str), Some("detail"));
    /// // A key that is there with an unknown value, a missing key, and a step
    /// // into something that is not a map or list:
    /// assert_eq!(metadata.path(["generation", "model"]), Some(&Value::Null));
    /// assert_eq!(metadata.path(["generation", "steps"]), None);
    /// assert_eq!(metadata.path(["generation", "seed", "low_bits"]), None);
    /// ```
    pub fn path<I, K>(&self, path: I) -> Option<&Value>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        path.into_iter()
            .try_fold(self, |value, segment| value.child(segment.as_ref()))
    }

    /// One step of [`Value::path`].
    fn child(&self, segment: &str) -> Option<&Value> {
        match self {
            Value::Map(map) => map.get(segment),
            Value::List(items) => {
                // Only plain decimal digits index a list: no sign, no spaces.
                if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                items.get(segment.parse::<usize>().ok()?)
            }
            _ => None,
        }
    }

    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text, if this is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as `u64`, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::UInt(u) => Some(*u),
            Value::Int(i) => u64::try_from(*i).ok(),
            _ => None,
        }
    }

    /// The number as `i64`, if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::UInt(u) => i64::try_from(*u).ok(),
            _ => None,
        }
    }

    /// The number as `f64`, if it is any number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::UInt(u) => Some(*u as f64),
            _ => None,
        }
    }

    /// The bytes, if this is bytes.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The entries, if this is a map.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::UInt(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::UInt(u64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::List(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::Value;

    fn tree() -> Value {
        Value::map([
            ("name", Value::from("a")),
            (
                "list",
                Value::List(vec![
                    Value::from(1u64),
                    Value::map([("x", Value::from(2u64))]),
                ]),
            ),
            ("empty", Value::map::<&str, _>([])),
            ("nothing", Value::Null),
        ])
    }

    #[test]
    fn an_empty_path_is_the_value_itself() {
        let tree = tree();
        assert_eq!(tree.path::<[&str; 0], &str>([]), Some(&tree));
    }

    #[test]
    fn keys_and_indices_are_followed() {
        let tree = tree();
        assert_eq!(tree.path(["name"]).and_then(Value::as_str), Some("a"));
        assert_eq!(tree.path(["list", "0"]).and_then(Value::as_u64), Some(1));
        assert_eq!(
            tree.path(vec!["list".to_owned(), "1".to_owned(), "x".to_owned()])
                .and_then(Value::as_u64),
            Some(2)
        );
        assert_eq!(tree.path(["nothing"]), Some(&Value::Null));
    }

    #[test]
    fn missing_keys_and_bad_indices_are_none() {
        let tree = tree();
        for path in [
            &["missing"][..],
            &["empty", "x"],
            &["list", "2"],
            &["list", "-1"],
            &["list", "+1"],
            &["list", " 1"],
            &["list", ""],
            &["list", "x"],
            &["list", "99999999999999999999999999"],
        ] {
            assert_eq!(tree.path(path.iter().copied()), None, "{path:?}");
        }
    }

    #[test]
    fn a_step_into_a_leaf_is_none() {
        let tree = tree();
        for path in [
            &["name", "x"][..],
            &["name", "0"],
            &["nothing", "x"],
            &["list", "0", "x"],
        ] {
            assert_eq!(tree.path(path.iter().copied()), None, "{path:?}");
        }
        assert_eq!(Value::from(3u64).path(["0"]), None);
        assert_eq!(Value::Null.path(["a"]), None);
    }

    #[test]
    fn a_map_key_that_looks_like_a_number_is_a_key() {
        let tree = Value::map([("0", Value::from("zero"))]);
        assert_eq!(tree.path(["0"]).and_then(Value::as_str), Some("zero"));
    }
}
