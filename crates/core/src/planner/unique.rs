//! Which fields an org keeps unique, by module. Writes that set the same unique value keep
//! their order (a batch could change which one wins), and a delete stays before a write that
//! may reuse the value it frees. The org's own list comes from its fields metadata (the
//! `unique` property: `{"casesensitive": …}` when set, `{}` when not), read by `plan --org`;
//! without it, Zoho's default duplicate checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Fields Zoho keeps unique by default (the system duplicate checks).
const DEFAULTS: &[(&str, &str)] = &[
    ("Leads", "Email"),
    ("Contacts", "Email"),
    ("Accounts", "Account_Name"),
    ("Products", "Product_Code"),
    ("Vendors", "Vendor_Name"),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UniqueFields {
    /// Where the list came from: "defaults", or the org it was read from.
    pub source: String,
    pub fields: BTreeMap<String, Vec<String>>,
}

impl Default for UniqueFields {
    fn default() -> Self {
        UniqueFields::defaults()
    }
}

impl UniqueFields {
    /// Zoho's default duplicate checks.
    pub fn defaults() -> UniqueFields {
        let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (m, f) in DEFAULTS {
            fields
                .entry((*m).to_string())
                .or_default()
                .push((*f).to_string());
        }
        UniqueFields {
            source: "defaults".into(),
            fields,
        }
    }

    /// An org's list: `modules` maps each module read to its unique fields (a module read
    /// with none maps to an empty list: the defaults do not come back for it). Modules not
    /// read keep the defaults.
    pub fn of_org(source: &str, modules: BTreeMap<String, Vec<String>>) -> UniqueFields {
        let mut u = UniqueFields::defaults();
        u.source = source.to_string();
        u.fields.extend(modules);
        u
    }

    /// The unique fields of a `GET /settings/fields?module=X` answer.
    pub fn from_fields_metadata(answer: &Value) -> Vec<String> {
        answer
            .get("fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|f| match f.get("unique") {
                Some(Value::Object(o)) => !o.is_empty(),
                Some(Value::Bool(b)) => *b,
                _ => false,
            })
            .filter_map(|f| f.get("api_name").and_then(Value::as_str).map(String::from))
            .collect()
    }

    pub fn of(&self, module: &str) -> &[String] {
        self.fields.get(module).map_or(&[], Vec::as_slice)
    }

    pub fn is_unique(&self, module: &str, field: &str) -> bool {
        self.of(module).iter().any(|f| f == field)
    }

    pub fn has_any(&self, module: &str) -> bool {
        !self.of(module).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_orgs_metadata_replaces_the_defaults_for_the_modules_read() {
        let answer = json!({"fields": [
            {"api_name": "Email", "unique": {"casesensitive": "false"}},
            {"api_name": "Partner_Code", "unique": {"casesensitive": "false"}},
            {"api_name": "City", "unique": {}},
            {"api_name": "Phone"},
        ]});
        assert_eq!(
            UniqueFields::from_fields_metadata(&answer),
            vec!["Email", "Partner_Code"]
        );
        let mut read = BTreeMap::new();
        read.insert(
            "Leads".to_string(),
            UniqueFields::from_fields_metadata(&answer),
        );
        read.insert("Vendors".to_string(), Vec::new());
        let u = UniqueFields::of_org("sandbox", read);
        assert!(u.is_unique("Leads", "Partner_Code"));
        assert!(!u.has_any("Vendors"), "the org has no unique Vendor_Name");
        assert!(
            u.is_unique("Accounts", "Account_Name"),
            "not read: the default"
        );
        assert!(UniqueFields::defaults().is_unique("Vendors", "Vendor_Name"));
    }
}
