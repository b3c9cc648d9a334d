//! A real terminal: tmux runs `creditops` (the embedded default), keys are sent, panes captured.
//! tmux is installed by .ci/run; without it (outside CI) the test says so and stops.

use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_console_in_a_real_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install tmux (see .ci/run)"
        );
        eprintln!("skipped: install tmux to run the real-terminal test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let session = format!("creditops-test-{}", std::process::id());
    let socket = dir.path().join("tmux.sock");
    let sock = socket.to_str().unwrap();
    let cmd = format!(
        "CREDITOPS_CONFIG_DIR={d}/cfg CREDITOPS_DATA_DIR={d}/data CREDITOPS_CACHE_DIR={d}/cache {exe}; echo CREDITOPS_EXIT=$?; sleep 60",
        d = dir.path().display(),
        exe = env!("CARGO_BIN_EXE_creditops")
    );
    let t = |args: &[&str]| {
        let mut all = vec!["-S", sock];
        all.extend_from_slice(args);
        tmux(&all)
    };
    t(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "36",
        &cmd,
    ]);
    let capture = |needle: &str| {
        let start = Instant::now();
        loop {
            let pane = t(&["capture-pane", "-p", "-t", &session]);
            if pane.contains(needle) || start.elapsed() > Duration::from_secs(20) {
                return pane;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // The embedded default: live gauges on demo traffic, said plainly in the status bar.
        let pane = capture("shop-sync");
        assert!(
            pane.contains("Rolling 24 h") && pane.contains("EMBEDDED SANDBOX"),
            "{pane}"
        );
        assert!(
            pane.contains("By integration") && pane.contains("shop-sync"),
            "demo traffic shows: {pane}"
        );
        // The CLI reads the running demo: its ledger (live traffic and the seeded weeks) and
        // its events.
        let cli = |args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_creditops"))
                .args(args)
                .env("CREDITOPS_CONFIG_DIR", dir.path().join("cfg"))
                .env("CREDITOPS_DATA_DIR", dir.path().join("data"))
                .env("CREDITOPS_CACHE_DIR", dir.path().join("cache"))
                .output()
                .unwrap()
        };
        let out = cli(&["usage", "--embedded", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["used"].as_u64().unwrap() > 0, "{v}");
        assert!(
            v["ledger"].as_str().unwrap().contains("embedded-demo"),
            "{v}"
        );
        let out = cli(&["estimate", "--embedded", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let e: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(e["history_days"].as_u64().unwrap() >= 50, "{e}");
        for (key, needle) in [
            ("2", "hit ratio"),
            ("3", "notification"),
            // The demo starts with weeks of history: a forecast and a recommendation at once.
            ("4", "recommended"),
            ("5", "bounds ordered"),
        ] {
            t(&["send-keys", "-t", &session, key]);
            let pane = capture(needle);
            assert!(pane.contains(needle), "tab {key}: {pane}");
            if key == "4" {
                let days: u32 = pane
                    .split("history ")
                    .nth(1)
                    .and_then(|r| r.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                assert!(days >= 50, "weeks of demo history: {pane}");
            }
        }
        // The Planner sends its plan to the embedded sandbox after a confirmation, and shows
        // what the ledger charged against what it predicted.
        t(&["send-keys", "-t", &session, "s"]);
        let pane = capture("Send to the sandbox?");
        assert!(pane.contains("Predicted"), "{pane}");
        t(&["send-keys", "-t", &session, "Enter"]);
        let pane = capture("as predicted");
        assert!(pane.contains("charged"), "{pane}");
        t(&["send-keys", "-t", &session, "1"]);
        t(&["send-keys", "-t", &session, "?"]);
        let pane = capture("Help: keys");
        assert!(pane.contains("Gauges view"), "{pane}");
        t(&["send-keys", "-t", &session, "Escape"]);
        t(&["send-keys", "-t", &session, "t"]);
        let pane = capture("light");
        assert!(pane.contains("light"), "theme cycled: {pane}");
        t(&["send-keys", "-t", &session, "q"]);
        let pane = capture("CREDITOPS_EXIT=");
        assert!(pane.contains("CREDITOPS_EXIT=0"), "q exits 0: {pane}");
        // The alternate screen is gone: the shell's own output is on the normal screen.
        assert!(!pane.contains("Rolling 24 h"), "terminal restored: {pane}");
    }));
    t(&["kill-server"]);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
