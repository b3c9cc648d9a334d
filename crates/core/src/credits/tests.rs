use serde_json::{json, Value};

use super::*;

fn records(n: usize) -> Value {
    json!({ "data": (0..n).map(|i| json!({"Last_Name": format!("L{i}")})).collect::<Vec<_>>() })
}

fn price(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Price, CostError> {
    let q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    CostTable::builtin().price(&Call {
        method,
        path,
        query: &q,
        body,
    })
}

#[test]
fn builtin_files_parse() {
    let t = CostTable::builtin();
    assert!(t.rows().count() > 30);
    let e = Editions::builtin();
    assert_eq!(e.all().len(), 5);
    assert_eq!(e.slabs().len(), 4);
}

#[test]
fn insert_is_one_credit_per_ten_records_rounded_up() {
    let cases = [
        (1, 1),
        (9, 1),
        (10, 1),
        (11, 2),
        (37, 4),
        (99, 10),
        (100, 10),
    ];
    for (n, want) in cases {
        let p = price("POST", "/crm/v8/Leads", &[], Some(&records(n))).unwrap();
        assert_eq!(p.credits, want, "{n} records");
        assert_eq!(&*p.rule, "insert_records");
        assert_eq!(p.records, n as u32);
        assert_eq!(p.module.as_deref(), Some("Leads"));
        assert!(p.priced);
    }
}

#[test]
fn a_hundred_and_one_records_are_refused_as_limit_exceeded() {
    for (method, path) in [
        ("POST", "/crm/v8/Leads"),
        ("PUT", "/crm/v8/Contacts"),
        ("POST", "/crm/v8/Deals/upsert"),
    ] {
        let err = price(method, path, &[], Some(&records(101))).unwrap_err();
        assert_eq!(err.code(), "LIMIT_EXCEEDED", "{method} {path}");
        assert!(matches!(
            err,
            CostError::LimitExceeded {
                records: 101,
                max: 100,
                ..
            }
        ));
    }
}

#[test]
fn sub_concurrency_applies_over_ten_records() {
    assert!(
        !price("POST", "/crm/v8/Leads", &[], Some(&records(10)))
            .unwrap()
            .sub_concurrency
    );
    assert!(
        price("POST", "/crm/v8/Leads", &[], Some(&records(11)))
            .unwrap()
            .sub_concurrency
    );
}

#[test]
fn get_records_costs_one_and_three_with_cvid() {
    let plain = price("GET", "/crm/v8/Leads", &[("fields", "Last_Name")], None).unwrap();
    assert_eq!((plain.credits, plain.rule.as_ref()), (1, "get_records"));
    let cvid = price(
        "GET",
        "/crm/v8/Leads",
        &[("cvid", "4150868000000087501")],
        None,
    )
    .unwrap();
    assert_eq!((cvid.credits, cvid.rule.as_ref()), (3, "get_records_cvid"));
    assert!(cvid.sub_concurrency);
    // cvid given inline in the path counts too; an empty cvid does not.
    let inline = price("GET", "/crm/v8/Leads?cvid=41&page=2", &[], None).unwrap();
    assert_eq!(inline.credits, 3);
    assert_eq!(
        price("GET", "/crm/v8/Leads?cvid=", &[], None)
            .unwrap()
            .credits,
        1
    );
}

#[test]
fn coql_is_priced_by_limit_tier() {
    let q = |s: &str| json!({ "select_query": s });
    let cases = [
        ("select Last_Name from Leads where Last_Name is not null", 1),
        ("select Last_Name from Leads where id > 0 limit 200", 1),
        ("select Last_Name from Leads where id > 0 limit 201", 2),
        ("select Last_Name from Leads where id > 0 LIMIT 500", 2),
        ("select Last_Name from Leads where id > 0 limit 1000", 2),
        ("select Last_Name from Leads where id > 0 limit 1001", 3),
        ("select Last_Name from Leads where id > 0 limit 2000", 3),
        ("select Last_Name from Leads where id > 0 limit 100, 500", 2),
        (
            "select Last_Name from Leads where id > 0 limit 500 offset 4000",
            2,
        ),
    ];
    for (query, want) in cases {
        let p = price("POST", "/crm/v8/coql", &[], Some(&q(query))).unwrap();
        assert_eq!(p.credits, want, "{query}");
        assert_eq!(&*p.rule, "coql");
    }
    let err = price(
        "POST",
        "/crm/v8/coql",
        &[],
        Some(&q("select id from Leads limit 2001")),
    )
    .unwrap_err();
    assert_eq!(err.code(), "LIMIT_EXCEEDED");
}

#[test]
fn convert_lead_costs_five() {
    let p = price(
        "POST",
        "/crm/v8/Leads/5725767000003000064/actions/convert",
        &[],
        None,
    )
    .unwrap();
    assert_eq!((p.credits, p.rule.as_ref()), (5, "convert_lead"));
    assert_eq!(p.module.as_deref(), Some("Leads"));
}

#[test]
fn unknown_paths_cost_one_and_are_flagged() {
    for (m, path) in [
        ("GET", "/crm/v8/Leads/123/Notes/x/y"),
        ("POST", "/something/else"),
        ("PATCH", "/crm/v8/org"),
    ] {
        let p = price(m, path, &[], None).unwrap();
        assert_eq!(p.credits, 1, "{m} {path}");
        assert!(!p.priced, "{m} {path}");
        assert_eq!(&*p.rule, "unpriced");
    }
}

#[test]
fn other_versions_and_full_urls_are_priced_as_v8() {
    let p = price(
        "POST",
        "https://www.zohoapis.eu/crm/v2/Leads",
        &[],
        Some(&records(25)),
    )
    .unwrap();
    assert_eq!((p.credits, p.rule.as_ref()), (3, "insert_records"));
    let b = price("POST", "/crm/bulk/v5/write", &[], None).unwrap();
    assert_eq!(b.credits, 500);
}

#[test]
fn flat_rows_and_their_caps() {
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], u32, &'a str);
    let cases: &[Case] = &[
        ("GET", "/crm/v8/Leads/deleted", &[], 2, "deleted_records"),
        (
            "GET",
            "/crm/v8/Leads/search",
            &[("email", "a@b.c")],
            1,
            "search_records",
        ),
        (
            "DELETE",
            "/crm/v8/Leads",
            &[("ids", "1,2,3")],
            1,
            "delete_records",
        ),
        ("DELETE", "/crm/v8/Leads/12", &[], 1, "delete_record"),
        ("POST", "/crm/bulk/v8/read", &[], 50, "bulk_read_create"),
        ("POST", "/crm/bulk/v8/write", &[], 500, "bulk_write_create"),
        ("GET", "/crm/bulk/v8/write/12", &[], 1, "bulk_write_status"),
        ("GET", "/crm/v8/__apis", &[], 1, "list_apis"),
        (
            "POST",
            "/crm/v8/Leads/12/actions/send_mail",
            &[],
            20,
            "send_mail",
        ),
        (
            "POST",
            "/crm/v8/Leads/12/actions/merge",
            &[],
            50,
            "merge_records",
        ),
        (
            "POST",
            "/crm/v8/actions/watch",
            &[],
            1,
            "notification_watch_post",
        ),
        (
            "DELETE",
            "/crm/v8/actions/watch",
            &[],
            1,
            "notification_watch_delete",
        ),
        (
            "GET",
            "/crm/v8/settings/fields",
            &[("module", "Leads")],
            1,
            "fields",
        ),
        ("GET", "/crm/v8/settings/modules/Leads", &[], 1, "module"),
        ("GET", "/crm/v8/org", &[], 1, "org"),
        (
            "GET",
            "/crm/v8/users",
            &[("type", "CurrentUser")],
            1,
            "users",
        ),
    ];
    for (m, path, q, want, rule) in cases {
        let p = price(m, path, q, None).unwrap();
        assert_eq!((p.credits, p.rule.as_ref()), (*want, *rule), "{m} {path}");
        assert!(p.priced);
    }
    let ids: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    let err = price("DELETE", "/crm/v8/Leads", &[("ids", &ids.join(","))], None).unwrap_err();
    assert!(matches!(
        err,
        CostError::LimitExceeded {
            records: 101,
            max: 100,
            ..
        }
    ));
}

#[test]
fn tags_are_one_per_fifty_records_up_to_five_hundred() {
    let ids = |n: usize| {
        (0..n)
            .map(|i| (i + 1).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    for (n, want) in [(1, 1), (50, 1), (51, 2), (500, 10)] {
        let p = price(
            "POST",
            "/crm/v8/Leads/actions/add_tags",
            &[("ids", &ids(n))],
            None,
        )
        .unwrap();
        assert_eq!(p.credits, want, "{n} records");
    }
    assert!(price(
        "POST",
        "/crm/v8/Leads/actions/add_tags",
        &[("ids", &ids(501))],
        None
    )
    .is_err());
}

#[test]
fn composite_is_one_per_call_up_to_five_sub_requests() {
    let body = |n: usize| json!({"__composite_requests": (0..n).map(|i| json!({"method":"GET","uri":format!("/crm/v8/Leads/{i}")})).collect::<Vec<_>>()});
    let p = price("POST", "/crm/v8/__composite_requests", &[], Some(&body(5))).unwrap();
    assert_eq!((p.credits, p.concurrency_slots), (1, 5));
    assert!(p.sub_concurrency);
    let err = price("POST", "/crm/v8/__composite_requests", &[], Some(&body(6))).unwrap_err();
    assert_eq!(err.code(), "INVALID_DATA");
}

#[test]
fn module_placeholder_skips_reserved_words() {
    // `settings` is not a module: GET /crm/v8/settings is not Get Records.
    let p = price("GET", "/crm/v8/settings", &[], None).unwrap();
    assert!(!p.priced);
    // `{id}` takes digits only: any other segment is an external id, priced by its own row.
    let p = price("PUT", "/crm/v8/Leads/abc", &[], None).unwrap();
    assert_eq!(&*p.rule, "external_id_update");
}

#[test]
fn user_rows_override_builtin_rows() {
    let user = r#"
[[op]]
name = "convert_lead"
method = "POST"
path = "/crm/v8/Leads/{id}/actions/convert"
rule = { kind = "flat", credits = 7 }
source = "my measurement"

[[op]]
name = "leads_insert_special"
method = "POST"
path = "/crm/v8/Leads"
rule = { kind = "per_records", per = 5, max_records = 100 }
source = "test"
"#;
    let t = CostTable::builtin()
        .with_overrides(user, "user.toml")
        .unwrap();
    let q = [];
    let p = t
        .price(&Call {
            method: "POST",
            path: "/crm/v8/Leads/1/actions/convert",
            query: &q,
            body: None,
        })
        .unwrap();
    assert_eq!((p.credits, p.source.as_ref()), (7, "my measurement"));
    let body = records(11);
    let p = t
        .price(&Call {
            method: "POST",
            path: "/crm/v8/Leads",
            query: &q,
            body: Some(&body),
        })
        .unwrap();
    assert_eq!((p.credits, p.rule.as_ref()), (3, "leads_insert_special"));
    // Other modules keep the built-in rule.
    let p = t
        .price(&Call {
            method: "POST",
            path: "/crm/v8/Contacts",
            query: &q,
            body: Some(&body),
        })
        .unwrap();
    assert_eq!(p.credits, 2);
}

#[test]
fn malformed_table_files_are_errors_that_say_where() {
    let bad = "[[op]]\nname = \"x\"\nmethod = \"GET\"\npath = \"/crm/v8/x\"\nrule = { kind = \"flat\", credits = \"two\" }\nsource = \"s\"\n";
    let err = CostTable::builtin()
        .with_overrides(bad, "costs.toml")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("costs.toml: line 5"), "{err}");
    let bad_rule = "[[op]]\nname = \"x\"\nmethod = \"GET\"\npath = \"/crm/v8/x\"\nrule = { kind = \"per_records\", per = 0, max_records = 1 }\nsource = \"s\"\n";
    let err = CostTable::from_toml(bad_rule, "c.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`per` must be at least 1"), "{err}");
}

#[test]
fn import_apis_clamps_and_reprices() {
    let apis = r#"{"__apis":[
        {"path":"/crm/v8/Deals/upsert","operation_types":[{"method":"POST","oauth_scope":"ZohoCRM.modules.deals.ALL","min_credits":1,"max_credits":10}]},
        {"path":"/crm/v8/Leads/actions/add_tags","operation_types":[{"method":"POST","oauth_scope":"x","min_credits":1,"max_credits":2}]},
        {"path":"/crm/v8/Leads/deleted","operation_types":[{"method":"GET","oauth_scope":"x","min_credits":3,"max_credits":3}]},
        {"path":"/crm/v8/Leads/actions/brand_new","operation_types":[{"method":"POST","oauth_scope":"x","min_credits":4,"max_credits":4}]}
    ]}"#;
    let base = CostTable::builtin();
    let import = import_apis(&base, apis).unwrap();
    // The upsert entry says what the table says (1..10): nothing to import for it.
    assert_eq!(import.rows.len(), 3);
    let text = merge_user_rows(None, &import.rows).unwrap();
    let t = CostTable::builtin()
        .with_overrides(&text, "costs.toml")
        .unwrap();
    let q: Vec<(String, String)> = vec![(
        "ids".into(),
        (1..=120)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(","),
    )];
    // add_tags for 120 records would be 3 by the table; __apis caps it at 2.
    let p = t
        .price(&Call {
            method: "POST",
            path: "/crm/v8/Leads/actions/add_tags",
            query: &q,
            body: None,
        })
        .unwrap();
    assert_eq!(p.credits, 2);
    let p = t
        .price(&Call {
            method: "GET",
            path: "/crm/v8/Leads/deleted",
            query: &[],
            body: None,
        })
        .unwrap();
    assert_eq!(p.credits, 3);
    let p = t
        .price(&Call {
            method: "POST",
            path: "/crm/v8/Leads/actions/brand_new",
            query: &[],
            body: None,
        })
        .unwrap();
    assert_eq!((p.credits, p.priced), (4, true));
    // Deals upsert keeps its per-10 rule: 37 records → 4.
    let body = records(37);
    let p = t
        .price(&Call {
            method: "POST",
            path: "/crm/v8/Deals/upsert",
            query: &[],
            body: Some(&body),
        })
        .unwrap();
    assert_eq!(p.credits, 4);
    assert!(import.changes.iter().any(|c| c.contains("add_tags")));
    assert!(import_apis(&base, "{\"apis\": []}").is_err());
}

#[test]
fn daily_limits_by_edition() {
    let e = Editions::builtin();
    assert_eq!(e.daily_limit("professional", 40, 0).unwrap(), 70_000);
    assert_eq!(e.daily_limit("Free", 3, 0).unwrap(), 5_000);
    assert_eq!(
        e.daily_limit("free", 3, 10_000).unwrap(),
        5_000,
        "free is capped at 5,000"
    );
    assert_eq!(e.daily_limit("standard", 10, 0).unwrap(), 52_500);
    assert_eq!(
        e.daily_limit("starter", 400, 0).unwrap(),
        100_000,
        "standard caps at 100,000"
    );
    assert_eq!(e.daily_limit("enterprise", 100, 5_000).unwrap(), 155_000);
    assert_eq!(e.daily_limit("zoho-one", 100, 0).unwrap(), 150_000);
    assert_eq!(
        e.daily_limit("ultimate", 10_000, 0).unwrap(),
        20_050_000,
        "ultimate has no cap"
    );
    assert_eq!(e.daily_limit("enterprise", 10_000, 0).unwrap(), 5_000_000);
    let l = e.limits("professional", 40, 1000).unwrap();
    assert_eq!(
        (l.base_limit, l.daily_limit, l.addon_effective),
        (70_000, 71_000, 1000)
    );
    assert_eq!((l.concurrency, l.sub_concurrency), (15, 10));
    let capped = e.limits("standard", 190, 10_000).unwrap();
    assert_eq!(
        (
            capped.base_limit,
            capped.daily_limit,
            capped.addon_effective
        ),
        (97_500, 100_000, 2_500)
    );
    assert!(matches!(
        e.get("platinum"),
        Err(EditionError::Unknown { .. })
    ));
}

#[test]
fn addon_prices_follow_the_slabs() {
    let e = Editions::builtin();
    assert_eq!(
        e.addon_price_micros(80_000),
        6_800_000,
        "Zoho's example: $6.80"
    );
    assert!((e.addon_price_usd(80_000) - 6.80).abs() < 1e-9);
    assert_eq!(e.addon_price_micros(0), 0);
    assert_eq!(e.addon_price_micros(1_000), 140_000);
    assert_eq!(e.addon_price_micros(25_000), 3_500_000);
    assert_eq!(e.addon_price_micros(100_000), 3_500_000 + 4_500_000);
    assert_eq!(e.addon_price_micros(250_000), 8_000_000 + 7_500_000);
    assert_eq!(e.addon_price_micros(500_000), 15_500_000 + 6_250_000);
    // Past the last slab its price goes on.
    assert_eq!(e.addon_price_micros(600_000), 21_750_000 + 2_500_000);
}

#[test]
fn the_window_rolls_over_24_hours() {
    let h = 3_600_000i64;
    let charges = [
        Charge {
            at_ms: 0,
            credits: 10,
        },
        Charge {
            at_ms: h,
            credits: 5,
        },
        Charge {
            at_ms: 23 * h,
            credits: 1,
        },
    ];
    assert_eq!(window::used_at(&charges, 0), 10);
    assert_eq!(window::used_at(&charges, 23 * h), 16);
    assert_eq!(window::used_at(&charges, WINDOW_MS - 1), 16);
    assert_eq!(
        window::used_at(&charges, WINDOW_MS),
        6,
        "the first charge comes back at exactly 24 h"
    );
    assert_eq!(window::used_at(&charges, WINDOW_MS + h), 1);
    assert_eq!(window::used_at(&charges, 47 * h), 0);

    let mut w = RollingWindow::new();
    for c in charges {
        w.charge(c.at_ms, c.credits);
    }
    assert_eq!(w.used(23 * h), 16);
    assert_eq!(w.freeing_within(23 * h, h), 10);
    assert_eq!(w.freeing_within(23 * h, 2 * h), 15);
    assert_eq!(
        w.next_free(23 * h),
        Some(Charge {
            at_ms: WINDOW_MS,
            credits: 10
        })
    );
    assert_eq!(w.freeing_schedule(23 * h, h, 3), vec![10, 5, 0]);
    assert_eq!(w.used(WINDOW_MS + h), 1);
    assert_eq!(w.charges().count(), 1);
    // An out-of-order charge is placed in order and does not count before its time.
    w.charge(WINDOW_MS + 2 * h, 7);
    w.charge(WINDOW_MS + h + 1, 2);
    assert_eq!(w.used(WINDOW_MS + h + 1), 3);
    assert_eq!(w.used(WINDOW_MS + 2 * h), 10);
}

/// The memo answers as matching every row does: on the built-in table (ids reduced to their
/// shape) and on one whose row names digits (then they are not), whatever came before.
#[test]
fn remembered_rows_price_as_matching_every_row() {
    use crate::credits::table::{normalise_path, BodyFacts, RowMemo};
    let digits = r#"
[[op]]
name = "one_lead_special"
method = "PUT"
path = "/crm/v8/Leads/5725767000000000001"
rule = { kind = "flat", credits = 9 }
source = "test"
"#;
    let tables = [
        CostTable::builtin(),
        CostTable::builtin()
            .with_overrides(digits, "user.toml")
            .unwrap(),
    ];
    let body = records(23);
    type Case<'a> = (&'a str, &'a str, Vec<(String, String)>, Option<&'a Value>);
    let calls: Vec<Case<'_>> = vec![
        ("GET", "/crm/v8/Leads", vec![], None),
        (
            "GET",
            "/crm/v8/Leads",
            vec![("cvid".into(), "1".into())],
            None,
        ),
        (
            "GET",
            "/crm/v8/Leads",
            vec![("cvid".into(), "".into())],
            None,
        ),
        ("POST", "/crm/v8/Leads", vec![], Some(&body)),
        (
            "PUT",
            "/crm/v8/Leads/5725767000000000001",
            vec![],
            Some(&body),
        ),
        (
            "PUT",
            "/crm/v8/Leads/5725767000000000002",
            vec![],
            Some(&body),
        ),
        (
            "PUT",
            "/crm/v8/Leads/5725767000000000001",
            vec![],
            Some(&body),
        ),
        (
            "POST",
            "/crm/v8/Leads/5725767000000000001/actions/convert",
            vec![],
            None,
        ),
        (
            "POST",
            "/crm/v8/Leads/5725767000000000003/actions/convert",
            vec![],
            None,
        ),
        ("GET", "/crm/v8/Deals/{id}", vec![], None),
        (
            "GET",
            "/crm/v8/settings/fields",
            vec![("module".into(), "Leads".into())],
            None,
        ),
        (
            "DELETE",
            "/crm/v8/Leads",
            vec![("ids".into(), "1,2,3".into())],
            None,
        ),
        ("post", "/crm/v8/coql", vec![], Some(&body)),
        ("GET", "/crm/v8/unknown/thing/here/x/y", vec![], None),
    ];
    for table in &tables {
        let mut memo = RowMemo::default();
        // Twice: the second round answers from the memo.
        for _ in 0..2 {
            for (method, path, query, body) in &calls {
                let owned = normalise_path(path);
                let segs: Vec<&str> = owned.iter().map(String::as_str).collect();
                let plain = table
                    .price_segments(method, &segs, query, *body)
                    .map(|p| p.credits);
                let memoised = table.credits_segments_memo(
                    &mut memo,
                    method,
                    &segs,
                    query,
                    &BodyFacts::of(*body),
                );
                assert_eq!(
                    format!("{plain:?}"),
                    format!("{memoised:?}"),
                    "{method} {path} {query:?}"
                );
            }
        }
    }
    let mut memo = RowMemo::default();
    let segs = ["crm", "v8", "Leads", "5725767000000000001"];
    let put = |memo: &mut RowMemo, segs: &[&str]| {
        tables[1]
            .credits_segments_memo(memo, "PUT", segs, &[], &BodyFacts::of(Some(&body)))
            .unwrap()
    };
    assert_eq!(put(&mut memo, &segs), 9, "the row naming the digits");
    let other = ["crm", "v8", "Leads", "5725767000000000002"];
    assert_eq!(put(&mut memo, &other), 3, "another id is a plain update");
}
