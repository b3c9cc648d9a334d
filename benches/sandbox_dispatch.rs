//! In-process cost of one sandbox call (no sockets): a single-record insert and a metadata read
//! through the full handler (auth, price, admit, dispatch, charge), against a bare axum router
//! answering 200 through the same `oneshot` path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use creditops_sandbox::{router, Sandbox, SandboxConfig};
use criterion::Criterion;
use tower::ServiceExt;

static SEQ: AtomicU64 = AtomicU64::new(0);

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sb = rt.block_on(async {
        Arc::new(
            Sandbox::new(SandboxConfig {
                edition: "ultimate".into(),
                users: 10_000,
                ..Default::default()
            })
            .unwrap(),
        )
    });
    let token = sb.mint_token();
    let app = router(sb.clone());
    let bare: Router =
        Router::new().fallback(|_b: axum::body::Bytes| async { "{\"status\":\"ok\"}" });
    let insert = |t: &str| {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        Request::post("/crm/v8/Leads")
            .header("authorization", format!("Zoho-oauthtoken {t}"))
            .header("content-type", "application/json")
            .body(Body::from(format!(
                "{{\"data\":[{{\"Last_Name\":\"L{n}\",\"Email\":\"l{n}@bench.example\"}}]}}"
            )))
            .unwrap()
    };
    let mut g = c.benchmark_group("sandbox_dispatch");
    g.bench_function("bare_router_200", |b| {
        b.iter(|| rt.block_on(async { bare.clone().oneshot(insert(&token)).await.unwrap() }))
    });
    g.bench_function("single_record_insert", |b| {
        b.iter(|| rt.block_on(async { app.clone().oneshot(insert(&token)).await.unwrap() }))
    });
    g.bench_function("fields_metadata_get", |b| {
        b.iter(|| {
            rt.block_on(async {
                let req = Request::get("/crm/v8/settings/fields?module=Leads")
                    .header("authorization", format!("Zoho-oauthtoken {token}"))
                    .body(Body::empty())
                    .unwrap();
                app.clone().oneshot(req).await.unwrap()
            })
        })
    });
    g.finish();
}

pub fn main() {
    let mut c = crate::criterion();
    bench(&mut c);
    c.final_summary();
}
