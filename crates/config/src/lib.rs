//! Where creditops keeps things (paths), and `config.toml`: profiles, thresholds, key bindings.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use creditops_core::secret::Secret;
use creditops_core::zoho::datacentre::DataCentre;

pub mod store;
use store::{Location, StoreSettings};

/// The folders creditops reads and writes, each overridable by an environment variable.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub themes_dir: PathBuf,
    pub config_file: PathBuf,
}

impl Paths {
    /// From `directories::ProjectDirs`, then CREDITOPS_CONFIG_DIR, CREDITOPS_DATA_DIR and
    /// CREDITOPS_CACHE_DIR.
    pub fn discover() -> Result<Paths, ConfigError> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let dirs = directories::ProjectDirs::from("", "", "creditops");
        let pick = |var: &str, f: fn(&directories::ProjectDirs) -> &Path| {
            env(var)
                .or_else(|| dirs.as_ref().map(|d| f(d).to_path_buf()))
                .ok_or_else(|| ConfigError::NoHome(var.to_string()))
        };
        let config_dir = pick("CREDITOPS_CONFIG_DIR", |d| d.config_dir())?;
        let data_dir = pick("CREDITOPS_DATA_DIR", |d| d.data_dir())?;
        let cache_dir = pick("CREDITOPS_CACHE_DIR", |d| d.cache_dir())?;
        Ok(Paths::rooted(config_dir, data_dir, cache_dir))
    }

    pub fn rooted(config_dir: PathBuf, data_dir: PathBuf, cache_dir: PathBuf) -> Paths {
        Paths {
            themes_dir: config_dir.join("themes"),
            config_file: config_dir.join("config.toml"),
            config_dir,
            data_dir,
            cache_dir,
        }
    }

    /// The user's cost table overrides.
    pub fn user_costs(&self) -> PathBuf {
        self.config_dir.join("costs.toml")
    }

    /// The user's edition and add-on price overrides.
    pub fn user_editions(&self) -> PathBuf {
        self.config_dir.join("editions.toml")
    }

    // The store files: each named here and nowhere else, so the proxy, the CLI and the console
    // open the same file for the same profile.

    /// The proxy ledger a profile's proxy writes and `usage`, `estimate` and the console read.
    pub fn ledger(&self, profile: &str) -> PathBuf {
        self.data_dir.join(format!("ledger-{profile}.sqlite"))
    }

    /// What the console remembers between runs (its theme and tab).
    pub fn console_state(&self) -> PathBuf {
        self.data_dir.join("console.toml")
    }

    /// Where a proxy records calls while its PostgreSQL ledger is unreachable
    /// (`[store] on_unavailable = "spool"`), until they are replayed into it.
    pub fn spool(&self, profile: &str) -> PathBuf {
        self.data_dir.join(format!("spool-{profile}.sqlite"))
    }

    /// The metadata cache a profile's proxy keeps.
    pub fn metadata_cache(&self, profile: &str) -> PathBuf {
        self.cache_dir.join(format!("metadata-{profile}.sqlite"))
    }

    /// The event store: the receiver's (`None`, shared by `listen`, `events` and `channels`), or
    /// one kept apart for a profile (the embedded demo's).
    pub fn events(&self, profile: Option<&str>) -> PathBuf {
        match profile {
            None => self.data_dir.join("events.sqlite"),
            Some(p) => self.data_dir.join(format!("events-{p}.sqlite")),
        }
    }

    /// Where a command logs: `creditops-<command>.log` for the servers, `creditops.log` for the
    /// console (None).
    pub fn log(&self, command: Option<&str>) -> PathBuf {
        match command {
            Some(c) => self.data_dir.join(format!("creditops-{c}.log")),
            None => self.data_dir.join("creditops.log"),
        }
    }
}

/// The profile name the embedded demo's stores are kept under, apart from every real profile.
pub const DEMO_PROFILE: &str = "embedded-demo";

/// Days of webhook events a receiver keeps unless `[receiver] keep_days` says otherwise.
pub const DEFAULT_KEEP_DAYS: u32 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot find a home folder for {0}: set it explicitly")]
    NoHome(String),
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no profile `{0}` in the config")]
    NoProfile(String),
}

/// What a profile points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The sandbox that creditops runs in-process on loopback.
    #[default]
    Embedded,
    /// A Zoho sandbox org (sandbox.zohoapis.*).
    ZohoSandbox,
    /// A Zoho production org: used only when the profile says so explicitly.
    ZohoProduction,
}

/// One org creditops watches or sends to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub target: Target,
    #[serde(default)]
    pub data_centre: DataCentre,
    #[serde(default = "default_edition")]
    pub edition: String,
    #[serde(default = "default_licences")]
    pub licences: u64,
    #[serde(default)]
    pub addon: u64,
    /// Alert thresholds in percent of the daily limit.
    #[serde(default = "default_thresholds")]
    pub alert_thresholds: Vec<u32>,
    /// Up to three more thresholds, as Zoho lets an admin set.
    #[serde(default)]
    pub custom_thresholds: Vec<u32>,
    /// A base URL that replaces the data centre's hosts (a sandbox on another machine of yours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts_base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    /// The proxy's ledger for this profile: a SQLite path or a `postgres://` URL (default:
    /// `[store] url`, else `<data>/ledger-<profile>.sqlite`). A secret: a URL may carry a
    /// password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<Secret>,
    /// Must be true, besides the target, before anything is sent to production.
    #[serde(default)]
    pub allow_production: bool,
    /// This profile's budgets per integration (over the top-level `[budgets]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budgets: Option<creditops_core::budgets::Budgets>,
}

fn default_edition() -> String {
    "enterprise".into()
}
fn default_licences() -> u64 {
    10
}
fn default_thresholds() -> Vec<u32> {
    vec![80, 90, 100]
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            target: Target::Embedded,
            data_centre: DataCentre::Us,
            edition: default_edition(),
            licences: default_licences(),
            addon: 0,
            alert_thresholds: default_thresholds(),
            custom_thresholds: Vec::new(),
            api_base: None,
            accounts_base: None,
            client_id: None,
            client_secret: None,
            refresh_token: None,
            ledger: None,
            allow_production: false,
            budgets: None,
        }
    }
}

impl Profile {
    /// Every alert threshold, standard and custom, ascending and without repeats.
    pub fn thresholds(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self
            .alert_thresholds
            .iter()
            .chain(&self.custom_thresholds)
            .copied()
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    pub fn holds_secrets(&self) -> bool {
        self.client_secret.as_ref().is_some_and(|s| !s.is_empty())
            || self.refresh_token.as_ref().is_some_and(|s| !s.is_empty())
            || self
                .ledger
                .as_ref()
                .is_some_and(|l| store::is_postgres_url(l.expose()))
    }

    /// The budgets in force for this profile: its own, else the config's `[budgets]`.
    pub fn budgets<'a>(
        &'a self,
        config: &'a Config,
    ) -> Option<&'a creditops_core::budgets::Budgets> {
        self.budgets.as_ref().or(config.budgets.as_ref())
    }

    /// Where this profile's calls go: the one place a profile becomes endpoints. The API base
    /// is the profile's `api_base`, else its target's host in its data centre (None for the
    /// embedded sandbox without one: the caller runs it); the accounts base is `accounts_base`,
    /// else the data centre's accounts host (None for the embedded sandbox: it mints its own).
    pub fn endpoints(&self) -> ProfileEndpoints {
        let dc = self.data_centre;
        let accounts = || {
            self.accounts_base
                .clone()
                .unwrap_or_else(|| format!("https://{}", dc.accounts_host()))
        };
        match self.target {
            Target::Embedded => ProfileEndpoints {
                api_base: self.api_base.clone(),
                accounts_base: self.accounts_base.clone(),
            },
            Target::ZohoSandbox => ProfileEndpoints {
                api_base: Some(
                    self.api_base
                        .clone()
                        .unwrap_or_else(|| format!("https://{}", dc.sandbox_host())),
                ),
                accounts_base: Some(accounts()),
            },
            Target::ZohoProduction => ProfileEndpoints {
                api_base: Some(
                    self.api_base
                        .clone()
                        .unwrap_or_else(|| format!("https://{}", dc.api_host())),
                ),
                accounts_base: Some(accounts()),
            },
        }
    }

    /// The production guard for this profile: sending to `url` is allowed unless it reaches
    /// Zoho production (however it is written), which needs `target = "zoho-production"`,
    /// `allow_production = true` and the caller's explicit consent (`--allow-production`, or
    /// true where the command has no such flag and the profile's two settings suffice).
    pub fn may_send_to(&self, url: &str, consent: bool) -> Result<(), String> {
        creditops_core::zoho::destination(url)?;
        if creditops_core::zoho::is_production_url(url)
            && !(consent && self.allow_production && self.target == Target::ZohoProduction)
        {
            return Err(format!(
                "{url} is Zoho production: it needs a profile with target = \"zoho-production\" and allow_production = true, and --allow-production"
            ));
        }
        Ok(())
    }
}

/// A profile's endpoints (see [`Profile::endpoints`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileEndpoints {
    pub api_base: Option<String>,
    pub accounts_base: Option<String>,
}

impl ProfileEndpoints {
    /// Where OAuth tokens are asked for: the accounts base's `/oauth/v2/token` (None for the
    /// embedded sandbox without one: it mints tokens at its API base).
    pub fn token_url(&self) -> Option<String> {
        self.accounts_base
            .as_ref()
            .map(|a| format!("{}/oauth/v2/token", a.trim_end_matches('/')))
    }
}

/// Settings of the metering proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySettings {
    /// The request header that names the integration making a call.
    pub integration_header: String,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            integration_header: "X-Integration".into(),
        }
    }
}

/// Settings of the credit ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerSettings {
    pub retention_days: u32,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        LedgerSettings { retention_days: 90 }
    }
}

/// A notification channel the receiver accepts (besides those subscribed through creditops).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownChannel {
    pub id: String,
    pub token: Secret,
}

/// A workflow webhook's shared secret: in `header` (default `X-Creditops-Secret`) or the
/// `secret` query parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSecret {
    pub secret: Secret,
    #[serde(default)]
    pub header: Option<String>,
}

/// Settings of the webhook receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverSettings {
    pub listen: String,
    pub body_limit: usize,
    pub forward_to: Option<String>,
    pub bulk_secret: Option<WebhookSecret>,
    pub channels: Vec<KnownChannel>,
    pub workflow: BTreeMap<String, WebhookSecret>,
    /// Channels expiring within this many hours are renewed by `channels renew`.
    pub renew_before_hours: u32,
    /// Days of events the store keeps (older ones are dropped hourly); 0 keeps everything.
    pub keep_days: u32,
}

impl Default for ReceiverSettings {
    fn default() -> Self {
        ReceiverSettings {
            listen: "127.0.0.1:7879".into(),
            body_limit: 1024 * 1024,
            forward_to: None,
            bulk_secret: None,
            channels: Vec::new(),
            workflow: BTreeMap::new(),
            renew_before_hours: 6,
            keep_days: DEFAULT_KEEP_DAYS,
        }
    }
}

/// Where alerts go besides the console and `creditops usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    pub desktop: bool,
    pub post_url: Option<String>,
}

/// The whole `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub default_profile: Option<String>,
    pub theme: Option<String>,
    pub profiles: BTreeMap<String, Profile>,
    pub proxy: ProxySettings,
    pub ledger: LedgerSettings,
    /// Where the stores live when not in SQLite files (`[store] url`).
    pub store: StoreSettings,
    pub alerts: AlertSettings,
    pub receiver: ReceiverSettings,
    pub cache: creditops_core::metadata::CacheSettings,
    /// Budgets per integration (`[budgets]`), for every profile without its own.
    pub budgets: Option<creditops_core::budgets::Budgets>,
    /// Console key bindings: action name → key (e.g. `quit = "q"`, `help = "?"`).
    pub keys: BTreeMap<String, KeyList>,
}

/// The keys bound to one console action: one (`quit = "x"`) or several (`down = ["j", "down"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    pub fn keys(&self) -> Vec<String> {
        match self {
            KeyList::One(k) => vec![k.clone()],
            KeyList::Many(ks) => ks.clone(),
        }
    }
}

/// Loaded config with what the user should hear about it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
    pub file: PathBuf,
    pub existed: bool,
    /// The file's text, for diagnostics that come after parsing (an unknown edition).
    pub text: Option<String>,
}

impl Config {
    /// Where a profile's ledger lives: `--ledger` (given as `flag`), the profile's `ledger`,
    /// `[store] url`, or the profile's file under the data folder. The embedded demo's is always
    /// its own file, apart from every real profile.
    pub fn ledger_at(
        &self,
        paths: &Paths,
        name: &str,
        profile: &Profile,
        flag: Option<&str>,
    ) -> Location {
        if let Some(f) = flag {
            return Location::parse(f);
        }
        if name == DEMO_PROFILE {
            return Location::Sqlite(paths.ledger(name));
        }
        if let Some(l) = &profile.ledger {
            return Location::parse(l.expose());
        }
        match &self.store.url {
            Some(url) => Location::Postgres(url.clone()),
            None => Location::Sqlite(paths.ledger(name)),
        }
    }

    /// Where a profile's metadata cache lives (`[store] url`, or its file).
    pub fn metadata_at(&self, paths: &Paths, name: &str) -> Location {
        match (&self.store.url, name == DEMO_PROFILE) {
            (Some(url), false) => Location::Postgres(url.clone()),
            _ => Location::Sqlite(paths.metadata_cache(name)),
        }
    }

    /// Where the event store lives (`[store] url`, or its file; see [`Paths::events`]).
    pub fn events_at(&self, paths: &Paths, profile: Option<&str>) -> Location {
        match (&self.store.url, profile == Some(DEMO_PROFILE)) {
            (Some(url), false) => Location::Postgres(url.clone()),
            _ => Location::Sqlite(paths.events(profile)),
        }
    }

    /// Reads `config.toml`; a missing file is the default config.
    pub fn load(file: &Path) -> Result<Loaded, ConfigError> {
        let text = match creditops_core::input::read_settings(file) {
            Ok(t) => t,
            Err(e) if e.not_found() => {
                return Ok(Loaded {
                    config: Config::default(),
                    warnings: Vec::new(),
                    file: file.to_path_buf(),
                    existed: false,
                    text: None,
                })
            }
            Err(creditops_core::input::InputError::Io { source, .. }) => {
                return Err(ConfigError::Io {
                    file: file.display().to_string(),
                    source,
                })
            }
            Err(e) => {
                return Err(ConfigError::Io {
                    file: file.display().to_string(),
                    source: std::io::Error::other(e.to_string()),
                })
            }
        };
        let config = Config::parse(&text, &file.display().to_string())?;
        let mut warnings = Vec::new();
        if config.profiles.values().any(Profile::holds_secrets) || config.store.url.is_some() {
            if let Some(mode) = file_mode(file) {
                if mode & 0o077 != 0 {
                    warnings.push(format!(
                        "{} holds secrets but is readable by others (mode {:o}): run chmod 600 {}",
                        file.display(),
                        mode & 0o777,
                        file.display()
                    ));
                }
            }
        }
        Ok(Loaded {
            config,
            warnings,
            file: file.to_path_buf(),
            existed: true,
            text: Some(text),
        })
    }

    /// Parses and checks config text; errors name the file, line and key.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            file: file.into(),
            message: describe_toml_error(text, &e),
        })?;
        config.validate(text, file)?;
        Ok(config)
    }

    fn validate(&self, text: &str, file: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            file: file.into(),
            // A key set with `=`, else a table named after it (`[budgets.integrations.a]`).
            message: match locate_key(text, key).or_else(|| {
                text.lines()
                    .position(|l| {
                        let l = l.trim_start();
                        l.starts_with('[')
                            && l.split(['.', '[', ']']).any(|part| part.trim() == key)
                    })
                    .map(|i| i + 1)
            }) {
                Some(line) => format!("line {line}, key `{key}`: {message}"),
                None => format!("key `{key}`: {message}"),
            },
        };
        for (name, p) in &self.profiles {
            if p.custom_thresholds.len() > 3 {
                return Err(invalid(
                    "custom_thresholds",
                    format!(
                        "profile `{name}` has {} custom thresholds; Zoho allows at most 3",
                        p.custom_thresholds.len()
                    ),
                ));
            }
            for t in p.alert_thresholds.iter().chain(&p.custom_thresholds) {
                if *t == 0 || *t > 100 {
                    return Err(invalid(
                        "alert_thresholds",
                        format!("profile `{name}`: threshold {t}% is not within 1-100"),
                    ));
                }
            }
            for (key, url) in [
                ("api_base", &p.api_base),
                ("accounts_base", &p.accounts_base),
            ] {
                if let Some(u) = url {
                    if !(u.starts_with("http://") || u.starts_with("https://")) {
                        return Err(invalid(
                            key,
                            format!("profile `{name}`: `{u}` is not an http(s) URL"),
                        ));
                    }
                }
            }
        }
        let all_budgets = self
            .budgets
            .iter()
            .map(|b| ("budgets".to_string(), b))
            .chain(self.profiles.iter().filter_map(|(n, p)| {
                p.budgets
                    .as_ref()
                    .map(|b| (format!("profiles.{n}.budgets"), b))
            }));
        for (table, b) in all_budgets {
            if let Some((key, message)) = b.problem(None) {
                return Err(invalid(&key, format!("[{table}] {message}")));
            }
        }
        if let Some(message) = self.store.problem() {
            return Err(invalid("url", message));
        }
        for (name, p) in &self.profiles {
            if let Some(l) = &p.ledger {
                if l.expose().contains("://") && !store::is_postgres_url(l.expose()) {
                    return Err(invalid(
                        "ledger",
                        format!(
                            "profile `{name}`: a ledger is a SQLite file path or a postgres:// URL"
                        ),
                    ));
                }
            }
        }
        if let Some(d) = &self.default_profile {
            if !self.profiles.contains_key(d) {
                return Err(invalid(
                    "default_profile",
                    format!("no profile `{d}` is defined"),
                ));
            }
        }
        Ok(())
    }

    /// Checks every profile's edition against the editions in force (the built-in ones and the
    /// user's `editions.toml`). Called once the credit model is loaded: an edition the user
    /// defined is as good as a built-in one.
    pub fn check_editions(
        loaded: &Loaded,
        editions: &creditops_core::credits::Editions,
    ) -> Result<(), ConfigError> {
        let file = loaded.file.display().to_string();
        for (name, p) in &loaded.config.profiles {
            if let Err(e) = editions.get(&p.edition) {
                let message = format!("profile `{name}`: {e}");
                return Err(ConfigError::Invalid {
                    file,
                    message: match loaded
                        .text
                        .as_deref()
                        .and_then(|t| locate_key(t, "edition"))
                    {
                        Some(line) => format!("line {line}, key `edition`: {message}"),
                        None => format!("key `edition`: {message}"),
                    },
                });
            }
        }
        Ok(())
    }

    /// The named profile, or the default one, or the embedded sandbox's defaults.
    pub fn profile(&self, name: Option<&str>) -> Result<(String, Profile), ConfigError> {
        match name.or(self.default_profile.as_deref()) {
            Some(n) => self
                .profiles
                .get(n)
                .cloned()
                .map(|p| (n.to_string(), p))
                .ok_or_else(|| ConfigError::NoProfile(n.to_string())),
            None => Ok(("embedded".into(), Profile::default())),
        }
    }

    /// Writes the config with mode 0600 (it may hold secrets), atomically.
    pub fn save(&self, file: &Path) -> Result<(), ConfigError> {
        let io = |source| ConfigError::Io {
            file: file.display().to_string(),
            source,
        };
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Invalid {
            file: file.display().to_string(),
            message: e.to_string(),
        })?;
        write_private(file, text.as_bytes()).map_err(io)
    }
}

/// Sets string keys of one profile in the config file, keeping everything else as written
/// (comments, order, other profiles), and writes it back 0600. The result must parse as a
/// config, or nothing is written. (`Config::save` would drop the user's comments.)
pub fn set_profile_keys(
    file: &Path,
    profile: &str,
    keys: &[(&str, &str)],
) -> Result<(), ConfigError> {
    let shown = file.display().to_string();
    let invalid = |message: String| ConfigError::Invalid {
        file: shown.clone(),
        message,
    };
    let text = fs::read_to_string(file).map_err(|source| ConfigError::Io {
        file: shown.clone(),
        source,
    })?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| invalid(e.message().to_string()))?;
    let table = doc
        .get_mut("profiles")
        .and_then(|p| p.get_mut(profile))
        .and_then(toml_edit::Item::as_table_like_mut)
        .ok_or_else(|| ConfigError::NoProfile(profile.to_string()))?;
    for (k, v) in keys {
        table.insert(k, toml_edit::value(*v));
    }
    let edited = doc.to_string();
    Config::parse(&edited, &shown)?;
    write_private(file, edited.as_bytes()).map_err(|source| ConfigError::Io {
        file: shown,
        source,
    })
}

/// Writes a file readable by its owner only (0600), through a temporary file and a rename.
pub fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_private_with(file, |w| w.write_all(bytes))
}

/// As [`write_private`], with the content streamed by `write` (a plan of a million steps is
/// written as it is serialised, never held whole in memory).
pub fn write_private_with(
    file: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let f = opts.open(&tmp)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    write(&mut w)?;
    let f = w
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)?;
    f.sync_all()?;
    fs::rename(&tmp, file)
}

#[cfg(unix)]
fn file_mode(file: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(file).ok().map(|m| m.permissions().mode())
}

#[cfg(not(unix))]
fn file_mode(_file: &Path) -> Option<u32> {
    None
}

pub use creditops_core::toml_diag::{describe_toml_error, locate_key};
