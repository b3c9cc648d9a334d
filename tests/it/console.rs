//! The console on a fixed TestBackend: whole-screen snapshots of each view from a ledger of
//! known calls at a fixed clock, and the real event loop driven by scripted input.

use std::collections::BTreeMap;

use creditops_config::KeyList;
use creditops_core::credits::Editions;
use creditops_core::planner::{QueuedCall, Rule};
use creditops_core::secret::Secret;
use creditops_net::send::{send, SendOptions};
use creditops_store::ledger::{CallRecord, LedgerWriter};
use creditops_tui::app::{App, Command, Input, Source};
use creditops_tui::data::{read, Snapshot};
use creditops_tui::keys::Action;
use creditops_tui::tabs::Tab;
use creditops_tui::theme::ThemeSet;
use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::backend::TestBackend;

use crate::common;
use common::Sb;
use ratatui::Terminal;

/// 2026-11-27T12:00:00Z.
const NOW: i64 = 1_795_780_800_000;

/// A day of traffic: a steady trickle, a busy hour, one integration that polls, a bulk job.
async fn fixture_ledger(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("ledger.sqlite");
    let w = LedgerWriter::open(&path, 3650).unwrap();
    let mut n = 0u64;
    let mut add = |at: i64,
                   integration: &str,
                   api: &str,
                   module: Option<&str>,
                   credits: u32,
                   remaining: Option<u64>| {
        n += 1;
        CallRecord {
            at_ms: at,
            integration: integration.into(),
            api: api.into(),
            module: module.map(String::from),
            method: "POST".into(),
            path: "/crm/v8/Leads".into(),
            records: credits * 10,
            credits,
            status: 200,
            latency_ms: 40,
            priced: true,
            reported_remaining: remaining,
            saved: 0,
            call_key: None,
        }
    };
    let mut calls = Vec::new();
    for m in 0..1440i64 {
        let at = NOW - (1440 - m) * 60_000 + 30_000;
        calls.push(add(
            at,
            "shop-sync",
            "insert_records",
            Some("Leads"),
            1 + (m % 7) as u32,
            None,
        ));
        if (600..660).contains(&m) {
            calls.push(add(
                at + 1,
                "erp-bridge",
                "upsert_records",
                Some("Accounts"),
                10,
                None,
            ));
            calls.push(add(at + 2, "erp-bridge", "metadata", None, 1, None));
        }
        if m % 10 == 0 {
            calls.push(add(
                at + 3,
                "report-poller",
                "bulk_read_status",
                None,
                1,
                None,
            ));
        }
    }
    calls.push(add(
        NOW - 3_600_000,
        "report-poller",
        "bulk_read_create",
        Some("Leads"),
        50,
        None,
    ));
    // Zoho's header a minute ago: 7,800 − 6,609 used then = 1,191 left, and it says 1,190.
    calls.push(add(
        NOW - 60_000,
        "support-desk",
        "convert_lead",
        Some("Leads"),
        5,
        Some(1_190),
    ));
    for c in calls {
        w.append(c).await.unwrap();
    }
    path
}

fn app(snapshot: Snapshot, embedded: bool) -> App {
    let themes = ThemeSet::builtin();
    let theme = themes.default_theme().clone();
    let (keys, _) = creditops_tui::app::bindings(&BTreeMap::new());
    let source = Source {
        embedded,
        label: if embedded {
            "EMBEDDED SANDBOX · demo traffic".into()
        } else {
            "profile acme · ledger-acme.sqlite".into()
        },
    };
    let mut a = App::new(themes, theme, keys, source, NOW);
    a.gauges.snapshot = snapshot;
    a
}

async fn fixture_snapshot() -> (tempfile::TempDir, Snapshot) {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture_ledger(dir.path()).await;
    let ledger = creditops_store::ledger::Ledger::open(&path).unwrap();
    // An org whose 7,000-credit base and 800 add-on put the fixture's day at about 85 %.
    let editions = Editions::builtin()
        .with_overrides("[[edition]]\nname = \"fixture\"\nbase = 7000\nper_licence = 0\nconcurrency = 20\nsub_concurrency = 10\n", "test")
        .unwrap();
    let limits = editions.limits("fixture", 0, 800).unwrap();
    let snap = read(&ledger, NOW, Some(&limits), &[80, 90, 100], None);
    (dir, snap)
}

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    t
}

fn key(c: char) -> Input {
    Input::Terminal(Event::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )))
}

#[tokio::test]
async fn gauges_view_at_80x24_and_200x50() {
    let (_d, snap) = fixture_snapshot().await;
    let u = snap.usage.as_ref().unwrap();
    assert_eq!(u.limit, Some(7_800));
    assert!(
        u.alerts.iter().any(|a| a.crossed),
        "the fixture crosses 80%: used {}",
        u.used
    );
    let a = app(snap, true);
    // The sizes people use: a laptop split, a tiled pane, a full screen.
    for (w, h) in [(80, 24), (120, 35), (200, 50)] {
        insta::assert_snapshot!(format!("gauges_{w}x{h}"), render(&a, w, h).backend());
    }
}

fn planner_queue() -> Vec<QueuedCall> {
    let text: Vec<String> = common::mixed_queue_lines("view@test.example")
        .iter()
        .map(|l| l.to_string())
        .collect();
    let loaded = creditops_core::planner::parse(&text.join("\n"), "q.jsonl");
    assert!(loaded.bad.is_empty());
    loaded.calls
}

fn esc() -> Input {
    Input::Terminal(Event::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)))
}

fn enter() -> Input {
    Input::Terminal(Event::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )))
}

#[tokio::test]
async fn planner_view_replans_toggles_rules_and_sends_after_confirming() {
    let (_d, snap) = fixture_snapshot().await;
    let mut a = app(snap, true);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    a.commands = Some(tx);
    a.planner.target = Some("the embedded sandbox".into());
    let queue = planner_queue();
    a.planner.load(
        "q.jsonl".into(),
        queue.clone(),
        vec!["q.jsonl:27: not JSON: expected value at line 1 column 1".into()],
    );
    a.on_input(key('5'));
    let t = render(&a, 120, 30);
    let text = format!("{}", t.backend());
    for needle in [
        "Planner · q.jsonl",
        "bounds ordered",
        "relaxed",
        "[x] batch",
        "saved by rule",
        "1 line(s) of the queue could not be read",
        "Queue: 27 calls",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
    insta::assert_snapshot!("planner_120x30", t.backend());
    // The sizes people use: a laptop split, a tiled pane, a full screen.
    for (w, h) in [(80, 24), (120, 35), (200, 50)] {
        insta::assert_snapshot!(format!("planner_{w}x{h}"), render(&a, w, h).backend());
    }
    let planned = a.planner.plan.as_ref().unwrap().credits_after;
    assert!(planned < 27, "the plan saves credits: {planned}");

    // The cursor starts on `batch`: space turns it off; nothing changes until p re-plans.
    a.on_input(key(' '));
    assert!(!a.planner.rules.has(Rule::Batch));
    assert_eq!(a.planner.plan.as_ref().unwrap().credits_after, planned);
    assert!(format!("{}", render(&a, 120, 30).backend()).contains("changed: p re-plans"));
    a.on_input(key('s'));
    assert!(
        a.planner.confirm.is_none(),
        "no send of a plan the rules no longer make"
    );
    a.on_input(key('p'));
    let without_batch = a.planner.plan.as_ref().unwrap().credits_after;
    assert!(without_batch > planned, "{without_batch} <= {planned}");
    assert!(without_batch < 27, "composites still save: {without_batch}");
    // ] moves to the next rule; [ comes back; space turns batch on again.
    a.on_input(key(']'));
    assert_eq!(a.planner.rule_cursor, 1);
    a.on_input(key('['));
    a.on_input(key(' '));
    a.on_input(key('p'));
    assert_eq!(a.planner.plan.as_ref().unwrap().credits_after, planned);

    // s asks first, showing the target and the prediction; Esc cancels.
    a.on_input(key('s'));
    let text = format!("{}", render(&a, 120, 30).backend());
    assert!(
        text.contains("Send to the sandbox?")
            && text.contains(&format!("Predicted {planned} "))
            && text.contains("embedded sandbox"),
        "{text}"
    );
    a.on_input(esc());
    assert!(a.planner.confirm.is_none());
    assert!(rx.try_recv().is_err(), "nothing sent on Esc");

    // s, Enter: the plan goes to the runtime, which sends it; the report comes back inline.
    a.on_input(key('s'));
    a.on_input(enter());
    let Ok(Command::SendPlan(job)) = rx.try_recv() else {
        panic!("Enter sends the plan");
    };
    let (plan, q) = *job;
    assert_eq!(plan.credits_after, planned);
    let sb = Sb::default().await;
    let dir = tempfile::tempdir().unwrap();
    let mut o = SendOptions::new(
        &sb.base,
        Secret::new(sb.token.clone()),
        dir.path().join("l.sqlite"),
    );
    o.sandbox = true;
    let report = send(&plan, &q, o).await.unwrap();
    assert_eq!(report.charged_credits, planned);
    a.on_input(Input::PlanSent(Ok(report)));
    let text = format!("{}", render(&a, 140, 40).backend());
    assert!(
        text.contains(&format!("predicted {planned} · charged {planned}")),
        "{text}"
    );
    assert!(text.contains("as predicted"), "{text}");
}

#[tokio::test]
async fn help_overlay_lists_the_focused_views_keys() {
    let (_d, snap) = fixture_snapshot().await;
    let mut a = app(snap, true);
    a.on_input(key('?'));
    let t = render(&a, 80, 30);
    let text = format!("{}", t.backend());
    assert!(
        text.contains("Gauges view")
            && text.contains("next panel, previous panel")
            && text.contains("quit"),
        "{text}"
    );
    insta::assert_snapshot!("help_80x30", t.backend());
    // Whole at 80×24 on every tab: its own keys, and the last line (mouse) in view.
    for (k, view) in [
        ('1', "Gauges view"),
        ('2', "Cache view"),
        ('3', "Events view"),
        ('4', "Estimate view"),
        ('5', "Planner view"),
    ] {
        let mut b = app(Snapshot::default(), true);
        b.on_input(key(k));
        b.on_input(key('?'));
        let text = format!("{}", render(&b, 80, 24).backend());
        assert!(
            text.contains(view)
                && text.contains("click a tab or panel")
                && text.contains("Help: keys"),
            "{view} at 80x24:\n{text}"
        );
    }
    // It is a modal: other keys do nothing under it (here `2` would switch tabs)...
    assert!(!a.on_input(key('2')));
    assert!(a.help && a.tab == Tab::Gauges);
    // ...and Esc or `?` close it.
    a.on_input(esc());
    assert!(!a.help);
    a.on_input(key('?'));
    a.on_input(key('?'));
    assert!(!a.help);
}

#[tokio::test]
async fn below_a_workable_size_the_console_says_so() {
    let (_d, snap) = fixture_snapshot().await;
    let a = app(snap, true);
    let text = format!("{}", render(&a, 50, 12).backend());
    assert!(
        text.contains("terminal too small: need 60×16, have 50×12"),
        "{text}"
    );
    assert!(!text.contains("Gauges"), "{text}");
}

#[tokio::test]
async fn keys_mouse_and_themes_change_the_state() {
    let (_d, snap) = fixture_snapshot().await;
    let mut a = app(snap, true);
    render(&a, 120, 40);
    assert!(a.on_input(key('t')));
    assert_eq!(a.theme.name, "light");
    a.on_input(Input::Terminal(Event::Key(KeyEvent::new(
        KeyCode::Tab,
        KeyModifiers::NONE,
    ))));
    assert_eq!(a.tab, Tab::Cache);
    a.on_input(Input::Terminal(Event::Key(KeyEvent::new(
        KeyCode::BackTab,
        KeyModifiers::SHIFT,
    ))));
    assert_eq!(a.tab, Tab::Gauges);
    // Click the third tab title, then the integrations panel; the wheel scrolls the panel.
    render(&a, 120, 40);
    let click = |col, row| {
        Input::Terminal(Event::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: col,
            row,
            modifiers: KeyModifiers::NONE,
        }))
    };
    a.on_input(click(35, 0));
    assert_eq!(a.tab, Tab::Events, "clicked `3 Events`");
    a.on_input(key('1'));
    render(&a, 120, 40);
    a.on_input(click(110, 35));
    assert_eq!(a.gauges.focus, 2, "clicked the integrations panel");
    a.on_input(Input::Terminal(Event::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 110,
        row: 35,
        modifiers: KeyModifiers::NONE,
    })));
    assert_eq!(a.gauges.scroll[2], 1);
    a.on_input(Input::Terminal(Event::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    ))));
    assert!(a.quit);
}

#[tokio::test]
async fn configured_key_bindings_apply_and_bad_ones_are_reported() {
    let mut overrides = BTreeMap::new();
    let one = |k: &str| KeyList::One(k.to_string());
    overrides.insert("quit".to_string(), one("x"));
    overrides.insert("theme".to_string(), one("ctrl-t"));
    overrides.insert("fly".to_string(), one("f"));
    overrides.insert("help".to_string(), one("two keys"));
    let (keys, warnings) = creditops_tui::app::bindings(&overrides);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    let mut a = app(Snapshot::default(), true);
    a.keys = keys;
    a.on_input(key('q'));
    assert!(!a.quit, "q is no longer quit");
    a.on_input(Input::Terminal(Event::Key(KeyEvent::new(
        KeyCode::Char('t'),
        KeyModifiers::CONTROL,
    ))));
    assert_eq!(a.theme.name, "light");
    a.on_input(key('x'));
    assert!(a.quit);
}

#[tokio::test]
async fn the_real_loop_runs_on_scripted_input_and_new_data() {
    let (_d, snap) = fixture_snapshot().await;
    let mut a = app(Snapshot::default(), true);
    let (tx, rx) = tokio::sync::watch::channel(Snapshot::default());
    let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let (input_tx, input_rx) = tokio::sync::mpsc::unbounded_channel();
    let input = tokio_stream_from(input_rx);
    let driver = tokio::spawn(async move {
        tx.send(snap).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        for c in ['2', '1', 'q'] {
            input_tx.send(key(c)).unwrap();
        }
        tx
    });
    creditops_tui::run_loop(&mut term, &mut a, input, rx, None)
        .await
        .unwrap();
    let _tx = driver.await.unwrap();
    assert!(a.quit);
    assert_eq!(a.tab, Tab::Gauges);
    let text = format!("{}", term.backend());
    assert!(
        text.contains("Rolling 24 h") && text.contains("shop-sync"),
        "{text}"
    );
}

/// A store with known events: notifications, a bulk callback, a workflow hook, a forward status.
async fn fixture_events(dir: &std::path::Path) -> std::path::PathBuf {
    use creditops_core::webhook::{body, summary, Kind};
    use creditops_store::events::NewEvent;
    use creditops_store::events::{Channel, EventWriter};
    let path = dir.join("events.sqlite");
    let w = EventWriter::open(&path).unwrap();
    let mk = |i: i64, kind: Kind, name: Option<&str>, ct: &str, raw: String| {
        let b = body(ct, raw.as_bytes()).unwrap();
        NewEvent {
            received_at_ms: NOW - (40 - i) * 45_000,
            kind,
            name: name.map(String::from),
            summary: summary(kind, &b),
            verified: kind == Kind::Notification,
            content_type: ct.into(),
            headers: vec![("content-type".into(), ct.into())],
            body: raw.into_bytes(),
        }
    };
    for i in 0..40 {
        let module = ["Leads", "Deals", "Contacts"][i as usize % 3];
        let op = ["insert", "update", "delete"][i as usize % 3];
        let raw = format!(
            r#"{{"module":"{module}","operation":"{op}","ids":["57257670000030{i:05}"],"channel_id":"1000000068001","token":"t"}}"#
        );
        w.insert(mk(i, Kind::Notification, None, "application/json", raw))
            .await
            .unwrap();
    }
    w.insert(mk(40, Kind::Bulk, None, "application/json", r#"{"data":[{"id":"4150868000004716016","operation":"read","state":"COMPLETED","query":{"module":{"api_name":"Leads"}}}]}"#.into())).await.unwrap();
    let id = w
        .insert(mk(
            40,
            Kind::Workflow,
            Some("deal-won"),
            "application/x-www-form-urlencoded",
            "module=Deals&ids=77".into(),
        ))
        .await
        .unwrap();
    w.forwarded(id, "202");
    w.reject(
        NOW,
        "/hooks/notifications",
        "127.0.0.1",
        "channel 42 is not one creditops knows",
        b"{}",
    );
    w.save_channel(Channel {
        channel_id: "1000000068001".into(),
        token_hash: creditops_core::secret::token_hash("t"),
        events: vec!["Leads.all".into(), "Deals.edit".into()],
        notify_url: "http://127.0.0.1:7879/hooks/notifications".into(),
        expiry_ms: NOW + 5 * 3_600_000 + 120_000,
        profile: "acme".into(),
    })
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    path
}

#[tokio::test]
async fn events_view_pages_filters_pauses_and_opens() {
    use creditops_tui::data::{read_events, EventsQuery};
    let dir = tempfile::tempdir().unwrap();
    let path = fixture_events(dir.path()).await;
    let reader = creditops_store::events::EventReader::open(&path).unwrap();
    let mut a = app(Snapshot::default(), false);
    a.events.has_store = true;
    a.events
        .accept(read_events(&reader, &EventsQuery::default(), NOW));
    assert_eq!(
        (
            a.events.snapshot.total,
            a.events.snapshot.rejected,
            a.events.snapshot.rows.len()
        ),
        (42, 1, 42)
    );
    a.on_input(key('3'));
    let t = render(&a, 120, 30);
    let text = format!("{}", t.backend());
    assert!(
        text.contains("LIVE")
            && text.contains("42 stored")
            && text.contains("1 rejected")
            && text.contains("5h02m"),
        "{text}"
    );
    insta::assert_snapshot!("events_120x30", t.backend());
    // The sizes people use: a laptop split, a tiled pane, a full screen.
    for (w, h) in [(80, 24), (120, 35), (200, 50)] {
        insta::assert_snapshot!(format!("events_{w}x{h}"), render(&a, w, h).backend());
    }

    // The filter is typed, then applied through the query the poller reads.
    let (qtx, mut qrx) = tokio::sync::watch::channel(EventsQuery::default());
    a.events.query_tx = Some(qtx);
    a.on_input(key('/'));
    for c in "module=deals".chars() {
        a.on_input(key(c));
    }
    // Applied as typed, before Enter.
    assert!(qrx.has_changed().unwrap());
    assert_eq!(qrx.borrow_and_update().filter, "module=deals");
    a.on_input(Input::Terminal(Event::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    ))));
    let q = qrx.borrow_and_update().clone();
    assert_eq!(q.filter, "module=deals");
    let filtered = read_events(&reader, &q, NOW);
    assert!(
        filtered
            .rows
            .iter()
            .all(|e| e.new.summary.module.as_deref() == Some("Deals"))
            && filtered.rows.len() == 14,
        "13 Deals notifications and the deal-won hook: {}",
        filtered.rows.len()
    );
    // Space pauses at the newest id; Enter opens the selected event; Esc closes it.
    a.on_input(key(' '));
    assert!(a.events.paused);
    assert_eq!(
        qrx.borrow_and_update().before_id,
        Some(a.events.snapshot.max_id)
    );
    a.on_input(Input::Terminal(Event::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    ))));
    assert!(a.events.detail);
    let text = format!("{}", render(&a, 120, 30).backend());
    assert!(
        text.contains("Event #42") && text.contains("deal-won"),
        "{text}"
    );
    a.on_input(Input::Terminal(Event::Key(KeyEvent::new(
        KeyCode::Esc,
        KeyModifiers::NONE,
    ))));
    assert!(!a.events.detail);
    // f asks the runtime to forward the selected event.
    let (ctx, mut crx) = tokio::sync::mpsc::unbounded_channel();
    a.commands = Some(ctx);
    a.on_input(key('f'));
    assert!(matches!(
        crx.try_recv().unwrap(),
        creditops_tui::app::Command::Forward(42)
    ));
    a.on_input(Input::Message("event #42 → http://x: 202".into()));
    assert!(format!("{}", render(&a, 120, 30).backend()).contains("202"));
}

#[tokio::test]
async fn estimate_view_recomputes_on_keys_and_exports() {
    use creditops_core::estimate::input::{Day, History};
    let start = chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let week = [1.0, 1.1, 1.05, 1.0, 0.95, 0.35, 0.3];
    // A fixed, noiseless-but-trending business week, so the snapshot is deterministic.
    let days: Vec<Day> = (0..120)
        .map(|t| Day {
            date: start + chrono::Duration::days(t),
            credits: ((55_000.0 + 90.0 * t as f64) * week[t as usize % 7] + (t % 5) as f64 * 700.0)
                .round(),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut a = app(Snapshot::default(), false);
    a.estimate = creditops_tui::tabs::estimate::EstimateTab::new(
        Editions::builtin(),
        "enterprise",
        20,
        dir.path().to_path_buf(),
    );
    a.estimate.history = Some(History {
        days,
        warnings: vec![],
    });
    a.on_input(key('4'));
    let (_, e) = a
        .estimate
        .result
        .clone()
        .expect("computed on entering the tab");
    assert_eq!((e.horizon, e.daily_limit), (30, 70_000));
    assert!(e.recommended_addon > 0);
    let t = render(&a, 120, 34);
    let text = format!("{}", t.backend());
    assert!(
        text.contains("Add-on estimate")
            && text.contains("recommended")
            && text.contains("Daily credits: history and forecast"),
        "{text}"
    );
    insta::assert_snapshot!("estimate_120x34", t.backend());
    // The sizes people use: a laptop split, a tiled pane, a full screen.
    for (w, h) in [(80, 24), (120, 35), (200, 50)] {
        insta::assert_snapshot!(format!("estimate_{w}x{h}"), render(&a, w, h).backend());
    }
    // Keys change the question and the answer follows at once.
    a.on_input(key('H'));
    assert_eq!(a.estimate.result.as_ref().unwrap().1.horizon, 37);
    a.on_input(key('L'));
    assert!((a.estimate.result.as_ref().unwrap().1.level - 0.95).abs() < 1e-9);
    let at95 = a.estimate.result.as_ref().unwrap().1.recommended_addon;
    assert!(at95 >= e.recommended_addon);
    for _ in 0..4 {
        a.on_input(key('U'));
    }
    assert_eq!(a.estimate.users, 40);
    assert_eq!(a.estimate.result.as_ref().unwrap().1.daily_limit, 90_000);
    assert!(
        a.estimate.result.as_ref().unwrap().1.recommended_addon < at95,
        "more licences, less add-on"
    );
    // e writes CSV, then JSON, then Markdown.
    for ext in ["csv", "json", "md"] {
        a.on_input(key('e'));
        let path = dir.path().join(format!("estimate.{ext}"));
        assert!(path.exists(), "{ext}");
        assert!(a
            .estimate
            .message
            .as_deref()
            .unwrap()
            .contains(&format!("estimate.{ext}")));
    }
    assert!(std::fs::read_to_string(dir.path().join("estimate.md"))
        .unwrap()
        .contains("# Add-on credit estimate"));
}

#[tokio::test]
async fn cache_view_sorts_filters_opens_drops_and_clears() {
    use creditops_store::cache::{CacheSettings, Kind, MetadataCache};
    let dir = tempfile::tempdir().unwrap();
    let cache = std::sync::Arc::new(
        MetadataCache::open(dir.path().join("m.sqlite"), CacheSettings::default()).unwrap(),
    );
    let base = "http://127.0.0.1:7878";
    cache.store(
        &format!("{base}/crm/v8/settings/fields?module=Leads"),
        Kind::Fields,
        Some("Leads"),
        "application/json",
        br#"{"fields":[{"api_name":"Last_Name"}]}"#,
        NOW - 600_000,
    );
    cache.store(
        &format!("{base}/crm/v8/settings/modules"),
        Kind::Modules,
        None,
        "application/json",
        br#"{"modules":[]}"#,
        NOW - 7_200_000,
    );
    cache.store(
        &format!("{base}/crm/v8/org"),
        Kind::Org,
        None,
        "application/json",
        br#"{"org":[{"id":"1"}]}"#,
        NOW - 60_000,
    );
    for _ in 0..5 {
        cache.hit(
            &format!("{base}/crm/v8/settings/fields?module=Leads"),
            1,
            NOW - 1000,
        );
    }
    cache.hit(&format!("{base}/crm/v8/org"), 1, NOW - 1000);
    let mut a = app(Snapshot::default(), true);
    a.now_ms = NOW;
    a.cache.cache = Some(cache.clone());
    a.on_input(key('2'));
    assert_eq!(a.cache.entries.len(), 3);
    let t = render(&a, 120, 20);
    let text = format!("{}", t.backend());
    assert!(
        text.contains("hit ratio")
            && text.contains("settings/fields?module=Leads")
            && text.contains("stale"),
        "{text}"
    );
    insta::assert_snapshot!("cache_120x20", t.backend());
    // The sizes people use: a laptop split, a tiled pane, a full screen.
    for (w, h) in [(80, 24), (120, 35), (200, 50)] {
        insta::assert_snapshot!(format!("cache_{w}x{h}"), render(&a, w, h).backend());
    }
    // Sorted by credits saved: the fields entry first.
    assert_eq!(a.cache.visible()[0].kind, Kind::Fields);
    a.on_input(key('s'));
    a.on_input(key('s'));
    assert_eq!(
        a.cache.visible()[0].kind,
        Kind::Modules,
        "by age: the oldest first"
    );
    // g/G and Home/End: the first and the last row.
    let special =
        |code: KeyCode| Input::Terminal(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    a.on_input(key('G'));
    assert_eq!(a.cache.selected, 2);
    a.on_input(key('g'));
    assert_eq!(a.cache.selected, 0);
    a.on_input(special(KeyCode::End));
    assert_eq!(a.cache.selected, 2);
    a.on_input(special(KeyCode::Home));
    assert_eq!(a.cache.selected, 0);
    // The filter applies as it is typed; Esc puts back what there was; Enter keeps it.
    a.on_input(key('/'));
    a.on_input(key('s'));
    assert_eq!(
        a.cache.visible().len(),
        2,
        "`s`: settings/fields and settings/modules"
    );
    a.on_input(special(KeyCode::Backspace));
    assert_eq!(a.cache.visible().len(), 3);
    a.on_input(key('o'));
    a.on_input(key('r'));
    assert_eq!(
        a.cache.visible().len(),
        1,
        "`or`: the org only, while typing"
    );
    a.on_input(special(KeyCode::Esc));
    assert_eq!(
        a.cache.visible().len(),
        3,
        "Esc: the filter there was before"
    );
    a.on_input(key('/'));
    for c in "org".chars() {
        a.on_input(key(c));
    }
    a.on_input(special(KeyCode::Enter));
    assert_eq!(a.cache.visible().len(), 1);
    // Filter kept, open the detail, drop.
    a.on_input(Input::Terminal(Event::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    ))));
    assert!(format!("{}", render(&a, 120, 20).backend()).contains("Cached JSON"));
    a.on_input(key('r'));
    assert!(
        cache
            .list()
            .iter()
            .find(|e| e.kind == Kind::Org)
            .unwrap()
            .ttl_left_s(NOW)
            < 0,
        "marked stale"
    );
    a.on_input(key('d'));
    assert_eq!(cache.list().len(), 2);
    // D asks, D again clears.
    a.on_input(Input::Terminal(Event::Key(KeyEvent::new(
        KeyCode::Esc,
        KeyModifiers::NONE,
    ))));
    a.on_input(key('D'));
    assert_eq!(cache.list().len(), 2, "not yet");
    a.on_input(key('D'));
    assert!(cache.list().is_empty());
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Input>,
) -> std::pin::Pin<Box<dyn futures::Stream<Item = Input> + Send>> {
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

#[tokio::test]
async fn the_planner_tab_says_it_is_planning_until_the_plan_arrives() {
    let (_d, snap) = fixture_snapshot().await;
    let mut a = app(snap, true);
    a.planner.loading = Some("big.jsonl".into());
    a.on_input(key('5'));
    let text = format!("{}", render(&a, 100, 20).backend());
    assert!(text.contains("Reading and planning big.jsonl"), "{text}");
    a.on_input(key('s'));
    assert!(a.planner.confirm.is_none(), "nothing to send yet");
    let queue = planner_queue();
    let table = creditops_core::credits::CostTable::builtin();
    let plan = creditops_core::planner::plan(
        &queue,
        &creditops_core::planner::Options {
            rules: creditops_core::planner::RuleSet::all(),
            table: &table,
            unique: None,
        },
    );
    let credits = plan.credits_after;
    let redraw = a.on_input(Input::QueueLoaded(Box::new(
        creditops_tui::tabs::planner::LoadedQueue {
            source: "big.jsonl".into(),
            queue,
            bad: vec![],
            rules: creditops_core::planner::RuleSet::all(),
            plan: Some(plan),
        },
    )));
    assert!(redraw, "the Planner tab redraws when its plan arrives");
    let text = format!("{}", render(&a, 120, 30).backend());
    assert!(text.contains("Planner · big.jsonl"), "{text}");
    assert!(
        text.contains(&format!("plan 5 calls · {credits} credits")),
        "{text}"
    );
}

#[tokio::test]
async fn the_gauges_show_each_integrations_budget_and_refusals() {
    let (_d, mut snap) = fixture_snapshot().await;
    let budget =
        |name: &str, used: u64, budget: u64, refused: u64| creditops_store::usage::BudgetUse {
            integration: name.into(),
            priority: creditops_core::budgets::Priority::Background,
            budget,
            used,
            remaining: budget.saturating_sub(used),
            percent: used as f64 * 100.0 / budget as f64,
            per_hour: None,
            used_last_hour: 0,
            burn_per_hour: 60.0,
            exhaustion_eta_seconds: Some(3600),
            refused,
            would_refuse: 0,
        };
    snap.usage.as_mut().unwrap().budgets = vec![
        budget("shop-sync", 500, 500, 7),
        budget("erp-bridge", 120, 1000, 0),
    ];
    let a = app(snap, false);
    let t = render(&a, 200, 50);
    let text = format!("{}", t.backend());
    assert!(text.contains("Budgets by integration"), "{text}");
    assert!(
        text.contains("shop-sync") && text.contains("100%") && text.contains("⛔7"),
        "{text}"
    );
    assert!(
        text.contains("erp-bridge") && text.contains("12%"),
        "{text}"
    );
}

/// NO_COLOR: no cell gets a colour, the selection (here the current tab) stays visible in
/// reverse video, and `t` does not bring colours back.
#[tokio::test]
async fn without_colours_the_selection_is_shown_in_reverse_video() {
    let (_d, snap) = fixture_snapshot().await;
    let mut a = app(snap, true);
    a.theme = creditops_tui::theme::Theme::no_color();
    a.on_input(key('t'));
    assert_eq!(a.theme.name, "no-color");
    let t = render(&a, 100, 30);
    let buf = t.backend().buffer();
    let area = buf.area;
    let mut reversed = String::new();
    for y in 0..area.height {
        for x in 0..area.width {
            let c = &buf[(x, y)];
            assert_eq!(
                (c.fg, c.bg),
                (ratatui::style::Color::Reset, ratatui::style::Color::Reset),
                "a coloured cell at {x},{y}"
            );
            if y == 0 && c.modifier.contains(ratatui::style::Modifier::REVERSED) {
                reversed.push_str(c.symbol());
            }
        }
    }
    assert!(
        reversed.contains("Gauges"),
        "the current tab in reverse video: {reversed:?}"
    );
}

#[tokio::test]
async fn the_palette_finds_an_action_by_name_and_runs_it() {
    let (_d, snap) = fixture_snapshot().await;
    let mut a = app(snap, true);
    let theme = a.theme.name.clone();
    a.on_input(key(':'));
    assert!(a.palette.is_some());
    // Typed text is the query, not keys: `q` does not quit.
    for c in "next col".chars() {
        a.on_input(key(c));
    }
    assert!(!a.quit);
    let text = format!("{}", render(&a, 80, 24).backend());
    assert!(
        text.contains("run an action") && text.contains("next colour theme"),
        "{text}"
    );
    assert_eq!(a.palette_matches("next col"), vec![Action::Theme]);
    a.on_input(enter());
    assert!(a.palette.is_none());
    assert_ne!(a.theme.name, theme, "the theme moved on");
    // Nothing matches: said, and Enter runs nothing; Esc closes.
    a.on_input(key(':'));
    for c in "zzz".chars() {
        a.on_input(key(c));
    }
    assert!(format!("{}", render(&a, 80, 24).backend()).contains("no action matches"));
    a.on_input(esc());
    assert!(a.palette.is_none() && !a.quit);
    // Only what the tab handles: the Planner's send is not offered on the Gauges.
    assert!(!a.palette_matches("send").contains(&Action::Send));
    a.on_input(key('5'));
    assert!(a.palette_matches("send").contains(&Action::Send));
}
