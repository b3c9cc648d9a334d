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

    /// True when `host` is one of Zoho's production API hosts (any data centre).
    pub fn is_production_host(host: &str) -> bool {
        Self::ALL
            .iter()
            .any(|dc| host.eq_ignore_ascii_case(dc.api_host()))
    }
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
