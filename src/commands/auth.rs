//! `creditops auth`: the way to a real org. A Zoho self client's grant code is exchanged once
//! for a refresh token, which is stored in the profile (config.toml, 0600, comments kept).
//! Secrets are asked for on the terminal without echo (or read from stdin, one per line), never
//! taken as arguments, never printed.

use creditops_config::Target;
use creditops_core::zoho::oauth::{missing_scopes, SCOPES};
use creditops_core::zoho::DataCentre;

use super::prompt::ask;
use super::{input_error, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profile to store the refresh token in (a Zoho org: target zoho-sandbox or
    /// zoho-production).
    #[arg(long, env = "CREDITOPS_PROFILE")]
    profile: Option<String>,
    /// The self client's id, when the profile has none yet (it is not a secret).
    #[arg(long)]
    client_id: Option<String>,
    /// Print the scopes to give the grant code, and stop.
    #[arg(long)]
    scopes: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let scope_list: Vec<&str> = SCOPES.iter().map(|(s, _)| *s).collect();
    if args.scopes {
        outln!("{}", scope_list.join(","));
        return Ok(());
    }
    let ctx = Context::load()?;
    let loaded = &ctx.config;
    if !loaded.existed {
        return Err(input_error(format!(
            "{}: no config yet; run `creditops config init`, fill in [profiles.acme], then `creditops auth --profile acme`",
            loaded.file.display()
        )));
    }
    let (name, profile) = loaded.config.profile(args.profile.as_deref())?;
    if profile.target == Target::Embedded && profile.accounts_base.is_none() {
        return Err(input_error(format!(
            "profile `{name}` is the embedded sandbox: it needs no token. `auth` is for a Zoho org (target = \"zoho-sandbox\" or \"zoho-production\")"
        )));
    }
    // Where the profile's tokens come from (a Zoho target always has an accounts base).
    let ends = profile.endpoints();
    let (Some(accounts), Some(token_url)) = (ends.accounts_base.clone(), ends.token_url()) else {
        return Err(input_error(format!(
            "profile `{name}` has no accounts server to ask (set accounts_base)"
        )));
    };
    let console = format!(
        "https://{}",
        profile
            .data_centre
            .accounts_host()
            .replacen("accounts.", "api-console.", 1)
    );
    let client_id = match args.client_id.clone().or(profile.client_id.clone()) {
        Some(id) => id,
        None => ask(
            "Client ID (Self Client → Client Secret tab): ",
            "client id",
            false,
        )?
        .expose()
        .to_string(),
    };
    let client_secret = match &profile.client_secret {
        Some(s) if !s.is_empty() => s.clone(),
        _ => ask(
            "Client Secret (not shown as you type): ",
            "client secret",
            true,
        )?,
    };
    eprintln!(
        "In {console} → Self Client → Generate Code, paste this as the scope:\n  {}\nwhat each is for:",
        scope_list.join(",")
    );
    for (s, why) in SCOPES {
        eprintln!("  {s:<28} {why}");
    }
    let code = ask("Grant code (not shown as you type): ", "grant code", true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let answer = rt
        .block_on(creditops_net::oauth::exchange_grant_code(
            &http,
            &token_url,
            &client_id,
            &client_secret,
            &code,
        ))
        .map_err(|e| anyhow::anyhow!("{accounts}: {e}"))?;
    let Some(refresh) = answer.refresh_token else {
        return Err(anyhow::anyhow!(
            "{accounts} gave an access token but no refresh token: make the grant code again (a code already exchanged gives none)"
        ));
    };
    let mut keys = vec![
        ("client_id", client_id.as_str()),
        ("refresh_token", refresh.expose()),
    ];
    if profile.client_secret.as_ref().is_none_or(|s| s.is_empty()) {
        keys.push(("client_secret", client_secret.expose()));
    }
    creditops_config::set_profile_keys(&loaded.file, &name, &keys)?;
    outln!(
        "stored a refresh token for profile `{name}` in {} (mode 0600)",
        loaded.file.display()
    );
    match answer.scope.as_deref() {
        Some(granted) => {
            let missing = missing_scopes(granted);
            if missing.is_empty() {
                outln!("scopes: all {} that creditops uses", SCOPES.len());
            } else {
                eprintln!(
                    "creditops: warning: the grant lacks {}: what needs them will be refused by Zoho; make a new grant code with the full scope and run auth again",
                    missing.join(", ")
                );
            }
        }
        None => eprintln!("creditops: the accounts server did not say which scopes it granted; `creditops doctor` checks them"),
    }
    // The org's data centre is where its API host is: a profile set to another one calls the
    // wrong hosts.
    if let Some(domain) = answer.api_domain.as_deref() {
        let host = url::Url::parse(domain)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string));
        let dc = host
            .as_deref()
            .and_then(|h| DataCentre::ALL.into_iter().find(|dc| dc.api_host() == h));
        if let Some(dc) = dc.filter(|dc| *dc != profile.data_centre && profile.api_base.is_none()) {
            eprintln!(
                "creditops: warning: the org is in data centre `{dc}` ({domain}) but profile `{name}` says `{}`: set data_centre = \"{dc}\"",
                profile.data_centre
            );
        }
    }
    outln!("next: `creditops doctor --profile {name}` checks the way to the org");
    Ok(())
}
