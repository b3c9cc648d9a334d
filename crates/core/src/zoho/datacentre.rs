//! Zoho's data centres: where each one's accounts (OAuth), API and sandbox hosts live.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DataCentre {
    #[default]
    Us,
    Eu,
    In,
    Au,
    Jp,
    Ca,
    Cn,
    Sa,
}

impl DataCentre {
    pub const ALL: [DataCentre; 8] = [
        DataCentre::Us,
        DataCentre::Eu,
        DataCentre::In,
        DataCentre::Au,
        DataCentre::Jp,
        DataCentre::Ca,
        DataCentre::Cn,
        DataCentre::Sa,
    ];

    /// The accounts host that issues OAuth tokens (CREDITS.md §5).
    pub fn accounts_host(self) -> &'static str {
        match self {
            DataCentre::Us => "accounts.zoho.com",
            DataCentre::Eu => "accounts.zoho.eu",
            DataCentre::In => "accounts.zoho.in",
            DataCentre::Au => "accounts.zoho.com.au",
            DataCentre::Jp => "accounts.zoho.jp",
            DataCentre::Ca => "accounts.zohocloud.ca",
            DataCentre::Cn => "accounts.zoho.com.cn",
            DataCentre::Sa => "accounts.zoho.sa",
        }
    }

    /// The production API host.
    pub fn api_host(self) -> &'static str {
        match self {
            DataCentre::Us => "www.zohoapis.com",
            DataCentre::Eu => "www.zohoapis.eu",
            DataCentre::In => "www.zohoapis.in",
            DataCentre::Au => "www.zohoapis.com.au",
            DataCentre::Jp => "www.zohoapis.jp",
            DataCentre::Ca => "www.zohoapis.ca",
            DataCentre::Cn => "www.zohoapis.com.cn",
            DataCentre::Sa => "www.zohoapis.sa",
        }
    }

    /// The Zoho sandbox API host.
    pub fn sandbox_host(self) -> &'static str {
        match self {
            DataCentre::Us => "sandbox.zohoapis.com",
            DataCentre::Eu => "sandbox.zohoapis.eu",
            DataCentre::In => "sandbox.zohoapis.in",
            DataCentre::Au => "sandbox.zohoapis.com.au",
            DataCentre::Jp => "sandbox.zohoapis.jp",
            DataCentre::Ca => "sandbox.zohoapis.ca",
            DataCentre::Cn => "sandbox.zohoapis.com.cn",
            DataCentre::Sa => "sandbox.zohoapis.sa",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            DataCentre::Us => "us",
            DataCentre::Eu => "eu",
            DataCentre::In => "in",
            DataCentre::Au => "au",
            DataCentre::Jp => "jp",
            DataCentre::Ca => "ca",
            DataCentre::Cn => "cn",
            DataCentre::Sa => "sa",
        }
    }
}

/// What a base URL points at, as far as sending calls there is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A Zoho production API host, or a host that cannot be told apart from one (a public IP
    /// address, any name under a production `zohoapis` domain but the sandbox's).
    Production,
    /// A Zoho sandbox API host.
    ZohoSandbox,
    /// Anything else: this machine, a private address, another name.
    Other,
}

/// The one production guard: where a URL really goes, after normalising what URLs let one
/// write in many ways (case, a trailing dot, user info, default ports, percent-encoding, IPv4
/// in other notations, IPv6). Every command that can reach Zoho asks this, for URLs from flags
/// and from profiles alike. Not an http(s) URL: an error, never "not production".
pub fn destination(url: &str) -> Result<Destination, String> {
    let parsed = url::Url::parse(url.trim()).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`{url}` is not an http(s) URL"));
    }
    Ok(match parsed.host() {
        None => return Err(format!("`{url}` has no host")),
        Some(url::Host::Ipv4(ip)) => {
            if ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified() {
                Destination::Other
            } else {
                Destination::Production
            }
        }
        Some(url::Host::Ipv6(ip)) => {
            let local = ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (ip.segments()[0] & 0xffc0) == 0xfe80; // link local
            match ip.to_ipv4_mapped() {
                Some(v4) if v4.is_loopback() || v4.is_private() => Destination::Other,
                Some(_) => Destination::Production,
                None if local => Destination::Other,
                None => Destination::Production,
            }
        }
        Some(url::Host::Domain(name)) => {
            let host = name.trim_end_matches('.').to_ascii_lowercase();
            let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
            let sandbox = DataCentre::ALL.iter().any(|dc| under(dc.sandbox_host()));
            // Production API hosts are `www.zohoapis.<tld>`; the bare domain and other names
            // under it are Zoho's too, and only its `sandbox.` names are not production.
            let production = DataCentre::ALL.iter().any(|dc| {
                let domain = dc.api_host().trim_start_matches("www.");
                under(domain)
            });
            match (sandbox, production) {
                (true, _) => Destination::ZohoSandbox,
                (false, true) => Destination::Production,
                _ => Destination::Other,
            }
        }
    })
}

/// True when `url` reaches Zoho production (or cannot be told apart from it); an unparseable
/// URL counts as production, so a guard that asks this never lets one through by mistake.
pub fn is_production_url(url: &str) -> bool {
    !matches!(
        destination(url),
        Ok(Destination::Other | Destination::ZohoSandbox)
    )
}

impl fmt::Display for DataCentre {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for DataCentre {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let l = s.trim().to_ascii_lowercase();
        DataCentre::ALL
            .into_iter()
            .find(|dc| dc.code() == l)
            .ok_or_else(|| {
                format!("unknown data centre `{s}`; known: us, eu, in, au, jp, ca, cn, sa")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_production_host_is_production() {
        for url in [
            "https://www.zohoapis.com",
            "https://WWW.ZohoApis.COM/crm/v8/Leads",
            "https://www.zohoapis.com.",
            "https://www.zohoapis.com./crm/v8",
            "https://x@www.zohoapis.com",
            "https://user:pw@www.zohoapis.eu/crm",
            "https://www.zohoapis.com:443/crm/v8",
            "http://www.zohoapis.in:80",
            "https://www.zohoapis.com:8443",
            "https://zohoapis.com",
            "https://crm.zohoapis.com.au",
            "https://www%2Ezohoapis%2Ecom/crm",
            "https://www.zohoapis.jp/",
            "https://www.zohoapis.sa",
            "https://www.zohoapis.ca",
            "https://www.zohoapis.com.cn",
            // An address cannot be told apart from Zoho's without asking DNS.
            "https://136.143.190.1/crm/v8",
            "https://2289286657/crm",
            "https://[2001:db8::1]/crm",
            "https://[::ffff:136.143.190.1]/crm",
        ] {
            assert_eq!(destination(url), Ok(Destination::Production), "{url}");
            assert!(is_production_url(url), "{url}");
        }
    }

    #[test]
    fn sandboxes_and_local_hosts_are_not_production() {
        for (url, want) in [
            ("https://sandbox.zohoapis.com", Destination::ZohoSandbox),
            ("https://SANDBOX.zohoapis.eu.", Destination::ZohoSandbox),
            (
                "https://u@sandbox.zohoapis.com.au:443/crm",
                Destination::ZohoSandbox,
            ),
            ("http://127.0.0.1:7878", Destination::Other),
            ("http://0x7f.1:7878", Destination::Other),
            ("http://localhost:7878", Destination::Other),
            ("http://[::1]:7878", Destination::Other),
            ("http://10.0.0.5:7878", Destination::Other),
            ("http://192.168.1.9", Destination::Other),
            ("https://crm.example.com", Destination::Other),
            ("https://www.zohoapis.com.evil.example", Destination::Other),
            ("https://notzohoapis.com", Destination::Other),
        ] {
            assert_eq!(destination(url), Ok(want), "{url}");
            assert!(!is_production_url(url), "{url}");
        }
    }

    #[test]
    fn what_is_not_an_http_url_is_an_error_and_counts_as_production() {
        for url in ["www.zohoapis.com", "ftp://www.zohoapis.com", "", "https://"] {
            assert!(destination(url).is_err(), "{url}");
            assert!(is_production_url(url), "{url}");
        }
    }
}
