//! Zoho's official Python SDK (zohocrmsdk8-0, installed by .ci/run) works against the sandbox
//! unchanged: token, current user, org, fields, create, get, update, upsert and delete.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Sb;

fn sdk_installed() -> bool {
    Command::new("python3")
        .args(["-c", "import zohocrmsdk.src.com.zoho.crm.api.record"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_works_against_the_sandbox() {
    if !sdk_installed() {
        // CI installs the SDK (.ci/run), so there it must run; a developer without it is told.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install zohocrmsdk8-0 (see .ci/run)"
        );
        eprintln!("skipped: pip install zohocrmsdk8-0 to run the SDK conformance test");
        return;
    }
    let sb = Sb::default().await;
    let work = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/python_sdk_check.py");
    let base = sb.base.clone();
    let dir = work.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&base)
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let start = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if start.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SDK steps failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("sdk: 8 passed, 0 failed"), "{stdout}");
    // The SDK's hidden calls (current user, org, field metadata) were metered like any other.
    let usage = sb.usage().await;
    assert!(usage["by_api"]["users"]["calls"].as_u64().unwrap() >= 1);
    assert!(usage["by_api"]["org"]["calls"].as_u64().unwrap() >= 1);
    assert!(
        usage["by_api"]["insert_records"]["credits"]
            .as_u64()
            .unwrap()
            >= 1
    );
}
