//! Editions and their limits, and the price of add-on credits: data compiled in from
//! `editions.toml`, overridable by the user's own file.

use serde::{Deserialize, Serialize};

pub const BUILTIN_EDITIONS: &str = include_str!("editions.toml");

/// One Zoho CRM edition's credit budget and concurrency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edition {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub base: u64,
    pub per_licence: u64,
    /// The most credits a day, add-on included; None for unlimited.
    #[serde(default)]
    pub cap: Option<u64>,
    pub concurrency: u32,
    pub sub_concurrency: u32,
}

/// A slab of the add-on price list: the next `credits` add-on credits cost `usd_per_1000`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddonSlab {
    pub credits: u64,
    pub usd_per_1000: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditionsFile {
    #[serde(default)]
    edition: Vec<Edition>,
    #[serde(default)]
    addon_slab: Vec<AddonSlab>,
}

/// The editions and the add-on price list.
#[derive(Debug, Clone)]
pub struct Editions {
    editions: Vec<Edition>,
    slabs: Vec<AddonSlab>,
}

#[derive(Debug, thiserror::Error)]
pub enum EditionError {
    #[error("unknown edition `{given}`; known: {known}")]
    Unknown { given: String, known: String },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
}

/// What an org may spend: the answer to `creditops limits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub edition: String,
    pub users: u64,
    /// Credits per rolling 24 h, add-on included, capped.
    pub daily_limit: u64,
    /// Credits per rolling 24 h without the add-on (Zoho's 50% header threshold is on this).
    pub base_limit: u64,
    pub cap: Option<u64>,
    pub addon: u64,
    /// The part of the add-on that the cap lets through.
    pub addon_effective: u64,
    pub concurrency: u32,
    pub sub_concurrency: u32,
}

impl Editions {
    pub fn builtin() -> Self {
        Self::from_toml(BUILTIN_EDITIONS, "built-in editions.toml")
            .expect("the built-in editions parse (tested)")
    }

    pub fn from_toml(text: &str, file: &str) -> Result<Self, EditionError> {
        let f: EditionsFile = toml::from_str(text).map_err(|e| EditionError::Parse {
            file: file.into(),
            message: crate::toml_diag::describe_toml_error(text, &e),
        })?;
        Ok(Editions {
            editions: f.edition,
            slabs: f.addon_slab,
        })
    }

    /// Lays a user file over these: editions of the same name replace ours, new ones join;
    /// a non-empty slab list replaces the price list.
    pub fn with_overrides(mut self, text: &str, file: &str) -> Result<Self, EditionError> {
        let user = Self::from_toml(text, file)?;
        for e in user.editions {
            self.editions.retain(|b| b.name != e.name);
            self.editions.push(e);
        }
        if !user.slabs.is_empty() {
            self.slabs = user.slabs;
        }
        Ok(self)
    }

    pub fn all(&self) -> &[Edition] {
        &self.editions
    }

    pub fn slabs(&self) -> &[AddonSlab] {
        &self.slabs
    }

    /// Finds an edition by name or alias, case-insensitively.
    pub fn get(&self, name: &str) -> Result<&Edition, EditionError> {
        let want = name.trim().to_ascii_lowercase();
        self.editions
            .iter()
            .find(|e| e.name == want || e.aliases.contains(&want))
            .ok_or_else(|| EditionError::Unknown {
                given: name.into(),
                known: self
                    .editions
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The daily (rolling 24 h) credit limit of an org.
    pub fn daily_limit(
        &self,
        edition: &str,
        licences: u64,
        addon: u64,
    ) -> Result<u64, EditionError> {
        Ok(self.limits(edition, licences, addon)?.daily_limit)
    }

    /// Every limit of an org.
    pub fn limits(&self, edition: &str, licences: u64, addon: u64) -> Result<Limits, EditionError> {
        let e = self.get(edition)?;
        let uncapped = e
            .base
            .saturating_add(e.per_licence.saturating_mul(licences));
        let base_limit = e.cap.map_or(uncapped, |c| uncapped.min(c));
        let with_addon = base_limit.saturating_add(addon);
        let daily_limit = e.cap.map_or(with_addon, |c| with_addon.min(c));
        Ok(Limits {
            edition: e.name.clone(),
            users: licences,
            daily_limit,
            base_limit,
            cap: e.cap,
            addon,
            addon_effective: daily_limit - base_limit,
            concurrency: e.concurrency,
            sub_concurrency: e.sub_concurrency,
        })
    }

    /// What `addon_used` add-on credits consumed in one 24 h period cost, in micro-dollars
    /// (exact: every slab price is a whole number of micro-dollars per credit).
    pub fn addon_price_micros(&self, addon_used: u64) -> u64 {
        addon_price_micros(&self.slabs, addon_used)
    }

    /// The same in dollars.
    pub fn addon_price_usd(&self, addon_used: u64) -> f64 {
        self.addon_price_micros(addon_used) as f64 / 1_000_000.0
    }
}

/// Price of add-on credits by slab, in micro-dollars; past the last slab its price applies.
pub fn addon_price_micros(slabs: &[AddonSlab], addon_used: u64) -> u64 {
    let mut left = addon_used;
    let mut total: u64 = 0;
    let mut last_rate = 0u64;
    for slab in slabs {
        // usd per 1000 credits → micro-dollars per credit: × 1e6 / 1000.
        let rate = (slab.usd_per_1000 * 1000.0).round() as u64;
        last_rate = rate;
        let take = left.min(slab.credits);
        total += take * rate;
        left -= take;
        if left == 0 {
            return total;
        }
    }
    total + left * last_rate
}
