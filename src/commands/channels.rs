use std::path::PathBuf;

use creditops_net::client::ZohoClient;
use creditops_store::events::{Channel, EventReader, EventWriter};
use reqwest::Method;
use serde_json::json;

use super::{input_error, Context};

#[derive(Debug, clap::Args)]
pub struct Common {
    /// Profile whose Zoho org the channels live in.
    #[arg(long)]
    profile: Option<String>,
    /// The event store holding the channels' tokens (default <data>/events.sqlite).
    #[arg(long)]
    store: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Subscribe to a module's events (Notification API); the receiver then accepts them
    Enable {
        /// Module API name, e.g. Leads.
        #[arg(long)]
        module: String,
        /// Events: create, edit, delete, all (comma-separated).
        #[arg(long, default_value = "all")]
        events: String,
        /// Where Zoho posts (default: this machine's receiver).
        #[arg(long)]
        notify_url: Option<String>,
        /// Channel lifetime in hours (Zoho allows at most a week).
        #[arg(long, default_value_t = 24)]
        hours: u32,
        #[command(flatten)]
        common: Common,
    },
    /// Channels creditops knows, with their expiry
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Extend channels that expire within the configured window (renew_before_hours)
    Renew {
        /// New lifetime in hours.
        #[arg(long, default_value_t = 24)]
        hours: u32,
        #[command(flatten)]
        common: Common,
    },
    /// Unsubscribe a channel
    Disable {
        id: String,
        #[command(flatten)]
        common: Common,
    },
}

fn client(ctx: &Context, profile: Option<&str>) -> anyhow::Result<(String, ZohoClient)> {
    let (name, p) = ctx
        .config
        .config
        .profile(profile)
        .map_err(|e| input_error(e.to_string()))?;
    let mut c = super::profile_client(&name, &p)?;
    c.integration = Some("creditops-channels".into());
    Ok((name, c))
}

/// Whether a URL's host can be reached from the internet: not loopback, not a private or
/// link-local range, not `localhost`.
fn reachable_from_outside(url: &str) -> bool {
    let host = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    if host.eq_ignore_ascii_case("localhost") || host.ends_with(".localhost") || host.is_empty() {
        return false;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            !(ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified())
        }
        Ok(std::net::IpAddr::V6(ip)) => !(ip.is_loopback() || ip.is_unspecified()),
        Err(_) => true,
    }
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
        .unwrap_or_default()
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let ctx = Context::load()?;
    let store_of = |c: &Common| match &c.store {
        Some(file) => creditops_store::db::Location::from(file),
        None => ctx.config.config.events_at(&ctx.paths, None),
    };
    let rt = tokio::runtime::Runtime::new()?;
    let now = chrono::Utc::now().timestamp_millis();
    match cmd {
        Command::List { json, common } => {
            let chans = EventReader::open(store_of(&common))
                .map_err(anyhow::Error::msg)?
                .channels()?;
            if json {
                return super::print_json(&chans);
            }
            for c in chans {
                let left = (c.expiry_ms - now) / 1000;
                let when = if left <= 0 {
                    "EXPIRED".to_string()
                } else {
                    format!("expires in {}h{:02}m", left / 3600, (left % 3600) / 60)
                };
                outln!(
                    "{:<20} {:<32} {:<24} {} ({})",
                    c.channel_id,
                    c.events.join(","),
                    when,
                    c.notify_url,
                    c.profile
                );
            }
            Ok(())
        }
        Command::Enable {
            module,
            events,
            notify_url,
            hours,
            common,
        } => {
            if hours == 0 || hours > 168 {
                return Err(input_error(
                    "--hours: 1 to 168 (Zoho allows at most a week)",
                ));
            }
            let events: Vec<String> = events
                .split(',')
                .map(|e| format!("{module}.{}", e.trim()))
                .collect();
            let (profile, c) = client(&ctx, common.profile.as_deref())?;
            let url = notify_url.unwrap_or_else(|| {
                format!(
                    "http://{}/hooks/notifications",
                    ctx.config.config.receiver.listen
                )
            });
            // Zoho calls the notify URL from its servers: a loopback or private address works
            // with the embedded sandbox, never with a Zoho org.
            let zoho_org = c.endpoint.api_base.contains("zohoapis.");
            if zoho_org && !reachable_from_outside(&url) {
                eprintln!(
                    "creditops: warning: {url} is not an address Zoho's servers can reach (loopback or private); callbacks for channel of profile `{profile}` will not arrive. Expose the receiver (a public URL, a reverse proxy or a tunnel) and pass --notify-url with it"
                );
            }
            let channel_id = (now as u64 % 10_000_000_000_000).to_string();
            let token = format!("{:032x}", rand::random::<u128>());
            let expiry = now + i64::from(hours) * 3_600_000;
            let body = json!({"watch": [{"channel_id": channel_id, "events": events, "notify_url": url, "token": token, "channel_expiry": iso(expiry)}]});
            rt.block_on(async {
                c.call(Method::POST, "/crm/v8/actions/watch", &[], Some(&body))
                    .await?;
                EventWriter::open(store_of(&common))
                    .map_err(anyhow::Error::msg)?
                    .save_channel(Channel {
                        channel_id: channel_id.clone(),
                        token_hash: creditops_core::secret::token_hash(&token),
                        events,
                        notify_url: url,
                        expiry_ms: expiry,
                        profile,
                    })
                    .await
                    .map_err(anyhow::Error::msg)
            })?;
            outln!("channel {channel_id} enabled until {}", iso(expiry));
            Ok(())
        }
        Command::Renew { hours, common } => {
            let window = i64::from(ctx.config.config.receiver.renew_before_hours) * 3_600_000;
            let chans = EventReader::open(store_of(&common))
                .map_err(anyhow::Error::msg)?
                .channels()?;
            let (_, c) = client(&ctx, common.profile.as_deref())?;
            let writer = EventWriter::open(store_of(&common)).map_err(anyhow::Error::msg)?;
            let mut renewed = 0;
            for mut ch in chans.into_iter().filter(|ch| ch.expiry_ms - now < window) {
                let expiry = now + i64::from(hours) * 3_600_000;
                // The store keeps only the token's hash: a renewal issues a new token.
                let token = format!("{:032x}", rand::random::<u128>());
                let body = json!({"watch": [{"channel_id": ch.channel_id, "events": ch.events, "notify_url": ch.notify_url, "token": token, "channel_expiry": iso(expiry)}]});
                rt.block_on(c.call(Method::PUT, "/crm/v8/actions/watch", &[], Some(&body)))?;
                ch.expiry_ms = expiry;
                ch.token_hash = creditops_core::secret::token_hash(&token);
                let id = ch.channel_id.clone();
                rt.block_on(writer.save_channel(ch))
                    .map_err(anyhow::Error::msg)?;
                outln!("channel {id} renewed until {}", iso(expiry));
                renewed += 1;
            }
            outln!("{renewed} channel(s) renewed");
            Ok(())
        }
        Command::Disable { id, common } => {
            let (_, c) = client(&ctx, common.profile.as_deref())?;
            rt.block_on(c.call(
                Method::DELETE,
                "/crm/v8/actions/watch",
                &[("channel_ids".to_string(), id.clone())],
                None,
            ))?;
            rt.block_on(
                EventWriter::open(store_of(&common))
                    .map_err(anyhow::Error::msg)?
                    .drop_channel(&id),
            )
            .map_err(anyhow::Error::msg)?;
            outln!("channel {id} disabled");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_and_private_notify_urls_are_not_reachable_from_zoho() {
        use super::reachable_from_outside as ok;
        for bad in [
            "http://127.0.0.1:7879/hooks/notifications",
            "http://localhost:7879/x",
            "http://[::1]:7879/x",
            "http://10.1.2.3/x",
            "http://192.168.1.20:8080/x",
            "http://172.16.0.5/x",
            "http://0.0.0.0:7879/x",
        ] {
            assert!(!ok(bad), "{bad}");
        }
        for good in [
            "https://hooks.example.com/zoho",
            "https://203.0.113.9:8443/x",
            "https://user@hooks.example.com/x",
        ] {
            assert!(ok(good), "{good}");
        }
    }
}
