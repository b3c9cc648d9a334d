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
            let mut config = creditops_config::Config {
                default_profile: Some("embedded".into()),
                ..Default::default()
            };
            config
                .profiles
                .insert("embedded".into(), Profile::default());
            config.save(&loaded.file)?;
            outln!("wrote {} (mode 0600)", loaded.file.display());
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
