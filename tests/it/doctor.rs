//! The way to a real org: `creditops auth` exchanges a self client's grant code for a refresh
//! token and stores it; `creditops doctor` checks config, file modes, endpoints, clock and
//! token scopes. Against the sandbox, which plays Zoho's accounts server (grant codes used
//! once, refresh tokens checked).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use creditops_core::secret::Secret;
use creditops_sandbox::SandboxConfig;

use crate::common::{write_config, Sb};

const CLIENT_ID: &str = "1000.DOCTORTEST";
const CLIENT_SECRET: &str = "s3cret-client-9f2c";
const REFRESH: &str = "1000.refresh-7d1e5a0b";

/// Runs creditops with `stdin` piped in (not a terminal: one value per line).
async fn creditops_fed(home: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let home = home.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_creditops"))
            .args(&args)
            .env("CREDITOPS_CONFIG_DIR", home.join("config"))
            .env("CREDITOPS_DATA_DIR", home.join("data"))
            .env("CREDITOPS_CACHE_DIR", home.join("cache"))
            .env_remove("CREDITOPS_PROFILE")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("creditops runs");
        let mut pipe = child.stdin.take().expect("stdin");
        let _ = pipe.write_all(stdin.as_bytes());
        drop(pipe);
        child.wait_with_output().expect("creditops ends")
    })
    .await
    .expect("joined")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn accounts() -> Sb {
    Sb::start(SandboxConfig {
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(Secret::new(CLIENT_SECRET)),
        refresh_token: Some(Secret::new(REFRESH)),
        ..SandboxConfig::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_stores_the_refresh_token_keeping_the_config_and_doctor_then_passes() {
    let sb = accounts().await;
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config/config.toml");
    write_config(
        &home.path().join("config"),
        &format!(
            "# our org, ask Dana before changing\ndefault_profile = \"acme\"\n\n[profiles.acme]\ntarget = \"zoho-sandbox\" # the sandbox org first\napi_base = \"{b}\"\naccounts_base = \"{b}\"\nclient_id = \"{CLIENT_ID}\"\n",
            b = sb.base
        ),
    );
    // Before: doctor names the missing token and the command that gives it; exit 1.
    let out = creditops_fed(home.path(), &["doctor"], "").await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("creditops auth --profile acme"),
        "{}",
        text(&out)
    );

    // The secret and the code come on stdin (never as arguments); a code not of Zoho's shape
    // is refused with what to do, and nothing is written.
    let before = std::fs::read_to_string(&config).unwrap();
    let out = creditops_fed(
        home.path(),
        &["auth", "--profile", "acme"],
        &format!("{CLIENT_SECRET}\nnot-a-code\n"),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("invalid_code"), "{}", text(&out));
    assert!(text(&out).contains("Generate Code"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);

    let out = creditops_fed(
        home.path(),
        &["auth", "--profile", "acme"],
        &format!("{CLIENT_SECRET}\n1000.grant-code-1\n"),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("ZohoCRM.modules.ALL"),
        "the scopes are named: {said}"
    );
    assert!(said.contains("scopes: all 7"), "{said}");
    assert!(
        !said.contains(REFRESH) && !said.contains(CLIENT_SECRET),
        "no secret is printed: {said}"
    );
    let after = std::fs::read_to_string(&config).unwrap();
    assert!(
        after.contains(&format!("refresh_token = \"{REFRESH}\"")),
        "{after}"
    );
    assert!(
        after.contains(&format!("client_secret = \"{CLIENT_SECRET}\"")),
        "{after}"
    );
    assert!(
        after.contains("# our org, ask Dana before changing")
            && after.contains("# the sandbox org first"),
        "the user's comments are kept: {after}"
    );
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A grant code is used once.
    let out = creditops_fed(
        home.path(),
        &["auth", "--profile", "acme"],
        "1000.grant-code-1\n",
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("already used"), "{}", text(&out));

    // Doctor: every check passes, nothing charged (the API was asked without a token).
    let used = sb.used().await;
    let out = creditops_fed(home.path(), &["doctor", "--json"], "").await;
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = |name: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .map(|c| c["status"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no {name} check: {v}"))
    };
    assert_eq!(status("config"), "ok");
    assert_eq!(status("config mode"), "ok");
    assert_eq!(status("acme: api"), "ok");
    assert_eq!(status("acme: token"), "ok");
    assert_eq!(status("acme: clock"), "ok");
    assert_eq!(v["failed"], 0);
    assert_eq!(sb.used().await, used, "doctor spends no credit");

    // A config others can read, while it holds secrets: a failure, with the fix.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = creditops_fed(home.path(), &["doctor"], "").await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("chmod 600 {}", config.display())),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(REFRESH), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_what_cannot_be_reached_and_leaves_production_alone() {
    let sb = accounts().await;
    // A port nothing listens on: bound, then released.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let home = tempfile::tempdir().unwrap();
    write_config(
        &home.path().join("config"),
        &format!(
            r#"
[profiles.gone]
target = "zoho-sandbox"
api_base = "http://127.0.0.1:{closed}"
accounts_base = "{b}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
refresh_token = "1000.not-the-one"

[profiles.live]
target = "zoho-production"
data_centre = "eu"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
refresh_token = "{REFRESH}"
accounts_base = "{b}"

[receiver]
forward_to = "http://127.0.0.1:{closed}/events"
"#,
            b = sb.base
        ),
    );
    let out = creditops_fed(home.path(), &["doctor", "--json"], "").await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let find = |name: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check: {v}"))
    };
    let api = find("gone: api");
    assert_eq!(api["status"], "fail", "{api}");
    assert!(api["detail"].as_str().unwrap().contains("cannot"), "{api}");
    let token = find("gone: token");
    assert_eq!(
        token["status"], "fail",
        "a refresh token the server refuses: {token}"
    );
    assert_eq!(token["fix"], "creditops auth --profile gone");
    // Production is not contacted without the flag (and the profile does not allow it).
    let prod = find("live: api");
    assert_eq!(prod["status"], "skipped", "{prod}");
    assert!(
        prod["detail"].as_str().unwrap().contains("www.zohoapis.eu"),
        "{prod}"
    );
    assert_eq!(find("receiver forward_to")["status"], "fail");
    // The text form: a table, and a list of fixes.
    let out = creditops_fed(home.path(), &["doctor"], "").await;
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(t.starts_with("CHECK"), "{t}");
    assert!(t.contains("to fix:"), "{t}");
    assert!(
        !text(&out).contains(CLIENT_SECRET) && !text(&out).contains(REFRESH),
        "{}",
        text(&out)
    );
}
