//! Zoho's official SDKs, unchanged, through the creditops proxy in front of the sandbox: the
//! Python SDK (zohocrmsdk8-0) and the Node.js SDK (@zohocrm/nodejs-sdk-8.0), both installed by
//! .ci/run. Each refreshes its token, asks for the current user, the org, the fields (twice),
//! creates, gets, updates, upserts, searches, runs COQL, counts records, tags one record and
//! many, mass-updates (and reads the job's status), reads related records and deletes; every
//! call is metered
//! (ledger == the sandbox's own count) and attributed to the SDK's OAuth client, and the SDK
//! stays behind the proxy (the token answer's api_domain names the proxy).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{loopback, Sb};
use creditops_net::proxy::{spawn as spawn_proxy, ProxyConfig};
use creditops_sandbox::SandboxConfig;
use creditops_store::cache::{CacheSettings, MetadataCache};
use creditops_store::ledger::{Group, Ledger};

const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk");

fn python_sdk_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import zohocrmsdk.src.com.zoho.crm.api.record"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn node_sdk_installed() -> bool {
    Path::new(SDK_DIR)
        .join("node_modules/@zohocrm/nodejs-sdk-8.0/package.json")
        .exists()
        && Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// CI installs the SDKs (.ci/run), so there they must run; a developer without one is told.
fn present(installed: bool, what: &str) -> bool {
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install {what} (see .ci/run)"
        );
        eprintln!("skipped: {what} is not installed (see .ci/run)");
    }
    installed
}

/// Runs a program (bounded: 180 s) and returns its output.
async fn run(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the SDK runner starts");
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(180) {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

const CLIENT_SECRET: &str = "sdk-client-secret";

/// A sandbox that only mints tokens for `client_id` with its secret and refresh token, behind
/// a proxy with a metadata cache; returns them with the ledger's path.
async fn org_behind_proxy(
    client_id: &str,
    refresh_token: &str,
    dir: &Path,
) -> (Sb, creditops_net::proxy::ProxyHandle, PathBuf) {
    let sb = Sb::start(SandboxConfig {
        client_id: Some(client_id.to_string()),
        client_secret: Some(creditops_core::secret::Secret::new(CLIENT_SECRET)),
        refresh_token: Some(creditops_core::secret::Secret::new(refresh_token)),
        ..Default::default()
    })
    .await;
    let ledger = dir.join("ledger.sqlite");
    let cache = std::sync::Arc::new(
        MetadataCache::open(dir.join("metadata.sqlite"), CacheSettings::default()).unwrap(),
    );
    let proxy = spawn_proxy(
        ProxyConfig {
            cache: Some(cache),
            ..ProxyConfig::new(&sb.base, &ledger)
        },
        loopback(),
    )
    .await
    .unwrap();
    (sb, proxy, ledger)
}

/// What every SDK run must show: all steps passed, ledger == sandbox, the credits on the SDK's
/// client, the second fields call answered by the cache.
async fn check(out: &std::process::Output, sb: &Sb, ledger: &Path, client_id: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("sdk: 16 passed, 0 failed"),
        "SDK steps failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let now = chrono::Utc::now().timestamp_millis();
    let l = Ledger::open(ledger).unwrap();
    let sandbox = sb.used().await;
    assert!(sandbox > 0);
    assert_eq!(
        l.used_at(now).unwrap(),
        sandbox,
        "ledger == the sandbox's own count"
    );
    let by = l.breakdown(now, Group::Integration).unwrap();
    let client = by
        .get(&format!("client:{client_id}"))
        .unwrap_or_else(|| panic!("{by:?}"));
    assert_eq!(
        client.credits, sandbox,
        "every credit on the SDK's client: {by:?}"
    );
    assert!(
        l.saved_at(now).unwrap() >= 1,
        "the second fields call came from the cache"
    ); // The figures, for whoever runs this with --nocapture.
    eprintln!(
        "{client_id}: 16/16 steps; ledger {} credits = sandbox {sandbox}; {} saved by the cache",
        l.used_at(now).unwrap(),
        l.saved_at(now).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_works_through_the_proxy() {
    if !present(python_sdk_installed(), "Zoho's Python SDK (zohocrmsdk8-0)") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (sb, proxy, ledger) = org_behind_proxy("1000.PYSDK", "1000.py-refresh", work.path()).await;
    let mut cmd = Command::new("python3");
    cmd.arg(format!("{SDK_DIR}/python_sdk_check.py"))
        .arg(proxy.base_url())
        .arg(work.path().join("py"))
        .args(["1000.PYSDK", CLIENT_SECRET, "1000.py-refresh"]);
    let out = run(cmd).await;
    check(&out, &sb, &ledger, "1000.PYSDK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_node_sdk_works_through_the_proxy_and_stays_behind_it() {
    if !present(
        node_sdk_installed(),
        "Zoho's Node.js SDK (npm ci in tests/sdk)",
    ) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (sb, proxy, ledger) =
        org_behind_proxy("1000.NODESDK", "1000.node-refresh", work.path()).await;
    let mut cmd = Command::new("node");
    cmd.current_dir(SDK_DIR)
        .arg(format!("{SDK_DIR}/node_sdk_check.mjs"))
        .arg(proxy.base_url())
        .arg(work.path().join("node"))
        .args(["1000.NODESDK", CLIENT_SECRET, "1000.node-refresh"]);
    let out = run(cmd).await;
    check(&out, &sb, &ledger, "1000.NODESDK").await;
    // The token the SDK stored names the proxy as its API domain: it will keep coming here.
    let tokens = std::fs::read_to_string(work.path().join("node/tokens.txt")).unwrap();
    assert!(tokens.contains(&proxy.base_url()), "{tokens}");
    assert!(!tokens.contains(&sb.base), "{tokens}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_works_against_the_sandbox_directly() {
    if !present(python_sdk_installed(), "Zoho's Python SDK (zohocrmsdk8-0)") {
        return;
    }
    let sb = Sb::default().await;
    let work = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(format!("{SDK_DIR}/python_sdk_check.py"))
        .arg(&sb.base)
        .arg(work.path());
    let out = run(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("sdk: 16 passed, 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let usage = sb.usage().await;
    assert!(usage["by_api"]["users"]["calls"].as_u64().unwrap() >= 1);
    assert!(usage["by_api"]["coql"]["calls"].as_u64().unwrap() >= 1);
}
