//! The console: a ratatui + crossterm + tokio app. The app is generic over the terminal backend
//! and takes input as a stream, so tests drive the real loop on a `TestBackend` with scripted
//! keys. State is drawn from owned snapshots; the screen is redrawn on input, on new data and on
//! a 1 Hz clock for countdowns, never on a frame timer.

pub mod app;
pub mod data;
pub mod demo;
pub mod keys;
pub mod remembered;
pub mod tabs;
pub mod theme;
pub mod timeline;

use creditops_config::store::Location;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use futures::{Stream, StreamExt};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::Terminal;
use tokio::sync::watch;

use crate::theme::ThemeSet;
use app::{App, Input, Source};
use creditops_config::{Loaded, Paths};
use creditops_core::credits::CreditModel;
use data::Snapshot;

/// How the console was asked to start.
pub struct Options {
    pub profile: Option<String>,
    pub theme: Option<String>,
    /// A queue for the Planner tab (JSONL, HAR or a hold file); the embedded default has a
    /// demo queue.
    pub queue: Option<PathBuf>,
}

/// Runs the real loop until the app quits or input ends.
pub async fn run_loop<B, S>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut input: S,
    mut snapshots: watch::Receiver<Snapshot>,
    events: Option<watch::Receiver<data::EventsSnapshot>>,
) -> anyhow::Result<()>
where
    B: Backend,
    S: Stream<Item = Input> + Unpin,
{
    let mut dirty = true;
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut poller_alive = true;
    app.gauges.snapshot = snapshots.borrow_and_update().clone();
    let mut events_alive = events.is_some();
    let (_keep, mut events) = match events {
        Some(rx) => (None, rx),
        // No event store: a channel that never changes keeps the select uniform.
        None => {
            let (tx, rx) = watch::channel(data::EventsSnapshot::default());
            (Some(tx), rx)
        }
    };
    loop {
        if dirty {
            terminal
                .draw(|f| app.draw(f))
                .map_err(|e| anyhow::anyhow!("drawing: {e}"))?;
            dirty = false;
        }
        if app.quit {
            return Ok(());
        }
        tokio::select! {
            ev = input.next() => match ev {
                Some(e) => dirty |= app.on_input(e),
                None => return Ok(()),
            },
            changed = snapshots.changed(), if poller_alive => {
                if changed.is_ok() {
                    app.gauges.snapshot = snapshots.borrow_and_update().clone();
                    dirty = true;
                } else {
                    poller_alive = false;
                }
            }
            changed = events.changed(), if events_alive => {
                if changed.is_ok() {
                    app.events.accept(events.borrow_and_update().clone());
                    dirty |= app.tab == tabs::Tab::Events;
                } else {
                    events_alive = false;
                }
            }
            _ = clock.tick() => dirty |= app.on_input(Input::Tick(chrono::Utc::now().timestamp_millis())),
        }
    }
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Opens the console: on the embedded sandbox with demo traffic, or on a profile's ledger.
pub fn run(paths: Paths, config: Loaded, model: CreditModel, opts: Options) -> anyhow::Result<()> {
    let cfg = config.config.clone();
    let themes = ThemeSet::load(&paths.themes_dir);
    // The theme: the command line's, else the one last chosen with `t`, else the config's.
    let remembered = remembered::Remembered::load(&paths.console_state());
    let theme_name = opts.theme.clone().or_else(|| {
        remembered
            .theme(cfg.theme.as_deref())
            .filter(|n| themes.get(n).is_some())
            .map(String::from)
            .or(cfg.theme.clone())
    });
    let theme = match &theme_name {
        Some(n) => themes.get(n).cloned().ok_or_else(|| {
            anyhow::anyhow!("no theme `{n}`; known: {}", themes.names().join(", "))
        })?,
        None => themes.default_theme().clone(),
    };
    // NO_COLOR (no-color.org) turns colours off unless a theme is asked for on the command line.
    let theme = if theme::no_color_requested() && opts.theme.is_none() {
        theme::Theme::no_color()
    } else {
        theme
    };
    let (bindings, key_warnings) = app::bindings(&cfg.keys);
    let profile_name = opts.profile.clone();
    // The embedded demo keeps apart from every real profile: its own limits and stores, even
    // when the config names a default profile.
    let (name, profile) = match profile_name.as_deref() {
        None => (
            creditops_config::DEMO_PROFILE.to_string(),
            creditops_config::Profile::default(),
        ),
        Some(n) => cfg.profile(Some(n))?,
    };
    let limits = model
        .editions
        .limits(&profile.edition, profile.licences, profile.addon)?;
    let thresholds = profile.thresholds();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        // The metadata cache the proxy uses (the embedded one, or the profile's), for the Cache tab.
        let metadata_cache = if cfg.cache.enabled {
            match creditops_store::cache::MetadataCache::open(
                cfg.metadata_at(&paths, &name),
                cfg.cache.clone(),
            ) {
                Ok(c) => Some(std::sync::Arc::new(c)),
                Err(e) => {
                    tracing::warn!("metadata cache: {e}");
                    None
                }
            }
        } else {
            None
        };
        // The Planner's sandbox target: the embedded sandbox (its base and its state, to mint
        // tokens), when there is one.
        let mut send_target: Option<(String, std::sync::Arc<creditops_sandbox::Sandbox>)> = None;
        let mut demo_queue = None;
        let (ledger, events_store, source, _servers) = if profile_name.is_none() {
            // The embedded default: sandbox in-process, proxy in front, demo traffic through it.
            let ledger = paths.ledger(&name);
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", ledger.display()));
            }
            // Weeks of history, so the Estimate tab has something to forecast from the start.
            if let Err(e) = demo::seed_history(
                &ledger,
                chrono::Utc::now().timestamp_millis(),
                limits.daily_limit,
                cfg.ledger.retention_days,
            )
            .await
            {
                tracing::warn!("demo history: {e:#}");
            }
            let sb = creditops_sandbox::spawn(
                creditops_sandbox::SandboxConfig {
                    edition: profile.edition.clone(),
                    users: profile.licences,
                    addon: profile.addon,
                    model: model.clone(),
                    ..Default::default()
                },
                "127.0.0.1:0".parse()?,
            )
            .await?;
            let proxy = creditops_net::proxy::spawn(
                creditops_net::proxy::ProxyConfig {
                    upstream: sb.base_url(),
                    accounts_upstream: None,
                    integration_header: cfg.proxy.integration_header.clone(),
                    limits: Some(limits.clone()),
                    thresholds: thresholds.clone(),
                    alert_post_url: None,
                    desktop_alerts: false,
                    model: model.clone(),
                    ledger: Location::Sqlite(ledger.clone()),
                    retention_days: cfg.ledger.retention_days,
                    charge_not_modified: true,
                    cache: metadata_cache.clone(),
                    hold: None,
                    public_url: None,
                    budgets: None,
                    clock: Default::default(),
                    name: String::new(),
                    admission_wait: Duration::from_secs(10),
                    spool: None,
                },
                "127.0.0.1:0".parse()?,
            )
            .await?;
            tracing::info!(
                "embedded sandbox {} behind proxy {}",
                sb.base_url(),
                proxy.base_url()
            );
            // The receiver, and a channel on the sandbox so notification callbacks flow.
            let events = paths.events(Some(&name));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", events.display()));
            }
            let receiver = creditops_net::receiver::spawn(
                creditops_net::receiver::ReceiverConfig::new(events.clone()),
                "127.0.0.1:0".parse()?,
            )
            .await?;
            if let Err(e) = demo::subscribe(&proxy.base_url(), &receiver).await {
                tracing::warn!("demo channel: {e}");
            }
            demo::start(&proxy.base_url());
            send_target = Some((sb.base_url(), sb.state.clone()));
            demo_queue = Some(demo::queue(&sb.state));
            let label = "EMBEDDED SANDBOX · demo traffic".to_string();
            (
                Location::Sqlite(ledger),
                Some(Location::Sqlite(events)),
                Source {
                    embedded: true,
                    label,
                },
                Some((sb, proxy, receiver)),
            )
        } else {
            let ledger = cfg.ledger_at(&paths, &name, &profile, None);
            let label = format!("profile {name} · {}", ledger.display());
            let events = cfg.events_at(&paths, None);
            let events = match events.path() {
                Some(file) if !file.exists() => None,
                _ => Some(events),
            };
            (
                ledger,
                events,
                Source {
                    embedded: false,
                    label,
                },
                None,
            )
        };
        let ledger_path = ledger.clone();
        let snapshots = data::spawn_poller(
            ledger,
            Some(limits.clone()),
            thresholds,
            profile.budgets(&cfg).cloned(),
            Duration::from_secs(1),
        );
        let send_concurrency = (limits.concurrency, limits.sub_concurrency);
        let mut app = App::new(
            themes,
            theme,
            bindings,
            source,
            chrono::Utc::now().timestamp_millis(),
        );
        // Problems with the config, key bindings or cache go to the log (the screen is the app's).
        let cache_warnings = metadata_cache.iter().flat_map(|c| c.warnings.iter());
        for w in key_warnings
            .iter()
            .chain(&config.warnings)
            .chain(cache_warnings)
        {
            tracing::warn!("{w}");
        }
        app.cache.cache = metadata_cache.clone();
        app.estimate = tabs::estimate::EstimateTab::new(
            model.editions.clone(),
            &profile.edition,
            profile.licences,
            paths.data_dir.clone(),
        );
        app.estimate.ledger = Some(ledger_path.clone());
        app.planner = tabs::planner::PlannerTab::new(model.table.clone());
        app.planner.target = send_target
            .as_ref()
            .map(|(base, _)| format!("the embedded sandbox ({base})"));
        let (messages_tx, messages_rx) = tokio::sync::mpsc::unbounded_channel::<Input>();
        let messages_rx_cell = std::sync::Mutex::new(messages_rx);
        // The Planner's queue is read and planned off the loop: the console opens at once, and
        // the tab says it is planning until the plan arrives.
        let queue_source = match (&opts.queue, demo_queue) {
            (Some(path), _) => Some((path.display().to_string(), None, Some(path.clone()))),
            (None, Some(q)) => Some((
                "demo queue: what the demo integrations would send next".to_string(),
                Some(q),
                None,
            )),
            (None, None) => None,
        };
        if let Some((source, queue, path)) = queue_source {
            app.planner.loading = Some(source.clone());
            let table = model.table.clone();
            let rules = app.planner.rules;
            let tx = messages_tx.clone();
            tokio::task::spawn_blocking(move || {
                let (queue, bad) = match (queue, path) {
                    (Some(q), _) => (q, Vec::new()),
                    // Read a block at a time, as `creditops plan` reads it.
                    (None, Some(path)) => match creditops_core::planner::load_named(&path, &source)
                    {
                        Ok(loaded) => {
                            let bad = loaded.bad.iter().map(ToString::to_string).collect();
                            (loaded.calls, bad)
                        }
                        Err(e) => (Vec::new(), vec![e.to_string()]),
                    },
                    (None, None) => (Vec::new(), Vec::new()),
                };
                let plan = (!queue.is_empty()).then(|| {
                    creditops_core::planner::plan(
                        &queue,
                        &creditops_core::planner::Options {
                            rules,
                            table: &table,
                            unique: None,
                        },
                    )
                });
                let _ = tx.send(Input::QueueLoaded(Box::new(tabs::planner::LoadedQueue {
                    source,
                    queue,
                    bad,
                    rules,
                    plan,
                })));
            });
        }
        let events_rx = events_store.clone().map(|path| {
            let (qtx, qrx) = watch::channel(data::EventsQuery::default());
            app.events.query_tx = Some(qtx);
            app.events.has_store = true;
            data::spawn_events_poller(path, qrx, Duration::from_millis(500))
        });
        // Side effects the app asks for run here; their outcome comes back as a message.
        let (cmd_tx, mut cmd_rx) = tokio::sync::mpsc::unbounded_channel::<app::Command>();
        app.commands = Some(cmd_tx);
        let forward_to = cfg.receiver.forward_to.clone();
        let send_ledger = ledger_path.clone();
        let send_model = model.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while let Some(cmd) = cmd_rx.recv().await {
                let id = match cmd {
                    app::Command::Forward(id) => id,
                    app::Command::Estimate(job) => {
                        let tx = messages_tx.clone();
                        tokio::task::spawn_blocking(move || {
                            let (seq, outcome) = job.run();
                            let _ = tx.send(Input::Estimated(seq, Box::new(outcome)));
                        });
                        continue;
                    }
                    app::Command::SendPlan(job) => {
                        let Some((base, sandbox)) = &send_target else {
                            let _ = messages_tx
                                .send(Input::PlanSent(Err("no sandbox to send to".into())));
                            continue;
                        };
                        let mut o = creditops_net::send::SendOptions::new(
                            base,
                            creditops_core::secret::Secret::new(sandbox.mint_token()),
                            &send_ledger,
                        );
                        // The demo integrations share this sandbox, so its own count moves with
                        // their traffic too: the report relies on the ledger alone here.
                        o.sandbox = false;
                        o.model = send_model.clone();
                        (o.concurrency, o.sub_concurrency) = send_concurrency;
                        o.integration = "creditops-planner".into();
                        let tx = messages_tx.clone();
                        tokio::spawn(async move {
                            let (plan, queue) = *job;
                            let outcome = creditops_net::send::send(&plan, &queue, o)
                                .await
                                .map_err(|e| format!("{e:#}"));
                            let _ = tx.send(Input::PlanSent(outcome));
                        });
                        continue;
                    }
                };
                let text = match (&forward_to, &events_store) {
                    (None, _) => {
                        "no forward target: set [receiver] forward_to in config.toml".to_string()
                    }
                    (_, None) => "no event store".to_string(),
                    (Some(url), Some(store)) => {
                        match creditops_store::events::EventReader::open(store)
                            .ok()
                            .and_then(|r| r.get(id).ok().flatten())
                        {
                            Some(e) => format!(
                                "event #{id} → {url}: {}",
                                creditops_net::receiver::forward(&http, url, &e).await
                            ),
                            None => format!("event #{id} is not in the store"),
                        }
                    }
                };
                let _ = messages_tx.send(Input::Message(text));
            }
        });

        // The panic hook restores the terminal first, then reports.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        enable_raw_mode()?;
        let mut stdout = std::io::stdout();
        execute!(stdout, EnterAlternateScreen, EnableMouseCapture)?;
        let mut terminal = Terminal::new(CrosstermBackend::new(stdout))?;
        let terminal_input =
            EventStream::new().filter_map(|e| async move { e.ok().map(Input::Terminal) });
        let messages = futures::stream::poll_fn(move |cx| {
            let mut rx = messages_rx_cell.lock().unwrap_or_else(|p| p.into_inner());
            rx.poll_recv(cx)
        });
        let input = futures::stream::select(Box::pin(terminal_input), Box::pin(messages));
        if let Some(tab) = remembered.tab() {
            app.switch_to(tab);
        }
        let result = run_loop(&mut terminal, &mut app, input, snapshots, events_rx).await;
        restore_terminal();
        let keep = remembered::Remembered {
            // NO_COLOR is the environment's choice, not one to remember.
            theme: (!app.theme.palette.mono).then(|| app.theme.name.clone()),
            config_theme: cfg.theme.clone(),
            tab: Some(app.tab.title().to_string()),
        };
        if let Err(e) = keep.save(&paths.console_state()) {
            tracing::warn!("{}: {e}", paths.console_state().display());
        }
        let _ = std::io::stdout().flush();
        result
    })
}
