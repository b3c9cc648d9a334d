//! A real terminal: tmux runs `creditops` (the embedded default), keys are sent, panes captured.
//! tmux is installed by .ci/run; without it (outside CI) the test says so and stops.

use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tmux server of the test's own (its socket in the test's folder) running `creditops` with
/// its folders there, 120×36; `prefix` goes before the command (environment settings), and
/// `after` after it (what the shell does once creditops ends). None where tmux is missing
/// (outside CI: the test says so and stops).
struct Term {
    dir: tempfile::TempDir,
    sock: String,
    session: String,
}

impl Term {
    fn start(name: &str, prefix: &str, after: &str) -> Option<Term> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install tmux (see .ci/run)"
            );
            eprintln!("skipped: install tmux to run the real-terminal test");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("tmux.sock").to_str().unwrap().to_string();
        let session = format!("creditops-{name}-{}", std::process::id());
        let cmd = format!(
            "{prefix} CREDITOPS_CONFIG_DIR={d}/cfg CREDITOPS_DATA_DIR={d}/data CREDITOPS_CACHE_DIR={d}/cache {exe}; {after}",
            d = dir.path().display(),
            exe = env!("CARGO_BIN_EXE_creditops")
        );
        let t = Term { dir, sock, session };
        t.run(&[
            "new-session",
            "-d",
            "-s",
            &t.session,
            "-x",
            "120",
            "-y",
            "36",
            &cmd,
        ]);
        Some(t)
    }

    fn run(&self, args: &[&str]) -> String {
        let mut all = vec!["-S", self.sock.as_str()];
        all.extend_from_slice(args);
        tmux(&all)
    }

    fn keys(&self, k: &str) {
        self.run(&["send-keys", "-t", &self.session, k]);
    }

    /// The pane once `ok` holds (or the last one after 20 s); with its attributes if `attrs`.
    fn pane_when(&self, attrs: bool, ok: &dyn Fn(&str) -> bool) -> String {
        let start = Instant::now();
        let mut args = vec!["capture-pane", "-p", "-t", self.session.as_str()];
        if attrs {
            args.push("-e");
        }
        loop {
            let pane = self.run(&args);
            if ok(&pane) || start.elapsed() > Duration::from_secs(20) {
                return pane;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

#[test]
fn the_console_in_a_real_terminal() {
    let Some(term) = Term::start("test", "", "echo CREDITOPS_EXIT=$?; sleep 60") else {
        return;
    };
    let dir = &term.dir;
    let session = term.session.clone();
    let t = |args: &[&str]| term.run(args);
    let capture = |needle: &str| term.pane_when(false, &|p| p.contains(needle));
    // A failed assertion unwinds through `term`, whose drop stops the tmux server.
    {
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
    }
}

/// Where the selections are in a pane captured with its attributes (`capture-pane -e`): the
/// (line, column) of every reverse-video run, which is how the console marks a selection when
/// NO_COLOR is set.
fn reversed(pane: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (n, line) in pane.lines().enumerate() {
        let mut col = 0;
        let mut rest = line;
        while let Some(i) = rest.find('\x1b') {
            col += rest[..i].chars().count();
            let seq_end = rest[i..].find('m').map_or(rest.len(), |e| i + e + 1);
            let seq = &rest[i..seq_end];
            if seq.starts_with("\x1b[") && seq[2..seq.len() - 1].split(';').any(|p| p == "7") {
                out.push((n, col));
            }
            rest = &rest[seq_end..];
        }
    }
    out
}

#[test]
fn j_k_g_and_the_help_modal_in_a_real_terminal() {
    let Some(term) = Term::start("keys", "NO_COLOR=1", "sleep 60") else {
        return;
    };
    let pane_when = |ok: &dyn Fn(&str) -> bool| term.pane_when(true, ok);
    let key = |k: &str| term.keys(k);
    // A failed assertion unwinds through `term`, whose drop stops the tmux server.
    {
        pane_when(&|p| p.contains("Rolling 24 h"));
        // The Planner's lists hold still (the demo queue), so selections can be followed.
        key("5");
        let first = pane_when(&|p| p.contains("bounds ordered"));
        let at_first = reversed(&first);
        assert!(at_first.len() >= 3, "tab, rule cursor, a row: {at_first:?}");
        // What left the old positions and what appeared (copied: the positions are small).
        let moved = |before: &[(usize, usize)], after: &[(usize, usize)]| {
            let gone: Vec<(usize, usize)> = before
                .iter()
                .filter(|x| !after.contains(x))
                .copied()
                .collect();
            let new: Vec<(usize, usize)> = after
                .iter()
                .filter(|x| !before.contains(x))
                .copied()
                .collect();
            (gone, new)
        };
        // j: one selection goes one line down, nothing else moves.
        key("j");
        let after_j = reversed(&pane_when(&|p| reversed(p) != at_first));
        let (gone, new) = moved(&at_first, &after_j);
        assert!(
            gone.len() == 1 && new.len() == 1 && new[0].0 == gone[0].0 + 1 && new[0].1 == gone[0].1,
            "j moves the selection one row down: {at_first:?} → {after_j:?}"
        );
        // k: back where it was.
        key("k");
        let after_k = reversed(&pane_when(&|p| reversed(p) == at_first));
        assert_eq!(after_k, at_first, "k moves it back");
        // G: the last row (further down); g: the first again.
        key("G");
        let after_g = reversed(&pane_when(&|p| reversed(p) != at_first));
        let (gone, new) = moved(&at_first, &after_g);
        assert!(
            gone.len() == 1 && new.len() == 1 && new[0].0 > gone[0].0 + 1,
            "G goes to the last row: {at_first:?} → {after_g:?}"
        );
        key("g");
        assert_eq!(reversed(&pane_when(&|p| reversed(p) == at_first)), at_first);
        // The help is a modal: `?` opens it, keys under it do nothing, `?` and Esc close it.
        key("?");
        pane_when(&|p| p.contains("Help: keys"));
        key("j");
        key("?");
        let closed = pane_when(&|p| !p.contains("Help: keys"));
        assert!(!closed.contains("Help: keys"), "? closes the help");
        assert_eq!(
            reversed(&closed),
            at_first,
            "j under the help moved nothing"
        );
        key("?");
        pane_when(&|p| p.contains("Help: keys"));
        key("Escape");
        let closed = pane_when(&|p| !p.contains("Help: keys"));
        assert!(!closed.contains("Help: keys"), "Esc closes the help");
        key("q");
    }
}
