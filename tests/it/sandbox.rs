//! The sandbox behaves like Zoho CRM v8 in everything that touches credits, limits and shapes.

use crate::common;

use std::time::Duration;

use common::{leads, tiny_model, Sb};
use creditops_sandbox::SandboxConfig;
use serde_json::{json, Value};

#[tokio::test]
async fn oauth_token_and_authentication() {
    let sb = Sb::default().await;
    let resp: Value = sb
        .http
        .post(sb.url("/oauth/v2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "1000.X"),
            ("client_secret", "s"),
            ("refresh_token", "1000.r"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["api_domain"], sb.base);
    assert_eq!(resp["token_type"], "Bearer");
    assert_eq!(resp["expires_in"], 3600);
    let token = resp["access_token"].as_str().unwrap();
    let ok = sb
        .http
        .get(sb.url("/crm/v8/org"))
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let none = sb.http.get(sb.url("/crm/v8/org")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["code"], "AUTHENTICATION_FAILURE");
    let bad = sb
        .http
        .get(sb.url("/crm/v8/org"))
        .header("Authorization", "Zoho-oauthtoken nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(bad.json::<Value>().await.unwrap()["code"], "INVALID_TOKEN");
    // Unauthenticated calls are not charged.
    assert_eq!(sb.used().await, 1);
}

#[tokio::test]
async fn restricted_credentials_and_token_rate_limit() {
    let sb = Sb::start(SandboxConfig {
        client_id: Some("1000.GOOD".into()),
        refresh_token: Some(creditops_core::secret::Secret::new("1000.refresh")),
        ..Default::default()
    })
    .await;
    let grant = |cid: &'static str, rt: &'static str| {
        sb.http
            .post(sb.url("/oauth/v2/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", cid),
                ("client_secret", "x"),
                ("refresh_token", rt),
            ])
            .send()
    };
    let v: Value = grant("1000.BAD", "1000.refresh")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["error"], "invalid_client");
    let v: Value = grant("1000.GOOD", "1000.other")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["error"], "invalid_code");
    for _ in 0..10 {
        let v: Value = grant("1000.GOOD", "1000.refresh")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["access_token"].is_string(), "{v}");
    }
    let r = grant("1000.GOOD", "1000.refresh").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "Access Denied");
    sb.advance(601).await;
    let v: Value = grant("1000.GOOD", "1000.refresh")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["access_token"].is_string());
}

#[tokio::test]
async fn inserts_are_charged_per_ten_records_and_fail_record_by_record() {
    let sb = Sb::default().await;
    let (status, body, _) = sb.call("POST", "/crm/v8/Leads", Some(leads(37, "a"))).await;
    assert_eq!(status, 201);
    assert_eq!(body["data"].as_array().unwrap().len(), 37);
    assert!(body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["code"] == "SUCCESS" && r["details"]["id"].is_string()));
    assert_eq!(sb.used().await, 4);

    let mixed = json!({"data": [
        {"Last_Name": "Ok", "Email": "ok@test.example"},
        {"First_Name": "NoLast"},
        {"Last_Name": "BadMail", "Email": "not-an-email"},
        {"Last_Name": "Dup", "Email": "a0@test.example"},
    ]});
    let (status, body, _) = sb.call("POST", "/crm/v8/Leads", Some(mixed)).await;
    assert_eq!(status, 207);
    let d = body["data"].as_array().unwrap();
    assert_eq!(d[0]["status"], "success");
    assert_eq!(
        (d[1]["code"].as_str(), d[1]["details"]["api_name"].as_str()),
        (Some("MANDATORY_NOT_FOUND"), Some("Last_Name"))
    );
    assert_eq!(
        (
            d[2]["code"].as_str(),
            d[2]["details"]["expected_data_type"].as_str()
        ),
        (Some("INVALID_DATA"), Some("email"))
    );
    assert_eq!(d[3]["code"], "DUPLICATE_DATA");
    assert_eq!(d[1]["details"]["json_path"], "$.data[1].Last_Name");
    assert_eq!(sb.used().await, 5);

    let (status, body, _) = sb
        .call("POST", "/crm/v8/Leads", Some(leads(101, "b")))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "LIMIT_EXCEEDED");
    assert_eq!(sb.used().await, 5, "a refused call is not charged");
}

#[tokio::test]
async fn reads_search_coql_and_convert_cost_what_the_table_says() {
    let sb = Sb::default().await;
    let (s, b, _) = sb.call("GET", "/crm/v8/Leads", None).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("REQUIRED_PARAM_MISSING"))
    );
    let (s, b, _) = sb
        .call(
            "GET",
            "/crm/v8/Leads?fields=Last_Name,Email&per_page=10",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["data"].as_array().unwrap().len(), 10);
    assert_eq!(b["info"]["more_records"], true);
    assert!(
        b["data"][0].get("Company").is_none(),
        "only the asked fields"
    );
    let before = sb.used().await;
    let (s, _, _) = sb
        .call(
            "GET",
            "/crm/v8/Leads?fields=Last_Name&cvid=5725767000000002476",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(sb.used().await - before, 3);
    // A view the module does not have is refused, not answered with the whole list.
    let (s, b, _) = sb
        .call(
            "GET",
            "/crm/v8/Leads?fields=Last_Name&cvid=5725767000000087501",
            None,
        )
        .await;
    assert_eq!(
        (s, b["details"]["param_name"].as_str()),
        (400, Some("cvid"))
    );

    sb.call("POST", "/crm/v8/Leads", Some(json!({"data": [{"Last_Name": "Zed", "Company": "Zed Corp", "Email": "zed@corp.example", "No_of_Employees": 42}]}))).await;
    let before = sb.used().await;
    let (s, b, _) = sb.call("POST", "/crm/v8/coql", Some(json!({"select_query": "select Last_Name, No_of_Employees from Leads where Last_Name = 'Zed' and No_of_Employees >= 40 limit 500"}))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"].as_array().unwrap().len(), 1);
    assert_eq!(b["data"][0]["No_of_Employees"], 42);
    assert_eq!(sb.used().await - before, 2, "COQL LIMIT 500 costs 2");
    let (s, b, _) = sb
        .call(
            "POST",
            "/crm/v8/coql",
            Some(json!({"select_query": "select from Leads"})),
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (400, Some("SYNTAX_ERROR")));

    let (s, b, _) = sb
        .call(
            "GET",
            "/crm/v8/Leads/search?criteria=(Email:equals:zed@corp.example)",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let id = b["data"][0]["id"].as_str().unwrap().to_string();
    let (s, b, _) = sb
        .call("GET", "/crm/v8/Leads/search?email=zed@corp.example", None)
        .await;
    assert_eq!((s, b["data"][0]["id"].as_str()), (200, Some(id.as_str())));
    let (s, b, _) = sb
        .call(
            "GET",
            "/crm/v8/Leads/search?criteria=(Last_Name:equals:Zed)&page=11&per_page=200",
            None,
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (400, Some("LIMIT_REACHED")));

    let before = sb.used().await;
    let (s, b, _) = sb
        .call(
            "POST",
            &format!("/crm/v8/Leads/{id}/actions/convert"),
            Some(json!({"data": [{"Deals": {"Deal_Name": "Zed deal", "Stage": "Qualification"}}]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(sb.used().await - before, 5);
    let contact = b["data"][0]["details"]["Contacts"]["id"].as_str().unwrap();
    let (s, c, _) = sb
        .call("GET", &format!("/crm/v8/Contacts/{contact}"), None)
        .await;
    assert_eq!(
        (s, c["data"][0]["Email"].as_str()),
        (200, Some("zed@corp.example"))
    );
    assert!(b["data"][0]["details"]["Accounts"]["id"].is_string());
    assert!(b["data"][0]["details"]["Deals"]["id"].is_string());
    let (s, b, _) = sb
        .call("POST", &format!("/crm/v8/Leads/{id}/actions/convert"), None)
        .await;
    assert_eq!((s, b["code"].as_str()), (400, Some("ID_ALREADY_CONVERTED")));
}

#[tokio::test]
async fn update_upsert_delete_and_deleted_list() {
    let sb = Sb::default().await;
    let (_, b, _) = sb
        .call(
            "POST",
            "/crm/v8/Contacts",
            Some(json!({"data": [{"Last_Name": "Up", "Email": "up@x.example"}]})),
        )
        .await;
    let id = b["data"][0]["details"]["id"].as_str().unwrap().to_string();
    let (s, b, _) = sb
        .call(
            "PUT",
            &format!("/crm/v8/Contacts/{id}"),
            Some(json!({"data": [{"Title": "CTO"}]})),
        )
        .await;
    assert_eq!(
        (s, b["data"][0]["message"].as_str()),
        (200, Some("record updated"))
    );
    let (s, b, _) = sb.call("POST", "/crm/v8/Contacts/upsert", Some(json!({"data": [{"Last_Name": "Up2", "Email": "UP@x.example"}, {"Last_Name": "New", "Email": "new@x.example"}]}))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (
            b["data"][0]["action"].as_str(),
            b["data"][0]["duplicate_field"].as_str()
        ),
        (Some("update"), Some("Email"))
    );
    assert_eq!(b["data"][0]["details"]["id"], id.as_str());
    assert_eq!(b["data"][1]["action"], "insert");
    let (_, r, _) = sb
        .call("GET", &format!("/crm/v8/Contacts/{id}"), None)
        .await;
    assert_eq!(
        (
            r["data"][0]["Last_Name"].as_str(),
            r["data"][0]["Title"].as_str()
        ),
        (Some("Up2"), Some("CTO"))
    );
    // Users come back whole, as Zoho sends them (the sandbox stores only their ids).
    for key in ["Created_By", "Modified_By", "Owner"] {
        let u = &r["data"][0][key];
        assert!(
            u["id"].is_string() && u["name"].is_string() && u["email"].is_string(),
            "{key}: {u}"
        );
    }
    let before = sb.used().await;
    let (s, b, _) = sb
        .call("DELETE", &format!("/crm/v8/Contacts?ids={id},999"), None)
        .await;
    assert_eq!(s, 207);
    assert_eq!(b["data"][0]["status"], "success");
    assert_eq!(sb.used().await - before, 1);
    let before = sb.used().await;
    let (s, b, _) = sb.call("GET", "/crm/v8/Contacts/deleted", None).await;
    assert_eq!((s, b["data"][0]["id"].as_str()), (200, Some(id.as_str())));
    assert_eq!(sb.used().await - before, 2);
    let (s, _, _) = sb
        .call("GET", &format!("/crm/v8/Contacts/{id}"), None)
        .await;
    assert_eq!(s, 204);
    // A restricted picklist and a lookup to a missing record fail their record.
    let (s, b, _) = sb.call("POST", "/crm/v8/Deals", Some(json!({"data": [{"Deal_Name": "X", "Stage": "Dreaming"}, {"Deal_Name": "Y", "Stage": "Qualification", "Account_Name": {"id": "1"}}]}))).await;
    assert_eq!(s, 400);
    assert_eq!(b["data"][0]["details"]["api_name"], "Stage");
    assert_eq!(b["data"][1]["details"]["api_name"], "Account_Name");
}

#[tokio::test]
async fn composite_requests() {
    let sb = Sb::default().await;
    let subs = |n: usize| json!({"__composite_requests": (0..n).map(|i| json!({"sub_request_id": format!("s{i}"), "method": "POST", "uri": "/crm/v8/Tasks", "body": {"data": [{"Subject": format!("T{i}")}]}})).collect::<Vec<_>>()});
    let before = sb.used().await;
    let (s, b, _) = sb
        .call("POST", "/crm/v8/__composite_requests", Some(subs(5)))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["__composite_requests"].as_array().unwrap().len(), 5);
    assert_eq!(
        b["__composite_requests"][0]["details"]["response"]["status_code"],
        201
    );
    assert_eq!(sb.used().await - before, 1, "one credit per composite call");
    let (s, b, _) = sb
        .call("POST", "/crm/v8/__composite_requests", Some(subs(6)))
        .await;
    assert_eq!((s, b["code"].as_str()), (400, Some("INVALID_DATA")));

    // A reference to an earlier answer, then a failure that rolls everything back.
    let body = json!({"rollback_on_fail": true, "parallel_execution": false, "__composite_requests": [
        {"sub_request_id": "acc", "method": "POST", "uri": "/crm/v8/Accounts", "body": {"data": [{"Account_Name": "Rollback Inc"}]}},
        {"sub_request_id": "con", "method": "POST", "uri": "/crm/v8/Contacts", "body": {"data": [{"Last_Name": "R", "Account_Name": {"id": "@{acc:$.data[0].details.id}"}}]}},
        {"sub_request_id": "bad", "method": "POST", "uri": "/crm/v8/Deals", "body": {"data": [{"Deal_Name": "no stage"}]}},
    ]});
    let (s, b, _) = sb
        .call("POST", "/crm/v8/__composite_requests", Some(body))
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["__composite_requests"][0]["code"], "ROLLBACK_PERFORMED");
    let (s, _, _) = sb
        .call(
            "GET",
            "/crm/v8/Accounts/search?criteria=(Account_Name:equals:Rollback Inc)",
            None,
        )
        .await;
    assert_eq!(s, 204, "rolled back");
    let both = json!({"rollback_on_fail": true, "parallel_execution": true, "__composite_requests": [{"method": "GET", "uri": "/crm/v8/org"}]});
    let (s, b, _) = sb
        .call("POST", "/crm/v8/__composite_requests", Some(both))
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("AMBIGUITY_DURING_PROCESSING"))
    );
}

#[tokio::test]
async fn the_daily_limit_answers_429_until_the_window_rolls() {
    let mut sb = Sb::start(SandboxConfig {
        edition: "tiny".into(),
        users: 0,
        model: tiny_model(40, 20, 10),
        ..Default::default()
    })
    .await;
    let mut saw_header = None;
    for i in 0..4 {
        let (s, _, h) = sb
            .call("POST", "/crm/v8/Leads", Some(leads(100, &format!("w{i}"))))
            .await;
        assert_eq!(s, 201);
        if let Some(v) = h.get("x-api-credits-remaining") {
            saw_header.get_or_insert(v.to_str().unwrap().to_string());
        }
    }
    // The header appears once half the (non-add-on) limit is used: after the 2nd call, 20 left.
    assert_eq!(saw_header.as_deref(), Some("20"));
    let (s, b, h) = sb.call("GET", "/crm/v8/org", None).await;
    assert_eq!((s, b["code"].as_str()), (429, Some("TOO_MANY_REQUESTS")));
    assert_eq!(h.get("x-api-credits-remaining").unwrap(), "0");
    let u = sb.usage().await;
    assert_eq!(
        (
            u["used"].as_u64(),
            u["limit"].as_u64(),
            u["remaining"].as_u64()
        ),
        (Some(40), Some(40), Some(0))
    );
    assert_eq!(u["by_api"]["insert_records"]["credits"], 40);
    assert_eq!(u["by_module"]["Leads"]["calls"], 4);
    sb.advance(24 * 3600).await;
    let (s, b, _) = sb.call("GET", "/crm/v8/org", None).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (401, Some("INVALID_TOKEN")),
        "access tokens live one hour"
    );
    sb.token = sb.handle.state.mint_token();
    let (s, _, _) = sb.call("GET", "/crm/v8/org", None).await;
    assert_eq!(s, 200, "credits came back after 24 h");
}

#[tokio::test]
async fn concurrency_and_sub_concurrency_answer_429() {
    let sb = Sb::start(SandboxConfig {
        edition: "tiny".into(),
        users: 0,
        model: tiny_model(100_000, 3, 1),
        latency: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let calls = (0..6).map(|_| sb.call("GET", "/crm/v8/org", None));
    let results = futures::future::join_all(calls).await;
    let limited = results.iter().filter(|(s, _, _)| *s == 429).count();
    assert_eq!(limited, 3, "3 slots, 6 simultaneous calls");
    let searches = (0..3).map(|_| sb.call("GET", "/crm/v8/Leads/search?word=a", None));
    let results = futures::future::join_all(searches).await;
    assert_eq!(
        results.iter().filter(|(s, _, _)| *s == 429).count(),
        2,
        "sub-concurrency 1"
    );
    assert!(sb.usage().await["rejected"].as_u64().unwrap() >= 5);
}

#[tokio::test]
async fn metadata_honours_if_modified_since() {
    let sb = Sb::default().await;
    let (s, b, _) = sb
        .call("GET", "/crm/v8/settings/fields?module=Leads", None)
        .await;
    assert_eq!(s, 200);
    let f: Vec<&str> = b["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["api_name"].as_str().unwrap())
        .collect();
    assert!(f.contains(&"Last_Name") && f.contains(&"Email"));
    let r = sb
        .http
        .get(sb.url("/crm/v8/settings/modules"))
        .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
        .header("If-Modified-Since", "2099-01-01T00:00:00+00:00")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = sb
        .http
        .get(sb.url("/crm/v8/settings/fields?module=Leads"))
        .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
        .header("If-Modified-Since", "2001-01-01T00:00:00+00:00")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, b, _) = sb
        .call("GET", "/crm/v8/settings/fields?module=Nope", None)
        .await;
    assert_eq!((s, b["code"].as_str()), (400, Some("INVALID_MODULE")));
    let (s, b, _) = sb.call("GET", "/crm/v8/__apis", None).await;
    assert_eq!(s, 200);
    let leads_post = b["__apis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == "/crm/v8/Leads")
        .unwrap();
    let op = |m: &str| {
        leads_post["operation_types"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["method"] == m)
            .map(|o| (o["min_credits"].as_u64(), o["max_credits"].as_u64()))
    };
    assert_eq!(op("POST"), Some((Some(1), Some(10))));
    // Get Records and Get Records with a cvid: one entry, 1 to 3 credits.
    assert_eq!(op("GET"), Some((Some(1), Some(3))));
    let (s, b, _) = sb.call("GET", "/crm/v8/users?type=CurrentUser", None).await;
    assert_eq!((s, b["users"].as_array().map(Vec::len)), (200, Some(1)));
}

#[tokio::test]
async fn bad_bodies_get_zoho_errors_never_panics() {
    let sb = Sb::default().await;
    let r = sb
        .http
        .post(sb.url("/crm/v8/Leads"))
        .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
        .body("{\"data\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "INVALID_DATA");
    for body in [
        json!({"data": "x"}),
        json!({"data": []}),
        json!([1, 2]),
        json!({"data": [1, "two", null]}),
    ] {
        let (s, b, _) = sb.call("POST", "/crm/v8/Leads", Some(body.clone())).await;
        assert_eq!(s, 400, "{body} → {b}");
    }
    let big = "x".repeat(5 * 1024 * 1024);
    let r = sb
        .http
        .post(sb.url("/crm/v8/Leads"))
        .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let (s, b, _) = sb.call("GET", "/crm/v8/NoSuchModule?fields=a", None).await;
    assert_eq!((s, b["code"].as_str()), (400, Some("INVALID_MODULE")));
    let (s, b, _) = sb.call("GET", "/crm/v9/what/is/this/path", None).await;
    assert_eq!((s, b["code"].as_str()), (404, Some("INVALID_URL_PATTERN")));
}

#[tokio::test]
async fn importing_the_sandboxs_own_apis_answer_changes_nothing() {
    let sb = Sb::default().await;
    let (s, apis, _) = sb.call("GET", "/crm/v8/__apis", None).await;
    assert_eq!(s, 200);
    let entries = apis["__apis"].as_array().unwrap();
    // One entry per path, one operation per method: no (method, path) twice.
    let mut seen = std::collections::HashSet::new();
    for e in entries {
        for op in e["operation_types"].as_array().unwrap() {
            let key = (op["method"].to_string(), e["path"].to_string());
            assert!(seen.insert(key.clone()), "{key:?} listed twice");
            assert!(op["oauth_scope"].as_str().unwrap().starts_with("ZohoCRM."));
        }
        assert!(!e["path"].as_str().unwrap().contains("{any}"), "{e}");
    }
    let table = creditops_core::credits::CostTable::builtin();
    let import = creditops_core::credits::import_apis(&table, &apis.to_string()).unwrap();
    assert!(
        import.rows.is_empty() && import.changes.is_empty(),
        "{:?}",
        import.changes
    );
    // What the sandbox cannot serve costs nothing; Create Custom Module costs the table's 500.
    let before = sb.used().await;
    let (s, b, _) = sb
        .call("POST", "/crm/v8/Leads/123/actions/teleport", None)
        .await;
    assert_eq!((s, b["code"].as_str()), (404, Some("INVALID_URL_PATTERN")));
    assert_eq!(sb.used().await, before);
    let (s, _, _) = sb
        .call(
            "POST",
            "/crm/v8/settings/modules",
            Some(json!({"modules": [{"plural_label": "Vendors", "singular_label": "Vendor"}]})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(sb.used().await - before, 500);
}

#[tokio::test]
async fn record_and_org_photos_upload_download_and_delete() {
    let sb = Sb::default().await;
    let lead = sb
        .call("GET", "/crm/v8/Leads?fields=Last_Name&per_page=1", None)
        .await
        .1["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let png: Vec<u8> = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-not-a-real-image-but-its-magic".to_vec();
    let upload = |path: String, bytes: Vec<u8>| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("photo.png"),
        );
        sb.http
            .post(sb.url(&path))
            .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
            .multipart(form)
            .send()
    };
    let download = |path: String| {
        sb.http
            .get(sb.url(&path))
            .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
            .send()
    };
    for path in [
        format!("/crm/v8/Leads/{lead}/photo"),
        "/crm/v8/org/photo".to_string(),
    ] {
        assert_eq!(
            download(path.clone()).await.unwrap().status(),
            204,
            "{path}: none yet"
        );
        // Not an image: refused, nothing kept.
        let r = upload(path.clone(), b"hello".to_vec()).await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(
            download(path.clone()).await.unwrap().status(),
            204,
            "{path}"
        );
        let r = upload(path.clone(), png.clone()).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let r = download(path.clone()).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/png");
        assert_eq!(
            r.bytes().await.unwrap().to_vec(),
            png,
            "{path}: the same bytes back"
        );
        let (s, b, _) = sb.call("DELETE", &path, None).await;
        assert_eq!(
            (s, b["status"].as_str()),
            (200, Some("success")),
            "{path}: {b}"
        );
        assert_eq!(
            download(path.clone()).await.unwrap().status(),
            204,
            "{path}"
        );
        let (s, _, _) = sb.call("DELETE", &path, None).await;
        assert_eq!(s, 400, "{path}: nothing left to delete");
    }
    let (s, _, _) = sb.call("GET", "/crm/v8/Leads/1/photo", None).await;
    assert_eq!(s, 400, "no such record");
}
