//! What the metadata cache holds and when: the kinds of metadata, their TTLs, which GETs are
//! cacheable, which writes invalidate what, and the cache key. Pure; the store is
//! `creditops_store::cache`.

use serde::{Deserialize, Serialize};

/// What kind of metadata a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Modules,
    Fields,
    Layouts,
    RelatedLists,
    Org,
    CurrentUser,
    Apis,
    /// Record reads, only for modules the user opted in.
    Records,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Modules => "modules",
            Kind::Fields => "fields",
            Kind::Layouts => "layouts",
            Kind::RelatedLists => "related_lists",
            Kind::Org => "org",
            Kind::CurrentUser => "current_user",
            Kind::Apis => "apis",
            Kind::Records => "records",
        }
    }
}

/// Time to live per kind, in seconds (config `[cache.ttl]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ttls {
    pub modules: u64,
    pub fields: u64,
    pub layouts: u64,
    pub related_lists: u64,
    pub org: u64,
    pub current_user: u64,
    pub apis: u64,
    pub records: u64,
}

impl Default for Ttls {
    fn default() -> Self {
        // Metadata changes rarely and Zoho's SDKs recheck hourly; the price list daily.
        Ttls {
            modules: 3600,
            fields: 3600,
            layouts: 3600,
            related_lists: 3600,
            org: 6 * 3600,
            current_user: 3600,
            apis: 24 * 3600,
            records: 60,
        }
    }
}

impl Ttls {
    pub fn of(&self, k: Kind) -> u64 {
        match k {
            Kind::Modules => self.modules,
            Kind::Fields => self.fields,
            Kind::Layouts => self.layouts,
            Kind::RelatedLists => self.related_lists,
            Kind::Org => self.org,
            Kind::CurrentUser => self.current_user,
            Kind::Apis => self.apis,
            Kind::Records => self.records,
        }
    }
}

/// Settings of the cache (config `[cache]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    pub enabled: bool,
    pub ttl: Ttls,
    /// Modules whose record reads (GET /crm/v8/{module}[/{id}]) may be cached too.
    pub record_modules: Vec<String>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            enabled: true,
            ttl: Ttls::default(),
            record_modules: Vec::new(),
        }
    }
}

/// What a GET is, for the cache: its kind and module, or None when it is not cacheable.
pub fn classify(
    method: &str,
    segs: &[&str],
    query: &[(String, String)],
    record_modules: &[String],
) -> Option<(Kind, Option<String>)> {
    if method != "GET" {
        return None;
    }
    let q = |k: &str| {
        query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    match segs {
        ["crm", "v8", "settings", "modules"] => Some((Kind::Modules, None)),
        ["crm", "v8", "settings", "modules", m] => Some((Kind::Modules, Some(m.to_string()))),
        ["crm", "v8", "settings", "fields"] => Some((Kind::Fields, q("module"))),
        ["crm", "v8", "settings", "layouts"] => Some((Kind::Layouts, q("module"))),
        ["crm", "v8", "settings", "related_lists"] => Some((Kind::RelatedLists, q("module"))),
        ["crm", "v8", "org"] => Some((Kind::Org, None)),
        ["crm", "v8", "users"] if q("type").as_deref() == Some("CurrentUser") => {
            Some((Kind::CurrentUser, None))
        }
        ["crm", "v8", "__apis"] => Some((Kind::Apis, None)),
        ["crm", "v8", m] | ["crm", "v8", m, _]
            if record_modules.iter().any(|r| r.eq_ignore_ascii_case(m)) =>
        {
            Some((Kind::Records, Some(m.to_string())))
        }
        _ => None,
    }
}

/// The module a metadata-changing call touches (`POST /settings/fields?module=Leads`), or None
/// for "all": such calls invalidate the module's cached metadata.
pub fn invalidation(
    method: &str,
    segs: &[&str],
    query: &[(String, String)],
) -> Option<Option<String>> {
    if method == "GET" {
        return None;
    }
    match segs {
        ["crm", "v8", "settings", ..] => Some(
            query
                .iter()
                .find(|(k, _)| k == "module")
                .map(|(_, v)| v.clone()),
        ),
        _ => None,
    }
}

/// The cache key: org, path, sorted query.
pub fn key(org: &str, path: &str, query: &[(String, String)]) -> String {
    let mut q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    q.sort();
    if q.is_empty() {
        format!("{org}{path}")
    } else {
        format!("{org}{path}?{}", q.join("&"))
    }
}
