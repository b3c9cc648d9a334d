//! `creditops estimate` on CSV history: errors, repairs, the JSON others rely on.

use std::process::Command;

use serde_json::Value;

fn run(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_creditops"))
        .args(args)
        .env("CREDITOPS_CONFIG_DIR", dir.join("cfg"))
        .env("CREDITOPS_DATA_DIR", dir.join("data"))
        .output()
        .unwrap()
}

fn csv(days: usize, base: f64) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let week = [1.0, 1.1, 1.05, 1.0, 0.95, 0.35, 0.3];
    let mut s = String::from("date,credits\n");
    for t in 0..days {
        let v = (base + 50.0 * t as f64) * week[t % 7] * (1.0 + ((t * 37) % 11) as f64 / 200.0);
        s.push_str(&format!(
            "{},{:.0}\n",
            start + chrono::Duration::days(t as i64),
            v
        ));
    }
    s
}

#[test]
fn json_has_what_other_tools_rely_on() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("h.csv");
    std::fs::write(&f, csv(150, 60_000.0)).unwrap();
    let out = run(
        dir.path(),
        &[
            "estimate",
            "--history",
            f.to_str().unwrap(),
            "--edition",
            "enterprise",
            "--users",
            "20",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "model",
        "backtest",
        "forecast",
        "daily_limit",
        "recommended_addon",
        "expected_monthly_cost_usd",
        "days_at_risk",
    ] {
        assert!(v.get(k).is_some(), "{k}");
    }
    assert!(v["backtest"]["mase"].as_f64().unwrap() < 1.0);
    assert!(v["backtest"]["coverage"].as_f64().is_some());
    assert_eq!(v["forecast"].as_array().unwrap().len(), 30);
    let p = &v["forecast"][0];
    assert!(
        p["date"].is_string()
            && p["lo"].as_f64() <= p["mean"].as_f64()
            && p["mean"].as_f64() <= p["hi"].as_f64()
    );
    assert_eq!(v["daily_limit"], 70_000);
    assert!(
        v["recommended_addon"].as_u64().unwrap() > 0,
        "weekdays reach the limit"
    );
    // Export as Markdown too.
    let md = dir.path().join("r.md");
    let out = run(
        dir.path(),
        &[
            "estimate",
            "--history",
            f.to_str().unwrap(),
            "--edition",
            "enterprise",
            "--users",
            "20",
            "--horizon",
            "14",
            "--export",
            "md",
            "--out",
            md.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&md)
        .unwrap()
        .contains("recommended add-on"));
}

#[test]
fn bad_rows_are_listed_and_short_series_get_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.csv");
    std::fs::write(
        &f,
        "date,credits\n2026-01-01,10\n2026-01-02,ten\n2026-13-01,4\n",
    )
    .unwrap();
    let out = run(dir.path(), &["estimate", "--history", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.csv:3: credits `ten` is not a number")
            && err.contains("bad.csv:4: `2026-13-01` is not a date"),
        "{err}"
    );
    let f = dir.path().join("short.csv");
    std::fs::write(
        &f,
        "date,credits\n2026-01-01,100\n2026-01-03,300\n2026-01-02,200\n",
    )
    .unwrap();
    let out = run(
        dir.path(),
        &["estimate", "--history", f.to_str().unwrap(), "--json"],
    );
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"], "naive_mean");
    assert!(v["message"].as_str().unwrap().contains("too short"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in date order"));
    let out = run(
        dir.path(),
        &[
            "estimate",
            "--history",
            f.to_str().unwrap(),
            "--level",
            "1.5",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
}
