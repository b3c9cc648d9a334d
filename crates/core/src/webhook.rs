//! Reading what Zoho sends: notification callbacks, Bulk job callbacks and workflow webhooks, as
//! JSON, form-encoded or raw bodies. Pure functions over bytes; they never panic on any input
//! (a property test feeds them garbage).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Notification,
    Bulk,
    Workflow,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Notification => "notification",
            Kind::Bulk => "bulk",
            Kind::Workflow => "workflow",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "notification" => Some(Kind::Notification),
            "bulk" => Some(Kind::Bulk),
            "workflow" => Some(Kind::Workflow),
            _ => None,
        }
    }
}

/// How the body came.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Json(Value),
    Form(Vec<(String, String)>),
    Raw(String),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("malformed JSON at line {line}, column {column}: {reason}")]
    Json {
        line: usize,
        column: usize,
        reason: String,
    },
}

/// Reads a body by its content type: JSON (also when the type is missing and it parses as
/// JSON), form-encoded, or raw text (bytes that are not UTF-8 are kept lossily).
pub fn body(content_type: &str, bytes: &[u8]) -> Result<Body, ParseError> {
    let ct = content_type.to_ascii_lowercase();
    if ct.contains("json") {
        return serde_json::from_slice(bytes)
            .map(Body::Json)
            .map_err(|e| ParseError::Json {
                line: e.line(),
                column: e.column(),
                reason: e.to_string(),
            });
    }
    if ct.starts_with("application/x-www-form-urlencoded") {
        return Ok(Body::Form(crate::credits::table::parse_query(
            &String::from_utf8_lossy(bytes),
        )));
    }
    if ct.is_empty() {
        if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
            return Ok(Body::Json(v));
        }
    }
    Ok(Body::Raw(String::from_utf8_lossy(bytes).into_owned()))
}

impl Body {
    /// The body as JSON for display and export: form fields become an object.
    pub fn to_json(&self) -> Value {
        match self {
            Body::Json(v) => v.clone(),
            Body::Form(pairs) => Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect::<Map<_, _>>(),
            ),
            Body::Raw(s) => Value::String(s.clone()),
        }
    }

    fn field(&self, key: &str) -> Option<Value> {
        match self {
            Body::Json(v) => v.get(key).cloned(),
            Body::Form(pairs) => pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| Value::String(v.clone())),
            Body::Raw(_) => None,
        }
    }
}

/// What an event is about, read from its body.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Summary {
    pub module: Option<String>,
    pub operation: Option<String>,
    pub ids: Vec<String>,
    pub channel_id: Option<String>,
    pub token: Option<String>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn ids_of(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(text).take(10_000).collect(),
        // Form bodies carry ids as a comma list, or a JSON array in a string.
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) => a.iter().filter_map(text).collect(),
            _ => s
                .split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
        },
        other => text(other).into_iter().collect(),
    }
}

/// Reads the fields the tail shows: Zoho's notification payload
/// (`module`, `operation`, `ids`, `channel_id`, `token`); a Bulk job callback
/// (`data[0].operation/state`, the module in its query or resource); a workflow webhook (best
/// effort: `module`, `id`/`ids` if the admin put them in).
pub fn summary(kind: Kind, b: &Body) -> Summary {
    match kind {
        Kind::Notification | Kind::Workflow => Summary {
            module: b.field("module").as_ref().and_then(text),
            operation: b.field("operation").as_ref().and_then(text),
            ids: b
                .field("ids")
                .or_else(|| b.field("id"))
                .map(|v| ids_of(&v))
                .unwrap_or_default(),
            channel_id: b.field("channel_id").as_ref().and_then(text),
            token: b.field("token").as_ref().and_then(text),
        },
        Kind::Bulk => {
            let job = match b {
                Body::Json(v) => v
                    .get("data")
                    .and_then(|d| d.get(0))
                    .cloned()
                    .unwrap_or_else(|| v.clone()),
                _ => b.to_json(),
            };
            let module = job
                .pointer("/query/module/api_name")
                .or_else(|| job.pointer("/resource/0/module/api_name"))
                .and_then(text);
            let state = job
                .get("state")
                .or_else(|| job.get("status"))
                .and_then(text);
            let operation = job.get("operation").and_then(text).map(|op| match &state {
                Some(s) => format!("{op}:{s}"),
                None => op,
            });
            Summary {
                module,
                operation,
                ids: job
                    .get("id")
                    .or_else(|| job.get("job_id"))
                    .and_then(text)
                    .into_iter()
                    .collect(),
                channel_id: None,
                token: None,
            }
        }
    }
}

/// A tail filter: `module=Leads operation=insert kind=notification verified=true` terms (all
/// must hold), and bare words that must appear in the body or summary (case-insensitive).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    terms: Vec<(String, String)>,
    words: Vec<String>,
}

impl Filter {
    pub fn parse(expr: &str) -> Result<Filter, String> {
        let mut f = Filter::default();
        for part in expr.split_whitespace() {
            match part.split_once('=') {
                Some((k, v)) => {
                    let k = k.to_ascii_lowercase();
                    if ![
                        "module",
                        "operation",
                        "kind",
                        "channel",
                        "verified",
                        "name",
                        "id",
                    ]
                    .contains(&k.as_str())
                    {
                        return Err(format!("filter `{part}`: unknown field `{k}` (module, operation, kind, channel, verified, name, id)"));
                    }
                    f.terms.push((k, v.to_ascii_lowercase()));
                }
                None => f.words.push(part.to_ascii_lowercase()),
            }
        }
        Ok(f)
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.words.is_empty()
    }

    /// Whether an event with these fields passes.
    pub fn matches(
        &self,
        kind: Kind,
        name: Option<&str>,
        s: &Summary,
        verified: bool,
        body_text: &str,
    ) -> bool {
        let eq = |a: Option<&str>, want: &str| a.is_some_and(|x| x.eq_ignore_ascii_case(want));
        for (k, v) in &self.terms {
            let ok = match k.as_str() {
                "module" => eq(s.module.as_deref(), v),
                "operation" => s
                    .operation
                    .as_deref()
                    .is_some_and(|o| o.to_ascii_lowercase().starts_with(v.as_str())),
                "kind" => kind.as_str() == v,
                "channel" => eq(s.channel_id.as_deref(), v),
                "verified" => verified.to_string() == *v,
                "name" => eq(name, v),
                "id" => s.ids.iter().any(|i| i == v),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        if self.words.is_empty() {
            return true;
        }
        let hay = format!(
            "{} {} {} {}",
            body_text,
            s.module.as_deref().unwrap_or(""),
            s.operation.as_deref().unwrap_or(""),
            name.unwrap_or("")
        )
        .to_lowercase();
        self.words.iter().all(|w| hay.contains(w.as_str()))
    }
}

/// A body as it may be kept or shown: every value whose key names a credential (a channel's
/// `token`, a `secret`, a `password` …) replaced by `***`, at any depth of a JSON body or in a
/// form body. Raw bodies are kept as they came (nothing says where a secret would be).
pub fn redact_credentials(content_type: &str, bytes: &[u8]) -> Vec<u8> {
    fn walk(v: &mut Value) -> bool {
        let mut changed = false;
        match v {
            Value::Object(m) => {
                for (k, val) in m.iter_mut() {
                    if crate::secret::is_credential_name(k) && !val.is_null() {
                        *val = Value::String("***".into());
                        changed = true;
                    } else {
                        changed |= walk(val);
                    }
                }
            }
            Value::Array(a) => {
                for val in a {
                    changed |= walk(val);
                }
            }
            _ => {}
        }
        changed
    }
    match body(content_type, bytes) {
        Ok(Body::Json(mut v)) => {
            if walk(&mut v) {
                serde_json::to_vec(&v).unwrap_or_default()
            } else {
                bytes.to_vec()
            }
        }
        Ok(Body::Form(pairs))
            if pairs
                .iter()
                .any(|(k, _)| crate::secret::is_credential_name(k)) =>
        {
            let mut out = String::new();
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push('&');
                }
                out.push_str(&urlencode(k));
                out.push('=');
                if crate::secret::is_credential_name(k) {
                    out.push_str("***");
                } else {
                    out.push_str(&urlencode(v));
                }
            }
            out.into_bytes()
        }
        _ => bytes.to_vec(),
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn zohos_notification_payload() {
        let raw = br#"{"server_time":1718117126473,"query_params":{},"module":"Leads","resource_uri":"https://www.zohoapis.com/crm/v8/Leads","ids":["5725767000003000064"],"affected_fields":[],"operation":"insert","channel_id":"1000000068001","token":"TOKEN_FOR_VERIFICATION_OF_1000000068001"}"#;
        let b = body("application/json", raw).unwrap();
        let s = summary(Kind::Notification, &b);
        assert_eq!(s.module.as_deref(), Some("Leads"));
        assert_eq!(s.operation.as_deref(), Some("insert"));
        assert_eq!(s.ids, vec!["5725767000003000064"]);
        assert_eq!(s.channel_id.as_deref(), Some("1000000068001"));
        assert_eq!(
            s.token.as_deref(),
            Some("TOKEN_FOR_VERIFICATION_OF_1000000068001")
        );
        // channel_id as a number works too.
        let b = body(
            "application/json",
            br#"{"channel_id":1000000068001,"token":"t","ids":[1,2]}"#,
        )
        .unwrap();
        let s = summary(Kind::Notification, &b);
        assert_eq!(
            (s.channel_id.as_deref(), s.ids.len()),
            (Some("1000000068001"), 2)
        );
    }

    #[test]
    fn bulk_callbacks_and_forms_and_raw() {
        let cb = json!({"data":[{"id":"4150868000004716016","operation":"read","state":"COMPLETED","query":{"module":{"api_name":"Leads"},"page":1}}]});
        let b = body("application/json", cb.to_string().as_bytes()).unwrap();
        let s = summary(Kind::Bulk, &b);
        assert_eq!(
            (s.module.as_deref(), s.operation.as_deref()),
            (Some("Leads"), Some("read:COMPLETED"))
        );
        assert_eq!(s.ids, vec!["4150868000004716016"]);
        let f = body(
            "application/x-www-form-urlencoded",
            b"module=Deals&operation=edit&ids=1%2C2&note=big+deal",
        )
        .unwrap();
        let s = summary(Kind::Workflow, &f);
        assert_eq!(
            (s.module.as_deref(), s.ids.clone()),
            (Some("Deals"), vec!["1".to_string(), "2".to_string()])
        );
        assert_eq!(f.to_json()["note"], "big deal");
        let r = body("text/plain", b"deal 42 closed").unwrap();
        assert_eq!(r, Body::Raw("deal 42 closed".into()));
        assert!(matches!(
            body("application/json", b"{\"a\":"),
            Err(ParseError::Json { line: 1, .. })
        ));
        assert!(matches!(body("", b"{\"a\":1}"), Ok(Body::Json(_))));
    }

    #[test]
    fn filters() {
        let s = Summary {
            module: Some("Leads".into()),
            operation: Some("insert".into()),
            ids: vec!["7".into()],
            channel_id: Some("9".into()),
            token: None,
        };
        let yes = |e: &str| {
            Filter::parse(e).unwrap().matches(
                Kind::Notification,
                None,
                &s,
                true,
                "{\"Last_Name\":\"Okafor\"}",
            )
        };
        assert!(yes(""));
        assert!(yes("module=leads operation=ins"));
        assert!(yes("kind=notification verified=true okafor"));
        assert!(yes("id=7 channel=9"));
        assert!(!yes("module=Deals"));
        assert!(!yes("kind=bulk"));
        assert!(!yes("patel"));
        assert!(Filter::parse("colour=red").is_err());
    }
}
