//! The command line as users and scripts call it.

use std::path::Path;

use serde_json::Value;

use crate::common;
use common::{creditops, json_of};

fn records_file(dir: &Path, n: usize) -> std::path::PathBuf {
    let data: Vec<Value> = (0..n)
        .map(|i| serde_json::json!({"Last_Name": format!("L{i}")}))
        .collect();
    let f = dir.join(format!("records-{n}.json"));
    std::fs::write(&f, serde_json::json!({ "data": data }).to_string()).unwrap();
    f
}

#[test]
fn limits_json_for_professional_40_users() {
    let home = tempfile::tempdir().unwrap();
    let v = json_of(&creditops(
        home.path(),
        &[
            "limits",
            "--edition",
            "professional",
            "--users",
            "40",
            "--json",
        ],
    ));
    assert_eq!(v["daily_limit"], 70_000);
    assert_eq!(v["edition"], "professional");
    assert_eq!(v["users"], 40);
    assert_eq!(v["cap"], 3_000_000);
    assert_eq!(v["addon"], 0);
    assert_eq!(v["concurrency"], 15);
    assert_eq!(v["sub_concurrency"], 10);
    let marks: Vec<u64> = v["alert_thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["percent"].as_u64().unwrap())
        .collect();
    assert_eq!(marks, vec![80, 90, 100]);
    assert_eq!(v["alert_thresholds"][0]["credits"], 56_000);
}

#[test]
fn limits_text_and_unknown_edition() {
    let home = tempfile::tempdir().unwrap();
    let out = creditops(
        home.path(),
        &[
            "limits",
            "--edition",
            "ultimate",
            "--users",
            "5",
            "--addon",
            "1000",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("61,000 credits per rolling 24 h"), "{text}");
    assert!(text.contains("unlimited"), "{text}");
    let bad = creditops(
        home.path(),
        &["limits", "--edition", "platinum", "--users", "5"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown edition `platinum`"));
}

#[test]
fn cost_of_37_records_is_4() {
    let home = tempfile::tempdir().unwrap();
    let f = records_file(home.path(), 37);
    let v = json_of(&creditops(
        home.path(),
        &[
            "cost",
            "POST",
            "/crm/v8/Leads",
            "--body",
            f.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(v["credits"], 4);
    assert_eq!(v["rule"], "insert_records");
    assert_eq!(v["priced"], true);
}

#[test]
fn cost_examples_from_the_credit_model() {
    let home = tempfile::tempdir().unwrap();
    let v = json_of(&creditops(
        home.path(),
        &[
            "cost",
            "GET",
            "/crm/v8/Leads",
            "--query",
            "cvid=123",
            "--json",
        ],
    ));
    assert_eq!(
        (v["credits"].as_u64(), v["rule"].as_str()),
        (Some(3), Some("get_records_cvid"))
    );
    let v = json_of(&creditops(
        home.path(),
        &["cost", "post", "/crm/v8/Leads/1/actions/convert", "--json"],
    ));
    assert_eq!(v["credits"], 5);
    let v = json_of(&creditops(
        home.path(),
        &["cost", "GET", "/crm/v8/Leads/1/Notes/2/3", "--json"],
    ));
    assert_eq!(
        (v["credits"].as_u64(), v["priced"].as_bool()),
        (Some(1), Some(false))
    );
    let q = home.path().join("q.json");
    std::fs::write(
        &q,
        r#"{"select_query":"select Last_Name from Leads where id > 0 limit 500"}"#,
    )
    .unwrap();
    let v = json_of(&creditops(
        home.path(),
        &[
            "cost",
            "POST",
            "/crm/v8/coql",
            "--body",
            q.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(v["credits"], 2);
}

#[test]
fn cost_refusals_and_bad_input_exit_2_and_say_what() {
    let home = tempfile::tempdir().unwrap();
    let f = records_file(home.path(), 101);
    let out = creditops(
        home.path(),
        &[
            "cost",
            "POST",
            "/crm/v8/Leads",
            "--body",
            f.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "LIMIT_EXCEEDED");

    let bad = home.path().join("bad.json");
    std::fs::write(&bad, "{\"data\": [\n  {\"a\": 1},\n  oops\n]}").unwrap();
    let out = creditops(
        home.path(),
        &[
            "cost",
            "POST",
            "/crm/v8/Leads",
            "--body",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json: line 3"), "{err}");

    let out = creditops(home.path(), &["cost", "FETCH", "/crm/v8/Leads"]);
    assert_eq!(out.status.code(), Some(2));
    let out = creditops(
        home.path(),
        &["cost", "GET", "/crm/v8/Leads", "--query", "novalue"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KEY=VALUE"));
}

#[test]
fn paths_follow_the_environment() {
    let home = tempfile::tempdir().unwrap();
    let v = json_of(&creditops(home.path(), &["paths", "--json"]));
    assert_eq!(
        v["config_dir"],
        home.path().join("config").to_str().unwrap()
    );
    assert_eq!(v["data_dir"], home.path().join("data").to_str().unwrap());
    assert_eq!(v["cache_dir"], home.path().join("cache").to_str().unwrap());
    assert_eq!(
        v["themes_dir"],
        home.path().join("config/themes").to_str().unwrap()
    );
}

#[test]
fn help_and_version_on_every_command() {
    let home = tempfile::tempdir().unwrap();
    let out = creditops(home.path(), &["--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("creditops "));
    for cmd in [
        &["limits"][..],
        &["cost"],
        &["paths"],
        &["credits", "table"],
        &["credits", "import-apis"],
        &["config", "check"],
        &["themes"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = creditops(home.path(), &args);
        assert!(out.status.success(), "{cmd:?} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{cmd:?}"
        );
    }
}

#[test]
fn import_apis_then_cost_uses_the_live_price() {
    let home = tempfile::tempdir().unwrap();
    let apis = home.path().join("apis.json");
    std::fs::write(&apis, r#"{"__apis":[{"path":"/crm/v8/Leads/deleted","operation_types":[{"method":"GET","oauth_scope":"ZohoCRM.modules.ALL","min_credits":4,"max_credits":4}]}]}"#).unwrap();
    let out = creditops(
        home.path(),
        &["credits", "import-apis", apis.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_of(&creditops(
        home.path(),
        &["cost", "GET", "/crm/v8/Leads/deleted", "--json"],
    ));
    assert_eq!(v["credits"], 4);
    // Other modules keep the built-in price.
    let v = json_of(&creditops(
        home.path(),
        &["cost", "GET", "/crm/v8/Deals/deleted", "--json"],
    ));
    assert_eq!(v["credits"], 2);
    std::fs::write(&apis, "not json").unwrap();
    let out = creditops(
        home.path(),
        &["credits", "import-apis", apis.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn invalid_config_names_file_line_and_key() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        "[profiles.a]\nedition = \"enterprise\"\nlicences = \"forty\"\n",
    )
    .unwrap();
    let out = creditops(home.path(), &["limits", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.toml: line 3") && err.contains("key `licences`"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn config_init_is_private_and_a_readable_secret_file_warns() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let out = creditops(home.path(), &["config", "init"]);
    assert!(out.status.success());
    let file = home.path().join("config/config.toml");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::write(
        &file,
        "default_profile = \"z\"\n[profiles.z]\ntarget = \"zoho-sandbox\"\nclient_id = \"1000.ABC\"\nclient_secret = \"s3cr3t-value\"\nrefresh_token = \"1000.refresh-token-value\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = creditops(home.path(), &["config", "show"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("readable by others"), "{err}");
    assert!(
        !shown.contains("s3cr3t-value") && !shown.contains("refresh-token-value"),
        "{shown}"
    );
    assert!(!err.contains("s3cr3t-value"));
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    // `creditops … | head -1`: the reader goes away. Before, each of these panicked with a
    // backtrace and exit 101.
    let home = tempfile::tempdir().unwrap();
    let commands: [&[&str]; 5] = [
        &["credits", "table", "--json"],
        &["credits", "table"],
        &["limits", "--edition", "enterprise", "--users", "10"],
        &["paths", "--json"],
        &["themes"],
    ];
    for args in commands {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_creditops"))
            .args(args)
            .env("CREDITOPS_CONFIG_DIR", home.path().join("config"))
            .env("CREDITOPS_DATA_DIR", home.path().join("data"))
            .env("CREDITOPS_CACHE_DIR", home.path().join("cache"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before the command writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn production_is_refused_however_the_url_is_written_and_wherever_it_comes_from() {
    // No test here reaches the network: each refusal comes before any request.
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    let queue = home.path().join("q.jsonl");
    std::fs::write(&queue, "{\"method\":\"GET\",\"path\":\"/crm/v8/org\"}\n").unwrap();
    for api_base in [
        "https://www.zohoapis.com.",
        "https://x@www.zohoapis.com",
        "https://WWW.ZOHOAPIS.EU:443",
        "https://136.143.190.1",
    ] {
        // A profile that says "sandbox" but whose api_base is production.
        let text = format!(
            "[profiles.s]\ntarget = \"zoho-sandbox\"\napi_base = \"{api_base}\"\nclient_id = \"1000.X\"\nclient_secret = \"cs-secret\"\nrefresh_token = \"rt-secret\"\n"
        );
        crate::common::write_config(&cfg, &text);
        let runs: [&[&str]; 3] = [
            &["send", queue.to_str().unwrap(), "--profile", "s", "--json"],
            &["channels", "enable", "--module", "Leads", "--profile", "s"],
            &["proxy", "--profile", "s", "--listen", "127.0.0.1:0"],
        ];
        for args in runs {
            let out = creditops(home.path(), args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{api_base} {args:?}: {err}");
            assert!(err.contains("production"), "{api_base} {args:?}: {err}");
            assert!(
                !err.contains("cs-secret") && !err.contains("rt-secret"),
                "{err}"
            );
        }
    }
    // From flags too.
    for url in [
        "https://www.zohoapis.com.",
        "https://u@www.zohoapis.in:443/",
    ] {
        let out = creditops(
            home.path(),
            &["send", queue.to_str().unwrap(), "--target", url],
        );
        assert_eq!(out.status.code(), Some(2), "{url}");
        let out = creditops(
            home.path(),
            &["proxy", "--upstream", url, "--listen", "127.0.0.1:0"],
        );
        assert_eq!(out.status.code(), Some(2), "{url}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("production"));
    }
}

#[test]
fn config_check_reports_every_problem_and_bad_names_exit_2() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/config.toml"),
        r#"theme = "nosuch"

[keys]
quit = "Ctrl-Alt-Meta-Q"
teleport = "x"

[receiver]
listen = "everywhere"
forward_to = "not a url"

[alerts]
post_url = "ftp://example.org/hook"

[profiles.eu]
target = "zoho-sandbox"
data_centre = "eu"
"#,
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let f = home.path().join("config/config.toml");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = creditops(home.path(), &["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "[keys]",
        "teleport",
        "[receiver] listen = \"everywhere\"",
        "[receiver] forward_to = \"not a url\"",
        "[alerts] post_url = \"ftp://example.org/hook\"",
        "theme = \"nosuch\": no such theme",
        "[profiles.eu] reaches a Zoho org but has no client_id, client_secret, refresh_token",
    ] {
        assert!(err.contains(needle), "missing {needle}:\n{err}");
    }
    // Names the command line gives that point nowhere are bad input too: 2, like a bad flag.
    let empty = tempfile::tempdir().unwrap();
    for args in [
        &["--theme", "nosuch"][..],
        &["usage", "--profile", "nobody"][..],
        &["estimate", "--profile", "nobody"][..],
    ] {
        let out = creditops(empty.path(), args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn completions_and_the_manual_come_from_the_same_definition_as_help() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = creditops(home.path(), &["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("creditops") && text.contains("estimate"),
            "{shell}: {text}"
        );
    }
    let out = creditops(home.path(), &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "an unknown shell is bad input");
    let out = creditops(home.path(), &["man"]);
    assert!(out.status.success());
    let man = String::from_utf8_lossy(&out.stdout);
    assert!(man.starts_with(".ie") || man.contains(".TH"), "{man}");
    assert!(man.contains("creditops") && man.contains("completions"));
}

#[test]
fn text_output_is_aligned_tables_with_thousands_and_human_durations() {
    use creditops_store::ledger::{CallRecord, LedgerWriter};
    let home = tempfile::tempdir().unwrap();
    let ledger = home.path().join("ledger.sqlite");
    let now = chrono::Utc::now().timestamp_millis();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let w = LedgerWriter::open(&ledger, 30).unwrap();
        for (integration, module, credits) in
            [("erp-bridge", "Accounts", 12_500), ("shop", "Leads", 7)]
        {
            w.append(CallRecord {
                at_ms: now - 60_000,
                integration: integration.into(),
                api: "insert_records".into(),
                module: Some(module.into()),
                method: "POST".into(),
                path: format!("/crm/v8/{module}"),
                records: credits * 10,
                credits,
                status: 201,
                latency_ms: 40,
                priced: true,
                reported_remaining: None,
                saved: 0,
                call_key: None,
            })
            .await
            .unwrap();
        }
    });
    let out = creditops(
        home.path(),
        &[
            "usage",
            "--ledger",
            ledger.to_str().unwrap(),
            "--edition",
            "enterprise",
            "--users",
            "20",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("MODULE"))
        .unwrap_or_else(|| panic!("{text}"));
    // Right-aligned numbers end where their header does, with thousands separators.
    let end = |l: &str, word: &str| l.find(word).map(|i| i + word.len());
    let credits_end = end(lines[header], "CREDITS").unwrap();
    let accounts = lines[header + 1];
    assert!(accounts.starts_with("Accounts"), "{text}");
    assert_eq!(end(accounts, "12,500"), Some(credits_end), "{text}");
    assert!(text.contains("used            12,507 of 70,000"), "{text}");
}

#[test]
fn config_init_writes_a_commented_template_that_checks() {
    let home = tempfile::tempdir().unwrap();
    let out = creditops(home.path(), &["config", "init"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(home.path().join("config/config.toml")).unwrap();
    for needle in [
        "[profiles.embedded]",
        "# [profiles.acme]",
        "# target = \"zoho-sandbox\"",
        "ZohoCRM.modules.ALL",
        "# [store]",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    // As written, it checks and runs the embedded sandbox; uncommented, the real-org profile
    // without credentials is a problem `config check` names.
    let out = creditops(home.path(), &["config", "check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let filled = text
        .replace("# [profiles.acme]", "[profiles.acme]")
        .replace("# target = \"zoho-sandbox\"", "target = \"zoho-sandbox\"");
    std::fs::write(home.path().join("config/config.toml"), filled).unwrap();
    let out = creditops(home.path(), &["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("[profiles.acme] reaches a Zoho org but has no client_id"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
