//! Reading one field of a mapping without hashing its key.
//!
//! Why: serde_json's `preserve_order` map (an `IndexMap` with the standard library's SipHash)
//! hashes the key of every lookup. The passes that look at every document of a revision — its
//! identity, whether a deployer or an ApplicationSet is among them — read `apiVersion`, `kind`
//! and `metadata` of mappings that hold three to five keys, where comparing the keys in order is
//! several times cheaper than hashing one: these lookups were 9 % of a cold check's samples
//! (`perf record`, `bench/core.py`'s 20,050-object repository).

use serde_json::Value;

/// Mappings with at most this many keys are searched in order; larger ones through their index.
const SCANNED: usize = 8;

/// `value[key]`: the field `key` of a mapping, `Null` when absent or when `value` is not a
/// mapping — the same answer as serde_json's `Index`, found by comparing keys in order in small
/// mappings.
pub fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    match value {
        Value::Object(map) if map.len() <= SCANNED => map
            .iter()
            .find_map(|(k, v)| (k == key).then_some(v))
            .unwrap_or(&NULL),
        Value::Object(map) => map.get(key).unwrap_or(&NULL),
        _ => &NULL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_as_index_does_in_small_and_large_mappings() {
        let small = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        let large: Value = (0..20)
            .map(|i| (format!("k{i}"), json!(i)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        for value in [&small, &large, &json!([1, 2]), &json!("text"), &Value::Null] {
            for key in ["apiVersion", "kind", "metadata", "k3", "k19", "absent", ""] {
                assert_eq!(field(value, key), &value[key], "{value} [{key}]");
            }
        }
        assert_eq!(field(field(&small, "metadata"), "name"), "a");
    }
}
