use creditops_config::Profile;

use super::{input_error, print_json, Context};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check config.toml: errors name the file, line and key
    Check,
    /// Print the config in force, secrets masked
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Write a starting config.toml (mode 0600) with an embedded-sandbox profile
    Init {
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    let loaded = &ctx.config;
    match cmd {
        Command::Check => {
            let problems = problems(&ctx);
            if !problems.is_empty() {
                for p in &problems {
                    eprintln!("{}: {p}", loaded.file.display());
                }
                return Err(input_error(format!(
                    "{}: {} problem(s)",
                    loaded.file.display(),
                    problems.len()
                )));
            }
            if loaded.existed {
                outln!(
                    "{}: ok ({} profile(s))",
                    loaded.file.display(),
                    loaded.config.profiles.len()
                );
            } else {
                outln!(
                    "{}: no file; the defaults apply (embedded sandbox)",
                    loaded.file.display()
                );
            }
            Ok(())
        }
        Command::Show { json } => {
            let mut shown = loaded.config.clone();
            for p in shown.profiles.values_mut() {
                mask(p);
            }
            if let Some(url) = &shown.store.url {
                shown.store.url = Some(creditops_core::secret::Secret::new(
                    creditops_core::secret::url_for_display(url.expose()),
                ));
            }
            if json {
                return print_json(&shown);
            }
            out!("{}", toml::to_string_pretty(&shown)?);
            Ok(())
        }
        Command::Init { force } => {
            if loaded.existed && !force {
                return Err(input_error(format!(
                    "{} exists; pass --force to replace it",
                    loaded.file.display()
                )));
            }
            creditops_config::write_private(&loaded.file, template().as_bytes())
                .map_err(|e| anyhow::anyhow!("{}: {e}", loaded.file.display()))?;
            outln!(
                "wrote {} (mode 0600): the embedded sandbox now; fill in [profiles.acme] and set default_profile = \"acme\" for a real org",
                loaded.file.display()
            );
            Ok(())
        }
    }
}

fn mask(p: &mut Profile) {
    use creditops_core::secret::Secret;
    if p.client_secret.is_some() {
        p.client_secret = Some(Secret::new("***"));
    }
    if p.refresh_token.is_some() {
        p.refresh_token = Some(Secret::new("***"));
    }
    // A ledger URL is shown without its user and password.
    if let Some(l) = &p.ledger {
        if creditops_config::store::is_postgres_url(l.expose()) {
            p.ledger = Some(Secret::new(creditops_core::secret::url_for_display(
                l.expose(),
            )));
        }
    }
}

/// What `config check` finds beyond what parsing does: names that point nowhere, values that
/// cannot work, profiles that cannot reach their org.
pub(crate) fn problems(ctx: &Context) -> Vec<String> {
    let c = &ctx.config.config;
    let mut out = Vec::new();
    let (_, key_warnings) = creditops_tui::app::bindings(&c.keys);
    out.extend(key_warnings.into_iter().map(|w| format!("[keys] {w}")));
    if c.receiver.listen.parse::<std::net::SocketAddr>().is_err() {
        out.push(format!(
            "[receiver] listen = \"{}\" is not an address such as 127.0.0.1:7879",
            c.receiver.listen
        ));
    }
    let is_url = |u: &str| u.starts_with("http://") || u.starts_with("https://");
    for (key, value) in [
        ("[alerts] post_url", c.alerts.post_url.as_deref()),
        ("[receiver] forward_to", c.receiver.forward_to.as_deref()),
    ] {
        if let Some(v) = value.filter(|v| !is_url(v)) {
            out.push(format!("{key} = \"{v}\" is not an http(s) URL"));
        }
    }
    if let Some(t) = &c.theme {
        let themes = creditops_tui::theme::ThemeSet::load(&ctx.paths.themes_dir);
        if themes.get(t).is_none() {
            out.push(format!(
                "theme = \"{t}\": no such theme (known: {})",
                themes.names().join(", ")
            ));
        }
    }
    for (name, p) in &c.profiles {
        if p.target != creditops_config::Target::Embedded {
            let missing: Vec<&str> = [
                ("client_id", p.client_id.is_none()),
                ("client_secret", p.client_secret.is_none()),
                ("refresh_token", p.refresh_token.is_none()),
            ]
            .into_iter()
            .filter(|(_, m)| *m)
            .map(|(k, _)| k)
            .collect();
            if !missing.is_empty() {
                out.push(format!(
                    "[profiles.{name}] reaches a Zoho org but has no {} (a self client in Zoho's API console gives them)",
                    missing.join(", ")
                ));
            }
        }
        if ctx
            .model
            .editions
            .limits(&p.edition, p.licences, p.addon)
            .is_err()
        {
            out.push(format!(
                "[profiles.{name}] edition = \"{}\" is not an edition creditops knows",
                p.edition
            ));
        }
    }
    out
}

/// `config init`'s text, with the scopes from their one list.
fn template() -> String {
    let scopes: Vec<&str> = creditops_core::zoho::oauth::SCOPES
        .iter()
        .map(|(s, _)| *s)
        .collect();
    CONFIG_TEMPLATE.replace("{scopes}", &scopes.join(","))
}

/// What `config init` writes: a working embedded profile, and a real org's profile to fill in,
/// every setting said in a comment. It parses as it stands (test
/// `cli::config_init_writes_a_commented_template_that_checks`).
const CONFIG_TEMPLATE: &str = r#"# creditops configuration (mode 0600: it may hold secrets). `creditops config check` checks it.

# The profile the console and the commands use when none is named (--profile, CREDITOPS_PROFILE).
default_profile = "embedded"

# The embedded sandbox: no account needed, demo traffic, nothing leaves this machine.
[profiles.embedded]
target = "embedded"

# A real org. Create a self client in Zoho's API console (api-console.zoho.<dc>), uncomment
# and fill in the profile below without refresh_token, then run `creditops auth --profile acme`:
# it names the scopes to give the grant code, exchanges the code and stores the refresh token
# here. The scopes:
#   {scopes}
#
# [profiles.acme]
# target = "zoho-sandbox"          # embedded | zoho-sandbox | zoho-production
# data_centre = "eu"               # us eu in au jp ca cn sa
# edition = "enterprise"           # free standard professional enterprise ultimate
# licences = 40                    # user licences: they set the daily credit limit
# addon = 0                        # add-on credits per 24 h you bought
# alert_thresholds = [80, 90, 100]
# client_id = "1000.XXXXXXXX"
# client_secret = "..."            # or leave out: `creditops auth` asks for it
# refresh_token = "1000...."       # `creditops auth` writes it
# allow_production = false         # true (with target = "zoho-production") to touch production

# Alerts besides the console: a desktop notification, and/or a POST of each crossing.
# [alerts]
# desktop = true
# post_url = "https://hooks.example.com/creditops"

# The webhook receiver (`creditops listen`).
# [receiver]
# listen = "127.0.0.1:7879"
# forward_to = "https://workers.example.com/zoho-events"
# keep_days = 30

# Several proxies sharing one ledger, events store and metadata cache (PostgreSQL).
# [store]
# url = "postgres://creditops@db.internal/creditops"   # the password from PGPASSWORD or here
# on_unavailable = "refuse"                             # or "spool"
"#;
