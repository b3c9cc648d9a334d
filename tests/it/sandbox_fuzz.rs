//! Property test: whatever arrives, the sandbox answers with a status and, for errors, Zoho's
//! error envelope; it never panics and never loses what it accepted.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use creditops_sandbox::{router, Sandbox, SandboxConfig};
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;

fn method() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS",
    ])
}

fn path() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        prop::sample::select(vec![
            "crm",
            "v8",
            "v2",
            "bulk",
            "Leads",
            "Deals",
            "settings",
            "fields",
            "actions",
            "convert",
            "coql",
            "upsert",
            "search",
            "deleted",
            "__composite_requests",
            "__apis",
            "watch",
            "upload",
            "read",
            "write",
            "org",
            "users",
            "5725767000001000001",
            "result"
        ])
        .prop_map(String::from),
        "[a-zA-Z0-9_%.-]{0,12}",
    ];
    prop::collection::vec(seg, 0..6).prop_map(|s| format!("/{}", s.join("/")))
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        "[\\[\\]{}\":,a-z0-9 ]{0,120}".prop_map(String::into_bytes),
        Just(br#"{"data":[{"Last_Name":"x"}]}"#.to_vec()),
        Just(br#"{"data":[{"Last_Name":1,"Email":{"a":[]},"Owner":"z","Account_Name":[1]}]}"#.to_vec()),
        Just(br#"{"select_query":"select Last_Name from Leads where (a = 'x' or b in (1,2)) limit 5, 10"}"#.to_vec()),
        Just(br#"{"__composite_requests":[{"method":"POST","uri":"/crm/v8/Leads","body":{"data":[{"Last_Name":"@{x:$.data[9].q}"}]}}]}"#.to_vec()),
        Just(br#"{"watch":[{"channel_id":{"x":1},"events":"Leads.all"}]}"#.to_vec()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    "([a-z_]{1,8}=[a-zA-Z0-9(),:%_.]{0,20}&?){0,4}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn any_request_gets_an_answer(m in method(), p in path(), q in query(), b in body(), auth in any::<bool>()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let sb = Arc::new(Sandbox::new(SandboxConfig::default()).unwrap());
            let token = sb.mint_token();
            let app = router(sb.clone());
            let uri = if q.is_empty() { p.clone() } else { format!("{p}?{q}") };
            let Ok(mut req) = Request::builder().method(m).uri(&uri).body(Body::from(b.clone())) else { return Ok(()) };
            if auth {
                req.headers_mut().insert("authorization", format!("Zoho-oauthtoken {token}").parse().unwrap());
            }
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status().as_u16();
            prop_assert!(status < 500, "{m} {uri} → {status}");
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
            if status >= 400 && !bytes.is_empty() {
                let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let is_envelope = v.get("code").is_some_and(Value::is_string) || v.get("error").is_some() || v.get("data").is_some() || v.get("__composite_requests").is_some() || v.get("watch").is_some();
                prop_assert!(is_envelope, "{m} {uri} → {status} {}", String::from_utf8_lossy(&bytes));
            }
            Ok(())
        })?;
    }
}
