//! A queued call's body as the planner reads it: a JSON value whose strings are borrowed from
//! the body's text. Classifying a million calls reads every body once; a `serde_json::Value`
//! allocates each key and each string (eight allocations for a one-record insert), this one
//! only its arrays and objects (three), and frees as much.

use std::borrow::Cow;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Number;

/// A JSON value borrowed from its text. An object holds its keys sorted, the last of repeated
/// keys kept: what a `serde_json::Map` holds, so everything read from it (iteration order,
/// [`JsonView::to_string`]) is what the same body parsed as a `Value` gives.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum JsonView<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<JsonView<'a>>),
    Object(Vec<(Cow<'a, str>, JsonView<'a>)>),
}

impl<'a> JsonView<'a> {
    /// `text` parsed; `Null` when it is not JSON (a body was checked to be JSON when it was
    /// queued, and `Body::value` reads a bad one as null the same way).
    pub(super) fn parse(text: &'a str) -> JsonView<'a> {
        serde_json::from_str(text).unwrap_or(JsonView::Null)
    }

    /// The value at `key` of an object.
    pub(super) fn get(&self, key: &str) -> Option<&JsonView<'a>> {
        let fields = self.as_object()?;
        // Keys are unique: a small object (most bodies and records) is searched in order,
        // telling keys apart by length before bytes; a big one by halves.
        if fields.len() <= 8 {
            return fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        }
        fields
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| &fields[i].1)
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            JsonView::String(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn as_array(&self) -> Option<&[JsonView<'a>]> {
        match self {
            JsonView::Array(a) => Some(a),
            _ => None,
        }
    }

    pub(super) fn as_object(&self) -> Option<&[(Cow<'a, str>, JsonView<'a>)]> {
        match self {
            JsonView::Object(o) => Some(o),
            _ => None,
        }
    }

    pub(super) fn is_array(&self) -> bool {
        matches!(self, JsonView::Array(_))
    }

    pub(super) fn is_object(&self) -> bool {
        matches!(self, JsonView::Object(_))
    }
}

/// A parsed value seen the same way (strings borrowed from it).
impl<'a> From<&'a serde_json::Value> for JsonView<'a> {
    fn from(v: &'a serde_json::Value) -> JsonView<'a> {
        use serde_json::Value;
        match v {
            Value::Null => JsonView::Null,
            Value::Bool(b) => JsonView::Bool(*b),
            Value::Number(n) => JsonView::Number(n.clone()),
            Value::String(s) => JsonView::String(Cow::Borrowed(s)),
            Value::Array(a) => JsonView::Array(a.iter().map(JsonView::from).collect()),
            // A `Map` iterates in key order already.
            Value::Object(o) => JsonView::Object(
                o.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), JsonView::from(v)))
                    .collect(),
            ),
        }
    }
}

/// Compact JSON, as `serde_json::Value`'s `Display` writes the same value.
impl std::fmt::Display for JsonView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for JsonView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JsonView::Null => s.serialize_unit(),
            JsonView::Bool(b) => s.serialize_bool(*b),
            JsonView::Number(n) => n.serialize(s),
            JsonView::String(t) => s.serialize_str(t),
            JsonView::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            JsonView::Object(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for JsonView<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonView<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<JsonView<'de>, E> {
                Ok(JsonView::Null)
            }
            fn visit_none<E>(self) -> Result<JsonView<'de>, E> {
                Ok(JsonView::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<JsonView<'de>, E> {
                Ok(JsonView::Bool(b))
            }
            fn visit_u64<E>(self, n: u64) -> Result<JsonView<'de>, E> {
                Ok(JsonView::Number(n.into()))
            }
            fn visit_i64<E>(self, n: i64) -> Result<JsonView<'de>, E> {
                Ok(JsonView::Number(n.into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<JsonView<'de>, E> {
                // JSON text holds no NaN or infinity; `Value` reads one as null the same way.
                Ok(Number::from_f64(n).map_or(JsonView::Null, JsonView::Number))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<JsonView<'de>, E> {
                Ok(JsonView::String(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<JsonView<'de>, E> {
                Ok(JsonView::String(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<JsonView<'de>, E> {
                Ok(JsonView::String(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonView<'de>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(JsonView::Array(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonView<'de>, A::Error> {
                let mut out: Vec<(Cow<'de, str>, JsonView<'de>)> = Vec::new();
                // A key is read as any value is (a JSON key is a string).
                while let Some(key) = map.next_key::<JsonView<'de>>()? {
                    let JsonView::String(key) = key else {
                        return Err(serde::de::Error::custom(
                            "an object key that is not a string",
                        ));
                    };
                    out.push((key, map.next_value()?));
                }
                // As a `Map` holds them: sorted (stable: repeats stay in text order), the last
                // of each repeated key kept.
                out.sort_by(|a, b| a.0.cmp(&b.0));
                if out.windows(2).any(|w| w[0].0 == w[1].0) {
                    let mut kept: Vec<(Cow<'de, str>, JsonView<'de>)> =
                        Vec::with_capacity(out.len());
                    for entry in out {
                        match kept.last_mut() {
                            Some(last) if last.0 == entry.0 => *last = entry,
                            _ => kept.push(entry),
                        }
                    }
                    out = kept;
                }
                Ok(JsonView::Object(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Everything the planner reads of a body is what the same text parsed as a `Value` says:
    /// the compact text (key order, escapes, numbers), strings, lookups, repeated keys.
    #[test]
    fn a_view_reads_as_the_value_of_the_same_text() {
        let texts = [
            r#"{"data":[{"Last_Name":"N1","Email":"u1@x.example"}]}"#,
            r#"{"b":1,"a":[true,false,null],"c":{"z":1.5,"y":-3,"x":"\u0040{q1}"}}"#,
            r#"{"k":1,"k":2,"j":"a\"b\\c\n"}"#,
            r#"[1e3, 18446744073709551615, -9223372036854775808, 0.1, "é"]"#,
            r#"{"data":[{"id":"5725767000001001016","Description":"touched","id":7}]}"#,
            r#""just a string""#,
            "null",
        ];
        for text in texts {
            let value: Value = serde_json::from_str(text).unwrap();
            let view = JsonView::parse(text);
            assert_eq!(view.to_string(), value.to_string(), "{text}");
            if let Some(o) = value.as_object() {
                for (k, v) in o {
                    assert_eq!(view.get(k).map(|x| x.to_string()), Some(v.to_string()));
                }
                let keys: Vec<&str> = view
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, _)| &**k)
                    .collect();
                let want: Vec<&str> = o.keys().map(String::as_str).collect();
                assert_eq!(keys, want, "{text}");
                assert_eq!(view.get("absent"), None);
            }
        }
        // Objects small and big (searched in order, or by halves) find every key, and only those.
        for n in [1, 8, 9, 40] {
            let text = format!(
                "{{{}}}",
                (0..n)
                    .rev()
                    .map(|i| format!("\"k{i}\":{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let view = JsonView::parse(&text);
            for i in 0..n {
                assert_eq!(
                    view.get(&format!("k{i}")),
                    Some(&JsonView::Number(i.into())),
                    "{text}"
                );
            }
            assert_eq!(view.get("k"), None);
            assert_eq!(view.get(&format!("k{n}")), None);
        }
        let view = JsonView::parse(r#"{"k":1,"k":2}"#);
        assert_eq!(view.get("k"), Some(&JsonView::Number(2.into())));
        // Unescaped strings are borrowed from the text, escaped ones owned.
        let view = JsonView::parse(r#"{"a":"plain","b":"es\"caped"}"#);
        assert!(matches!(
            view.get("a"),
            Some(JsonView::String(Cow::Borrowed("plain")))
        ));
        assert!(matches!(
            view.get("b"),
            Some(JsonView::String(Cow::Owned(_)))
        ));
        assert_eq!(JsonView::parse("{not json"), JsonView::Null);
    }
}
