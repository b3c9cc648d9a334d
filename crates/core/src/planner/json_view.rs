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
    /// queued, and `Body::value` reads a bad one as null the same way). Read by [`Reader`],
    /// which takes what it is sure of and leaves the rest to serde_json: the same view either
    /// way (`the_quick_reading_is_serdes`).
    pub(super) fn parse(text: &'a str) -> JsonView<'a> {
        let mut reader = Reader { text, at: 0 };
        if let Some(view) = reader.value(0) {
            if reader.skip_space() == text.len() {
                return view;
            }
        }
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

/// An object as a `Map` holds its fields: sorted by key (stable: repeats stay in text order),
/// the last of each repeated key kept.
fn object<'a>(mut fields: Vec<(Cow<'a, str>, JsonView<'a>)>) -> JsonView<'a> {
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    if fields.windows(2).any(|w| w[0].0 == w[1].0) {
        let mut kept: Vec<(Cow<'a, str>, JsonView<'a>)> = Vec::with_capacity(fields.len());
        for entry in fields {
            match kept.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => kept.push(entry),
            }
        }
        fields = kept;
    }
    JsonView::Object(fields)
}

/// JSON read without serde's visitors: a million bodies are read, most of a few plain strings
/// in an object in an array in an object. It answers None for anything it is not sure of
/// (an escape is decoded, and a number read, by serde_json; anything else unusual, even bad
/// JSON, is left to serde_json whole), never a different value.
struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    /// Nesting the reader takes (serde_json refuses beyond 128).
    const DEPTH: usize = 100;

    fn skip_space(&mut self) -> usize {
        self.at = super::scan::skip_space(self.text.as_bytes(), self.at);
        self.at
    }

    /// The byte after spaces, consumed when it is `want`.
    fn eat(&mut self, want: u8) -> bool {
        let at = self.skip_space();
        let found = self.text.as_bytes().get(at) == Some(&want);
        self.at += usize::from(found);
        found
    }

    fn value(&mut self, depth: usize) -> Option<JsonView<'a>> {
        if depth > Self::DEPTH {
            return None;
        }
        let at = self.skip_space();
        let b = self.text.as_bytes();
        match *b.get(at)? {
            b'"' => self.string().map(JsonView::String),
            b'{' => {
                self.at += 1;
                let mut fields = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.skip_space();
                        if b.get(self.at) != Some(&b'"') {
                            return None;
                        }
                        let key = self.string()?;
                        if !self.eat(b':') {
                            return None;
                        }
                        fields.push((key, self.value(depth + 1)?));
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                Some(object(fields))
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value(depth + 1)?);
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                Some(JsonView::Array(items))
            }
            b't' => self.word("true", JsonView::Bool(true)),
            b'f' => self.word("false", JsonView::Bool(false)),
            b'n' => self.word("null", JsonView::Null),
            b'-' | b'0'..=b'9' => {
                let end = number_end(b, at)?;
                let number: Number = self.text[at..end].parse().ok()?;
                self.at = end;
                Some(JsonView::Number(number))
            }
            _ => None,
        }
    }

    fn word(&mut self, word: &str, view: JsonView<'a>) -> Option<JsonView<'a>> {
        self.at = word_end(self.text.as_bytes(), self.at, word.as_bytes())?;
        Some(view)
    }

    /// The string whose opening quote is at `self.at`: borrowed when it has no escape.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let b = self.text.as_bytes();
        let start = self.at + 1;
        let end = super::scan::string_stop(b, start);
        match *b.get(end)? {
            b'"' => {
                self.at = end + 1;
                return Some(Cow::Borrowed(&self.text[start..end]));
            }
            b'\\' => {}
            // JSON holds no raw control character in a string.
            _ => return None,
        }
        // An escape: the string's end found as the body check finds it (each escape checked
        // on the way), and the string decoded by serde_json.
        let after = string_end(b, self.at)?;
        let decoded: String = serde_json::from_str(&self.text[self.at..after]).ok()?;
        self.at = after;
        Some(Cow::Owned(decoded))
    }
}

/// Where the JSON value starting at `at` (its first byte, not a space) ends, when it is
/// well-formed: the extent serde_json reads there as one value, for every text
/// (`the_quick_skip_is_serdes`), checked without building anything (a million bodies are
/// checked as their queue is read). None for a value that is not well-formed, or nested
/// deeper than [`Reader::DEPTH`]: serde_json, which goes deeper, decides those.
pub(super) fn value_end(text: &str, at: usize) -> Option<usize> {
    skip_value(text.as_bytes(), at, 0)
}

fn skip_value(b: &[u8], at: usize, depth: usize) -> Option<usize> {
    use super::scan::skip_space;
    if depth > Reader::DEPTH {
        return None;
    }
    match *b.get(at)? {
        b'"' => string_end(b, at),
        b'{' => {
            let mut i = skip_space(b, at + 1);
            if b.get(i) == Some(&b'}') {
                return Some(i + 1);
            }
            loop {
                if b.get(i) != Some(&b'"') {
                    return None;
                }
                i = skip_space(b, string_end(b, i)?);
                if b.get(i) != Some(&b':') {
                    return None;
                }
                i = skip_space(b, skip_value(b, skip_space(b, i + 1), depth + 1)?);
                match *b.get(i)? {
                    b',' => i = skip_space(b, i + 1),
                    b'}' => return Some(i + 1),
                    _ => return None,
                }
            }
        }
        b'[' => {
            let mut i = skip_space(b, at + 1);
            if b.get(i) == Some(&b']') {
                return Some(i + 1);
            }
            loop {
                i = skip_space(b, skip_value(b, i, depth + 1)?);
                match *b.get(i)? {
                    b',' => i = skip_space(b, i + 1),
                    b']' => return Some(i + 1),
                    _ => return None,
                }
            }
        }
        b't' => word_end(b, at, b"true"),
        b'f' => word_end(b, at, b"false"),
        b'n' => word_end(b, at, b"null"),
        b'-' | b'0'..=b'9' => number_end(b, at),
        _ => None,
    }
}

fn word_end(b: &[u8], at: usize, word: &[u8]) -> Option<usize> {
    b[at..].starts_with(word).then_some(at + word.len())
}

/// The end of the string whose opening quote is at `at`: no raw control character, and each
/// escape one JSON has (`\u` and four hex digits, whatever they name: serde_json does not ask
/// more of a value it only passes over).
fn string_end(b: &[u8], at: usize) -> Option<usize> {
    let mut i = at + 1;
    loop {
        let stop = super::scan::string_stop(b, i);
        match *b.get(stop)? {
            b'"' => return Some(stop + 1),
            b'\\' => {}
            _ => return None,
        }
        i = match *b.get(stop + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => stop + 2,
            b'u' if b.get(stop + 2..stop + 6)?.iter().all(u8::is_ascii_hexdigit) => stop + 6,
            _ => return None,
        };
    }
}

/// The end of the number starting at `at`, by JSON's grammar: `-`, then `0` or digits not
/// led by `0`, then `.` and digits, then `e` or `E`, a sign and digits. What follows it is
/// for the caller to judge (`1.5.` ends before its second `.`), but for a `0` followed by a
/// digit, which serde_json refuses as a number.
fn number_end(b: &[u8], at: usize) -> Option<usize> {
    let digits = |i: usize| i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = at + usize::from(b[at] == b'-');
    i = match *b.get(i)? {
        // serde_json refuses a leading 0 followed by a digit there and then.
        b'0' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => return None,
        b'0' => i + 1,
        b'1'..=b'9' => digits(i + 1),
        _ => return None,
    };
    if b.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return None;
        }
        i = end;
    }
    Some(i)
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
                Ok(object(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Random JSON of every kind (escapes of each sort, unicode, numbers big and small and
    /// out of range, spaces, repeated keys, nesting to and past serde's limit): 3,000 texts,
    /// then three deep ones (99, 101 and 200 arrays), then each broken a few ways (a byte
    /// taken out, doubled or replaced by one that matters to JSON), the broken ones last.
    /// Returns the texts and how many are good.
    fn sample_texts() -> (Vec<String>, usize) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(0x9e37_79b9_7f4a_7c15);
        let mut next = move |n: u64| rng.gen_range(0..n);
        let strings = [
            "",
            "plain",
            "Last_Name",
            "u1@x.example",
            "@{q1}",
            r#"a\"b"#,
            r"back\\slash",
            r"tab\there",
            r"\u0041\u00e9",
            r"\ud83e\udd80",
            r"\ud83e lone",
            "é ✓",
            r"\/",
            r"line\nbreak",
            r"\b\f\r",
        ];
        let numbers = [
            "0",
            "-0",
            "1",
            "-1",
            "42",
            "1.5",
            "-2.25",
            "1e3",
            "1E-2",
            "2.5e+10",
            "0.1",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "1e400",
            "5725767000001003534",
        ];
        fn gen(next: &mut dyn FnMut(u64) -> u64, depth: u32, s: &[&str], n: &[&str]) -> String {
            let space = |k: u64| [" ", "", "\n", "\t ", "\r\n"][k as usize];
            match if depth > 3 { next(4) } else { next(7) } {
                0 => format!("\"{}\"", s[next(s.len() as u64) as usize]),
                1 => n[next(n.len() as u64) as usize].to_string(),
                2 => ["true", "false", "null"][next(3) as usize].to_string(),
                3 => format!("\"{}\"", s[next(s.len() as u64) as usize]),
                4 | 5 => {
                    let items: Vec<String> = (0..next(4))
                        .map(|_| {
                            format!(
                                "\"{}\"{}:{}",
                                s[next(4) as usize],
                                space(next(5)),
                                gen(next, depth + 1, s, n)
                            )
                        })
                        .collect();
                    format!(
                        "{{{}{}}}",
                        space(next(5)),
                        items.join(&format!(",{}", space(next(5))))
                    )
                }
                _ => {
                    let items: Vec<String> =
                        (0..next(4)).map(|_| gen(next, depth + 1, s, n)).collect();
                    format!("[{}]", items.join(","))
                }
            }
        }
        let mut texts: Vec<String> = (0..3000)
            .map(|_| gen(&mut next, 0, &strings, &numbers))
            .collect();
        texts.push(format!("{}1{}", "[".repeat(99), "]".repeat(99)));
        texts.push(format!("{}1{}", "[".repeat(101), "]".repeat(101)));
        texts.push(format!("{}1{}", "[".repeat(200), "]".repeat(200)));
        let good = texts.len();
        for k in 0..good {
            for _ in 0..4 {
                let mut bytes = texts[k].as_bytes().to_vec();
                if bytes.is_empty() {
                    break;
                }
                let at = next(bytes.len() as u64) as usize;
                let put = [
                    b'"', b'{', b'}', b'[', b']', b'\\', 0x01, b',', b':', b' ', b'n', b'1', b'-',
                    b'e', b'.', b'u', b'0',
                ];
                match next(3) {
                    0 => {
                        bytes.remove(at);
                    }
                    1 => bytes.insert(at, bytes[at]),
                    _ => bytes[at] = put[next(put.len() as u64) as usize],
                }
                if let Ok(broken) = String::from_utf8(bytes) {
                    texts.push(broken);
                }
            }
        }
        (texts, good)
    }

    fn serdes(t: &str) -> JsonView<'_> {
        serde_json::from_str(t).unwrap_or(JsonView::Null)
    }

    /// The quick reading gives what serde_json's reading of the same text gives, for every
    /// text of [`sample_texts`], good or broken.
    #[test]
    fn the_quick_reading_is_serdes() {
        let (texts, good) = sample_texts();
        // The quick reading takes every text within its depth that serde reads (a number out
        // of range, 1e400, and a lone surrogate are refused by both: they read as null).
        let quick = |t: &str| {
            let mut r = Reader { text: t, at: 0 };
            r.value(0).is_some() && r.skip_space() == t.len()
        };
        for t in &texts[..good - 2] {
            assert!(
                quick(t)
                    || (serdes(t) == JsonView::Null
                        && (t.contains("1e400") || t.contains(r"\ud83e lone"))),
                "{t}"
            );
        }
        assert!(!quick(&texts[good - 2]) && !quick(&texts[good - 1]));
        for text in &texts {
            assert_eq!(JsonView::parse(text), serdes(text), "{text}");
        }
        assert!(texts.len() - good > 10_000, "{}", texts.len() - good);
    }

    /// The quick check of a value's extent (`value_end`, which lets a queue's bodies be kept
    /// without serde_json reading each) answers exactly when serde_json reads one value at the
    /// start of the text, and with the same end, for every text of [`sample_texts`], good or
    /// broken, with and without more after the value; it leaves only what is nested past its
    /// depth to serde_json.
    #[test]
    fn the_quick_skip_is_serdes() {
        use serde_json::value::RawValue;
        let (texts, good) = sample_texts();
        let (mut agreed, mut refused) = (0, 0);
        for text in &texts {
            for tail in ["", ", \"next\": 1}", "  ", "]x"] {
                let t = format!("{text}{tail}");
                // serde_json's reading of one value where the text starts, as `json_value`
                // falls back to it (no space is skipped before the value there either).
                let start = super::super::scan::skip_space(t.as_bytes(), 0);
                if start != 0 {
                    continue;
                }
                let mut de = serde_json::Deserializer::from_str(&t);
                let serde_end = <&RawValue as Deserialize>::deserialize(&mut de)
                    .ok()
                    .map(|v| v.get().len());
                let quick = value_end(&t, 0);
                match quick {
                    Some(end) => {
                        assert_eq!(Some(end), serde_end, "{t}");
                        agreed += 1;
                    }
                    None => {
                        let too_deep = t.starts_with(&"[".repeat(Reader::DEPTH + 1));
                        assert!(serde_end.is_none() || too_deep, "{t}");
                        refused += 1;
                    }
                }
            }
        }
        // Both kinds of answer were met, many times.
        assert!(agreed > 10_000 && refused > 10_000, "{agreed} {refused}");
        // The texts of the deep ones at their limit: taken quick when within it.
        assert!(value_end(&texts[good - 3], 0).is_some());
    }

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
