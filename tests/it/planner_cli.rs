//! `creditops plan`, `creditops send` and `creditops proxy --hold` as scripts call them.

use crate::common;

use std::path::Path;

use common::{creditops, json_of, loopback, mixed_queue_lines, Sb};
use creditops_net::proxy::{spawn as spawn_proxy, ProxyConfig};
use serde_json::{json, Value};

/// 23 single-record inserts across three modules, a repeated metadata GET, and a search whose
/// insert follows.
fn queue(dir: &Path) -> std::path::PathBuf {
    let text: Vec<String> = mixed_queue_lines("new@cli.example")
        .iter()
        .map(Value::to_string)
        .collect();
    let f = dir.join("queue.jsonl");
    std::fs::write(&f, text.join("\n") + "\n").unwrap();
    f
}

#[test]
fn plan_json_has_what_scripts_rely_on() {
    let home = tempfile::tempdir().unwrap();
    let q = queue(home.path());
    let v = json_of(&creditops(
        home.path(),
        &["plan", q.to_str().unwrap(), "--json"],
    ));
    for key in [
        "calls_before",
        "credits_before",
        "calls_after",
        "credits_after",
        "lower_bound",
        "savings_by_rule",
        "steps",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["calls_before"], 27);
    assert_eq!(v["credits_before"], 27);
    let after = v["credits_after"].as_u64().unwrap();
    assert!(
        after < 10,
        "23 single inserts in 3 modules plan to a few credits, got {after}"
    );
    assert!(v["lower_bound"].as_u64().unwrap() <= after);
    let steps = v["steps"].as_array().unwrap();
    let mut covered: Vec<String> = steps
        .iter()
        .flat_map(|s| {
            s["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap().to_string())
        })
        .collect();
    covered.sort();
    let mut expected: Vec<String> = (0..23).map(|i| format!("w{i}")).collect();
    expected.extend(["f0", "f1", "s", "u"].map(String::from));
    expected.sort();
    assert_eq!(covered, expected, "every call covered exactly once");
    for s in steps {
        for key in ["ids", "method", "path", "records", "credits"] {
            assert!(s.get(key).is_some(), "step without {key}: {s}");
        }
    }
    let removed: Vec<&Value> = steps.iter().filter(|s| s["credits"] == 0).collect();
    assert!(removed
        .iter()
        .any(|s| s["rule"] == "cache" && s["ids"][0] == "f1"));
    assert!(removed
        .iter()
        .any(|s| s["rule"] == "upsert" && s["ids"][0] == "s"));
    let saved: i64 = v["savings_by_rule"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_i64().unwrap())
        .sum();
    assert_eq!(saved as u64, 27 - after, "savings add up to the difference");

    // --rules narrows what is applied.
    let v = json_of(&creditops(
        home.path(),
        &["plan", q.to_str().unwrap(), "--json", "--rules", "cache"],
    ));
    assert_eq!(v["credits_after"], 26);
    let bad = creditops(
        home.path(),
        &["plan", q.to_str().unwrap(), "--rules", "batch,teleport"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown rule `teleport`"));
}

#[test]
fn a_queue_with_bad_lines_is_refused_with_every_line_named() {
    let home = tempfile::tempdir().unwrap();
    let f = home.path().join("bad.jsonl");
    std::fs::write(
        &f,
        "{\"method\":\"POST\",\"path\":\"/crm/v8/Leads\",\"body\":{\"data\":[{\"Last_Name\":\"A\"}]}}\n\
         {\"method\":\"POST\",\"path\":\n\
         {\"method\":\"GET\",\"path\":\"/crm/v8/Leads\"}\n\
         {\"path\":\"/crm/v8/Leads\"}\n",
    )
    .unwrap();
    let out = creditops(home.path(), &["plan", f.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let name = f.display().to_string();
    assert!(err.contains(&format!("{name}:2: not JSON")), "{err}");
    assert!(
        err.contains(&format!("{name}:4: `method` is missing")),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing planned");

    let out = creditops(
        home.path(),
        &["plan", f.to_str().unwrap(), "--json", "--skip-bad"],
    );
    let v = json_of(&out);
    assert_eq!(v["calls_before"], 2, "the two good lines are planned");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":2:") && err.contains(":4:"),
        "skipped lines still named: {err}"
    );
}

#[test]
fn send_runs_a_plan_on_a_sandbox_and_meters_it() {
    let home = tempfile::tempdir().unwrap();
    let q = queue(home.path());
    let plan_file = home.path().join("plan.json");
    let planned = json_of(&creditops(
        home.path(),
        &[
            "plan",
            q.to_str().unwrap(),
            "--json",
            "--out",
            plan_file.to_str().unwrap(),
        ],
    ));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(Sb::default());
    let before = rt.block_on(sb.used());
    let ledger = home.path().join("send.sqlite");
    let v = json_of(&creditops(
        home.path(),
        &[
            "send",
            plan_file.to_str().unwrap(),
            "--target",
            &sb.base,
            "--ledger",
            ledger.to_str().unwrap(),
            "--json",
        ],
    ));
    for key in [
        "predicted_credits",
        "charged_credits",
        "sandbox_charged_credits",
        "calls",
        "failed_records",
        "steps",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["predicted_credits"], planned["credits_after"]);
    assert_eq!(v["charged_credits"], v["predicted_credits"], "{v:#}");
    assert_eq!(v["sandbox_charged_credits"], v["charged_credits"]);
    assert_eq!(
        rt.block_on(sb.used()) - before,
        v["charged_credits"].as_u64().unwrap()
    );
    assert_eq!(v["failed_records"], 0, "{v:#}");
    for s in v["steps"].as_array().unwrap() {
        assert_eq!(
            s["predicted_credits"], s["charged_credits"],
            "per step: {s}"
        );
    }

    // Over --max-credits: refused before anything is sent.
    let used = rt.block_on(sb.used());
    let out = creditops(
        home.path(),
        &[
            "send",
            q.to_str().unwrap(),
            "--target",
            &sb.base,
            "--ledger",
            ledger.to_str().unwrap(),
            "--max-credits",
            "5",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-credits 5"));
    assert_eq!(rt.block_on(sb.used()), used, "nothing was sent");
}

#[test]
fn send_refuses_production_and_past_the_limit() {
    let home = tempfile::tempdir().unwrap();
    let q = queue(home.path());
    let out = creditops(
        home.path(),
        &[
            "send",
            q.to_str().unwrap(),
            "--target",
            "https://www.zohoapis.com",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Zoho production"));

    // A sandbox whose limit is nearly used: the plan would pass 100 %.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(Sb::start(creditops_sandbox::SandboxConfig {
        edition: "tiny".into(),
        model: common::tiny_model(10, 5, 5),
        ..Default::default()
    }));
    let out = creditops(
        home.path(),
        &["send", q.to_str().unwrap(), "--target", &sb.base],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("100 %"));
    assert_eq!(rt.block_on(sb.used()), 0);
}

#[test]
fn hold_mode_queues_calls_that_plan_reads_back() {
    let home = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let hold = home.path().join("held.jsonl");
    let (sb, proxy) = rt.block_on(async {
        let sb = Sb::default().await;
        let proxy = spawn_proxy(
            ProxyConfig {
                hold: Some(hold.clone()),
                ..ProxyConfig::new(&sb.base, home.path().join("l.sqlite"))
            },
            loopback(),
        )
        .await
        .unwrap();
        (sb, proxy)
    });
    let before = rt.block_on(sb.used());
    rt.block_on(async {
        let http = reqwest::Client::new();
        for i in 0..12 {
            let r = http
                .post(format!("{}/crm/v8/Leads", proxy.base_url()))
                .header("Authorization", format!("Zoho-oauthtoken {}", sb.token))
                .header("X-Integration", "nightly-sync")
                .json(&json!({"data": [{"Last_Name": format!("H{i}")}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 202);
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["details"]["id"], format!("h{}", i + 1));
        }
        let r = http
            .post(format!("{}/crm/v8/upload", proxy.base_url()))
            .body("not json")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            415,
            "a body the planner cannot read is refused, not lost"
        );
        // A method no plan can send is refused, said, and neither held nor forwarded.
        let r = http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/crm/v8/Leads", proxy.base_url()),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 405);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "NOT_HELD", "{v}");
        assert!(v["message"].as_str().unwrap().contains("OPTIONS"), "{v}");
    });
    assert_eq!(
        rt.block_on(sb.used()),
        before,
        "held calls are not forwarded"
    );
    let text = std::fs::read_to_string(&hold).unwrap();
    assert_eq!(text.lines().count(), 12);
    assert!(
        !text.contains("Zoho-oauthtoken"),
        "tokens are not written to the queue"
    );
    let v = json_of(&creditops(
        home.path(),
        &["plan", hold.to_str().unwrap(), "--json"],
    ));
    assert_eq!(v["calls_before"], 12);
    assert_eq!(
        v["credits_after"], 2,
        "12 inserts → one batch of 12 (2 credits)"
    );
}

/// Writes config.toml (mode 0600, as creditops writes it) with the given profiles.
fn config(home: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let dir = home.join("config");
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("config.toml");
    std::fs::write(&f, text).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn send_through_a_profile_uses_its_oauth_client_limits_and_ledger() {
    let home = tempfile::tempdir().unwrap();
    let q = queue(home.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(Sb::default());
    let ledger = home.path().join("profile-ledger.sqlite");
    config(
        home.path(),
        &format!(
            "[profiles.local]\ntarget = \"embedded\"\napi_base = \"{}\"\nedition = \"enterprise\"\nlicences = 10\nclient_id = \"1000.LOCAL\"\nclient_secret = \"local-secret\"\nrefresh_token = \"1000.local-refresh\"\nledger = \"{}\"\n\n[profiles.prod]\ntarget = \"zoho-production\"\nallow_production = true\nclient_id = \"1000.PROD\"\nclient_secret = \"prod-secret\"\nrefresh_token = \"1000.prod-refresh\"\n\n[profiles.prod-locked]\ntarget = \"zoho-production\"\nclient_id = \"1000.PROD\"\nclient_secret = \"prod-secret\"\nrefresh_token = \"1000.prod-refresh\"\n",
            sb.base,
            ledger.display()
        ),
    );
    let before = rt.block_on(sb.used());
    let v = json_of(&creditops(
        home.path(),
        &[
            "send",
            q.to_str().unwrap(),
            "--profile",
            "local",
            "--replan",
            "--json",
        ],
    ));
    assert_eq!(v["charged_credits"], v["predicted_credits"], "{v:#}");
    assert!(
        v["sandbox_charged_credits"].is_null(),
        "not a --target sandbox: {v}"
    );
    assert_eq!(
        rt.block_on(sb.used()) - before,
        v["charged_credits"].as_u64().unwrap(),
        "what the ledger says is what the org was charged"
    );
    let ledger_rows = creditops_store::ledger::Ledger::open(&ledger)
        .unwrap()
        .count()
        .unwrap();
    assert!(ledger_rows > 0, "the profile's ledger holds the calls");
    let out = v.to_string();
    assert!(!out.contains("local-secret") && !out.contains("local-refresh"));

    // Production: refused before any request, without the flag, and without the profile's leave.
    for (profile, flag) in [("prod", false), ("prod-locked", true)] {
        let mut args = vec!["send", q.to_str().unwrap(), "--profile", profile];
        if flag {
            args.push("--allow-production");
        }
        let out = creditops(home.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{profile}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("production"), "{profile}: {err}");
        assert!(!err.contains("prod-secret") && !err.contains("prod-refresh"));
    }
}

#[test]
fn send_refuses_a_plan_past_the_sending_integrations_budget() {
    let home = tempfile::tempdir().unwrap();
    let q = queue(home.path());
    common::write_config(
        &home.path().join("config"),
        "[budgets.integrations.nightly-load]\ncredits = 2\npriority = \"background\"\n",
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(Sb::default());
    let out = creditops(
        home.path(),
        &[
            "send",
            q.to_str().unwrap(),
            "--target",
            &sb.base,
            "--integration",
            "nightly-load",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("nightly-load") && err.contains("budget"),
        "{err}"
    );
    assert_eq!(rt.block_on(sb.used()), 0, "nothing was sent");
    // Another integration, without a budget, sends.
    let out = creditops(
        home.path(),
        &["send", q.to_str().unwrap(), "--target", &sb.base],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(rt.block_on(sb.used()) > 2);
}

#[test]
fn references_to_no_call_a_later_call_or_a_cycle_are_refused_with_their_lines() {
    let home = tempfile::tempdir().unwrap();
    let f = home.path().join("refs.jsonl");
    std::fs::write(
        &f,
        [
            r#"{"id":"a","method":"POST","path":"/crm/v8/Accounts","body":{"data":[{"Account_Name":"A"}]}}"#,
            r#"{"id":"b","method":"PUT","path":"/crm/v8/Accounts/@{a}","body":{"data":[{"Phone":"1"}]}}"#,
            r#"{"id":"c","method":"PUT","path":"/crm/v8/Accounts/@{nobody}","body":{"data":[{"Phone":"2"}]}}"#,
            r#"{"id":"d","method":"PUT","path":"/crm/v8/Accounts/@{e}","body":{"data":[{"Phone":"3"}]}}"#,
            r#"{"id":"e","method":"POST","path":"/crm/v8/Contacts","body":{"data":[{"Last_Name":"E","Account_Name":{"id":"@{d}"}}]}}"#,
            r#"{"id":"f","method":"PUT","path":"/crm/v8/Accounts/@{g}","body":{"data":[{"Phone":"4"}]}}"#,
            r#"{"id":"g","method":"POST","path":"/crm/v8/Accounts","body":{"data":[{"Account_Name":"G"}]}}"#,
            r#"{"id":"h","method":"DELETE","path":"/crm/v8/Accounts/@{c}"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let out = creditops(home.path(), &["plan", f.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let name = f.display().to_string();
    for (line, reason) in [
        (3, "`@{nobody}` names no call in the queue"),
        (4, "`@{e}` forms a cycle"),
        (5, "`@{d}` names a call refused on"),
        (6, "`@{g}` names a later call"),
        (8, "`@{c}` names a call refused on"),
    ] {
        assert!(
            err.contains(&format!("{name}:{line}: {reason}")),
            "{line}: {err}"
        );
    }
    for fine in [1, 2, 7] {
        assert!(!err.contains(&format!("{name}:{fine}:")), "{fine}: {err}");
    }
    // Skipping bad lines plans the rest, and nothing left names a skipped call.
    let out = creditops(
        home.path(),
        &["plan", f.to_str().unwrap(), "--json", "--skip-bad"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["calls_before"], 3, "{v}");
}

#[test]
fn send_tells_the_truth_about_refused_records_and_dry_runs_send_nothing() {
    let home = tempfile::tempdir().unwrap();
    let q = home.path().join("mixed.jsonl");
    // Three inserts batched into one call; the second has no Last_Name (mandatory).
    std::fs::write(
        &q,
        [
            r#"{"id":"ok1","method":"POST","path":"/crm/v8/Leads","body":{"data":[{"Last_Name":"One"}]}}"#,
            r#"{"id":"bad","method":"POST","path":"/crm/v8/Leads","body":{"data":[{"First_Name":"No last name"}]}}"#,
            r#"{"id":"ok2","method":"POST","path":"/crm/v8/Leads","body":{"data":[{"Last_Name":"Two"}]}}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(Sb::default());
    let ledger = home.path().join("send.sqlite");

    // --dry-run: what would go, and its price; nothing sent, no target needed.
    let used = rt.block_on(sb.used());
    let dry = json_of(&creditops(
        home.path(),
        &[
            "send",
            q.to_str().unwrap(),
            "--replan",
            "--dry-run",
            "--json",
        ],
    ));
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["predicted_credits"], 1, "{dry}");
    assert_eq!(
        dry["steps"].as_array().unwrap().len(),
        1,
        "one batch: {dry}"
    );
    assert_eq!(rt.block_on(sb.used()), used, "nothing was sent");

    let out = creditops(
        home.path(),
        &[
            "send",
            q.to_str().unwrap(),
            "--replan",
            "--target",
            &sb.base,
            "--ledger",
            ledger.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a refused record fails the send"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["failed_records"], 1, "{v:#}");
    assert_eq!(v["failed_steps"], 1, "{v:#}");
    let step = &v["steps"][0];
    let failures = step["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{step}");
    assert_eq!(failures[0]["call"], "bad");
    assert_eq!(failures[0]["code"], "MANDATORY_NOT_FOUND");
    assert_eq!(failures[0]["field"], "Last_Name");
    assert!(
        step["error"]
            .as_str()
            .is_some_and(|e| e.contains("1 of 3") && e.contains("MANDATORY_NOT_FOUND")),
        "{step}"
    );
    // The text report names the refused record too.
    let out = creditops(
        home.path(),
        &[
            "send",
            q.to_str().unwrap(),
            "--target",
            &sb.base,
            "--ledger",
            ledger.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("call bad: MANDATORY_NOT_FOUND"), "{text}");
}

#[test]
fn endless_inputs_stop_at_their_bound_with_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str], limit: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_creditops"));
        cmd.args(args)
            .env("CREDITOPS_CONFIG_DIR", home.path().join("config"))
            .env("CREDITOPS_DATA_DIR", home.path().join("data"))
            .env("CREDITOPS_CACHE_DIR", home.path().join("cache"))
            .stdin(std::process::Stdio::null());
        if let Some(l) = limit {
            cmd.env("CREDITOPS_MAX_INPUT", l);
        }
        cmd.output().unwrap()
    };
    for args in [
        &["plan", "/dev/zero"][..],
        &["estimate", "--history", "/dev/zero"][..],
        &["send", "/dev/zero", "--dry-run"][..],
    ] {
        let out = run(args, Some("1M"));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("/dev/zero: larger than 1048576 bytes")
                && err.contains("CREDITOPS_MAX_INPUT"),
            "{args:?}: {err}"
        );
    }
    let out = run(&["plan", "/dev/zero"], Some("a lot"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CREDITOPS_MAX_INPUT=a lot: not a size"));
}

#[test]
fn plan_keeps_writes_ordered_on_the_orgs_own_unique_fields() {
    let home = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sb = rt.block_on(Sb::default());
    // The org: a custom unique field on Leads, and a custom Vendors module with nothing unique
    // (the defaults say Vendor_Name is).
    let (s, _, _) = rt.block_on(sb.call(
        "POST",
        "/crm/v8/settings/fields?module=Leads",
        Some(json!({"fields": [{"field_label": "Partner Code", "data_type": "text", "unique": {"casesensitive": "false"}}]})),
    ));
    assert_eq!(s, 201);
    let (s, _, _) = rt.block_on(sb.call(
        "POST",
        "/crm/v8/settings/modules",
        Some(json!({"modules": [{"plural_label": "Vendors", "singular_label": "Vendor"}]})),
    ));
    assert_eq!(s, 201);
    let q = home.path().join("q.jsonl");
    std::fs::write(
        &q,
        [
            r#"{"method":"POST","path":"/crm/v8/Leads","body":{"data":[{"Last_Name":"A","Partner_Code":"P1"}]}}"#,
            r#"{"method":"POST","path":"/crm/v8/Leads","body":{"data":[{"Last_Name":"B","Partner_Code":"P1"}]}}"#,
            r#"{"method":"POST","path":"/crm/v8/Vendors","body":{"data":[{"Name":"V1","Vendor_Name":"Acme"}]}}"#,
            r#"{"method":"POST","path":"/crm/v8/Vendors","body":{"data":[{"Name":"V2","Vendor_Name":"Acme"}]}}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let steps_on = |plan: &Value, module: &str| {
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["path"] == format!("/crm/v8/{module}"))
            .count()
    };
    // Batching only: what uniqueness decides is whether writes may share a call.
    let defaults = json_of(&creditops(
        home.path(),
        &["plan", q.to_str().unwrap(), "--json", "--rules", "batch"],
    ));
    assert_eq!(defaults["unique_fields"]["source"], "defaults");
    assert_eq!(
        steps_on(&defaults, "Leads"),
        1,
        "Partner_Code is not unique by default: one batch"
    );
    assert_eq!(
        steps_on(&defaults, "Vendors"),
        2,
        "Vendor_Name is by default: kept apart"
    );
    let used = rt.block_on(sb.used());
    let org = json_of(&creditops(
        home.path(),
        &[
            "plan",
            q.to_str().unwrap(),
            "--json",
            "--rules",
            "batch",
            "--org",
            &sb.base,
        ],
    ));
    assert!(
        org["unique_fields"]["source"]
            .as_str()
            .is_some_and(|s| s.contains(&sb.base)),
        "{}",
        org["unique_fields"]
    );
    assert_eq!(
        steps_on(&org, "Leads"),
        2,
        "the org's unique Partner_Code keeps them ordered"
    );
    assert_eq!(
        steps_on(&org, "Vendors"),
        1,
        "the org's Vendors hold nothing unique: one batch"
    );
    assert_eq!(
        rt.block_on(sb.used()) - used,
        2,
        "one fields call per written module"
    );
    let text = String::from_utf8_lossy(
        &creditops(
            home.path(),
            &["plan", q.to_str().unwrap(), "--org", &sb.base],
        )
        .stdout,
    )
    .to_string();
    assert!(
        text.contains("unique fields: from org at")
            && text.contains("Leads.Email,External_Id,Partner_Code"),
        "{text}"
    );
}
