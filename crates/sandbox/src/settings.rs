//! The org's settings beyond modules and records: tags, custom views, layouts, profiles, roles,
//! territories, user groups, custom fields and modules, many-to-many links and mass-update jobs.
//!
//! One serialisable value, kept in the org (so a composite rollback and a
//! reset cover it) and saved whole by the store after every call that changes it: settings are
//! small, and one place that owns them is simpler than a table per kind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::schema::{self, FieldDef, FieldType, ModuleDef};
use creditops_core::zoho::time::zoho_time;
use creditops_core::zoho::ZohoError;

/// Zoho's tag colours (tags.json `color_code`).
pub const TAG_COLOURS: &[&str] = &[
    "#57B1FD", "#879BFC", "#658BA8", "#FD87BD", "#969696", "#F48435", "#1DB9B4", "#E7A826",
    "#63C57E", "#F17574", "#D297EE", "#A8C026", "#B88562",
];

/// Tags a module may hold (Zoho: 1,000 per module), tags on one record (10), records one bulk
/// tag call may name (500).
pub const MAX_TAGS_PER_MODULE: usize = 1000;
pub const MAX_TAGS_PER_RECORD: usize = 10;
pub const MAX_BULK_TAG_RECORDS: usize = 500;
/// Custom fields a module may gain here; keeps the interned names bounded.
pub const MAX_CUSTOM_FIELDS: usize = 200;
/// Custom modules an org may gain here.
pub const MAX_CUSTOM_MODULES: usize = 40;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tag {
    pub id: String,
    pub module: String,
    pub name: String,
    pub color_code: String,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// A custom view: criteria in the search syntax (`(Field:equals:value)`), an optional sort.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct View {
    pub id: String,
    pub module: String,
    pub name: String,
    pub system_name: String,
    /// `(field, comparator, value)`, all of which must hold.
    pub criteria: Vec<(String, String, String)>,
    pub sort_by: Option<String>,
    pub desc: bool,
    pub default: bool,
    pub system_defined: bool,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Layout {
    pub id: String,
    pub module: String,
    pub name: String,
    pub active: bool,
    pub custom: bool,
    pub profiles: Vec<String>,
    pub modified_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    pub id: String,
    pub name: String,
    pub description: String,
    pub custom: bool,
    pub default: bool,
    pub modified_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Named {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Roles: the role this one reports to; groups: member user ids.
    pub links: Vec<String>,
}

/// A field an org added: what `POST /settings/fields` created.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CustomField {
    pub module: String,
    pub id: String,
    pub api_name: String,
    pub label: String,
    pub data_type: String,
    pub length: u32,
    pub unique: bool,
    pub picklist: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CustomModule {
    pub id: String,
    pub api_name: String,
    pub singular: String,
    pub plural: String,
}

/// A many-to-many relation between two records (Products on a Deal, a Lead, …).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Link {
    pub module: String,
    pub id: String,
    pub related_list: String,
    pub related_id: String,
}

/// A finished mass update or mass convert, as its status call reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Job {
    pub id: String,
    pub module: String,
    pub kind: String,
    pub total: u64,
    pub updated: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    pub next_id: u64,
    pub tags: Vec<Tag>,
    pub views: Vec<View>,
    pub layouts: Vec<Layout>,
    pub profiles: Vec<Profile>,
    pub roles: Vec<Named>,
    pub territories: Vec<Named>,
    pub groups: Vec<Named>,
    pub custom_fields: Vec<CustomField>,
    pub custom_modules: Vec<CustomModule>,
    /// Module API name → (singular, plural) labels changed by `PUT /settings/modules`.
    pub labels: BTreeMap<String, (String, String)>,
    pub links: Vec<Link>,
    pub jobs: Vec<Job>,
}

const SETTINGS_ID_BASE: u64 = 5_725_767_000_010_000_000;
pub const ADMIN_PROFILE: &str = "5725767000000000060";
pub const STANDARD_PROFILE: &str = "5725767000000000061";
pub const CEO_ROLE: &str = "5725767000000000050";
pub const MANAGER_ROLE: &str = "5725767000000000051";

/// Many-to-many related lists: parent module → (related list, related module).
pub const LINKED_LISTS: &[(&str, &str, &str)] = &[
    ("Leads", "Products", "Products"),
    ("Contacts", "Products", "Products"),
    ("Accounts", "Products", "Products"),
    ("Deals", "Products", "Products"),
];

impl Settings {
    pub fn new_id(&mut self) -> String {
        self.next_id += 1;
        (SETTINGS_ID_BASE + self.next_id).to_string()
    }

    /// The demo org's settings: two profiles, two roles, three territories, a group, two
    /// layouts and a few views per module, and some tags.
    pub fn demo(modules: &[std::sync::Arc<ModuleDef>], users: &[String], now_ms: i64) -> Settings {
        let mut s = Settings::default();
        let t = now_ms - 86_400_000;
        s.profiles = vec![
            Profile {
                id: ADMIN_PROFILE.into(),
                name: "Administrator".into(),
                description: "This profile will have all the permissions.".into(),
                custom: false,
                default: false,
                modified_ms: t,
            },
            Profile {
                id: STANDARD_PROFILE.into(),
                name: "Standard".into(),
                description:
                    "This profile will have all the permissions except administrative privileges."
                        .into(),
                custom: false,
                default: true,
                modified_ms: t,
            },
        ];
        s.roles = vec![
            Named {
                id: CEO_ROLE.into(),
                name: "CEO".into(),
                description:
                    "Users with this role have access to the data owned by all other users.".into(),
                links: vec![],
            },
            Named {
                id: MANAGER_ROLE.into(),
                name: "Manager".into(),
                description: "Users belonging to this role cannot see data for admin users.".into(),
                links: vec![CEO_ROLE.into()],
            },
        ];
        for name in ["North America", "EMEA", "APAC"] {
            let id = s.new_id();
            s.territories.push(Named {
                id,
                name: name.into(),
                description: format!("Accounts and deals in {name}"),
                links: vec![],
            });
        }
        let id = s.new_id();
        s.groups.push(Named {
            id,
            name: "Sales Team".into(),
            description: "Everyone who sells".into(),
            links: users.iter().take(3).cloned().collect(),
        });
        for m in modules {
            for (name, custom) in [("Standard", false), ("Partner", true)] {
                let id = if custom {
                    s.new_id()
                } else {
                    (m.id + 100).to_string()
                };
                s.layouts.push(Layout {
                    id,
                    module: m.api_name.into(),
                    name: name.into(),
                    active: true,
                    custom,
                    profiles: if custom {
                        vec![STANDARD_PROFILE.into()]
                    } else {
                        vec![ADMIN_PROFILE.into(), STANDARD_PROFILE.into()]
                    },
                    modified_ms: t,
                });
            }
            let all = View {
                id: (m.id + 300).to_string(),
                module: m.api_name.into(),
                name: format!("All {}", m.api_name),
                system_name: "ALLVIEWS".into(),
                criteria: vec![],
                sort_by: None,
                desc: false,
                default: true,
                system_defined: true,
                fields: m.fields.iter().take(5).map(|f| f.api_name.into()).collect(),
            };
            s.views.push(all);
            let extra: &[(&str, &str, &str, &str)] = match m.api_name {
                "Leads" => &[
                    (
                        "Not Contacted Leads",
                        "Lead_Status",
                        "equals",
                        "Not Contacted",
                    ),
                    ("Web Leads", "Lead_Source", "equals", "Web Download"),
                ],
                "Deals" => &[("Closed Won Deals", "Stage", "equals", "Closed Won")],
                "Tasks" => &[("Open Tasks", "Status", "equals", "Not Started")],
                _ => &[],
            };
            for (i, (name, field, op, value)) in extra.iter().enumerate() {
                s.views.push(View {
                    id: (m.id + 301 + i as u64).to_string(),
                    module: m.api_name.into(),
                    name: (*name).into(),
                    system_name: String::new(),
                    criteria: vec![((*field).into(), (*op).into(), (*value).into())],
                    sort_by: Some(m.display_field.into()),
                    desc: false,
                    default: false,
                    system_defined: false,
                    fields: m.fields.iter().take(5).map(|f| f.api_name.into()).collect(),
                });
            }
        }
        for (module, names) in [
            ("Leads", &["Hot", "Follow-up", "Event 2026"][..]),
            ("Contacts", &["VIP", "Newsletter"][..]),
            ("Accounts", &["Key Account", "Renewal"][..]),
            ("Deals", &["Q4", "Expansion"][..]),
        ] {
            for (i, name) in names.iter().enumerate() {
                let id = s.new_id();
                s.tags.push(Tag {
                    id,
                    module: module.into(),
                    name: (*name).into(),
                    color_code: TAG_COLOURS[i * 3 % TAG_COLOURS.len()].into(),
                    created_ms: t,
                    modified_ms: t,
                });
            }
        }
        s
    }

    pub fn tag_json(&self, t: &Tag, by: &Value) -> Value {
        json!({"id": t.id, "name": t.name, "color_code": t.color_code,
               "created_time": zoho_time(t.created_ms), "modified_time": zoho_time(t.modified_ms),
               "created_by": by, "modified_by": by})
    }

    /// A record's `Tag` entry for a tag.
    pub fn tag_ref(t: &Tag) -> Value {
        json!({"id": t.id, "name": t.name, "color_code": t.color_code})
    }

    pub fn view_json(&self, v: &View, m: &ModuleDef, by: &Value, t: i64) -> Value {
        let field_ref = |api: &str| {
            let id = m
                .fields
                .iter()
                .position(|f| f.api_name == api)
                .map_or_else(|| (m.id + 999).to_string(), |i| schema::field_id(m, i));
            json!({"api_name": api, "id": id})
        };
        let criteria = match v.criteria.as_slice() {
            [] => Value::Null,
            [(f, op, val)] => json!({"comparator": op, "field": field_ref(f), "value": val}),
            many => json!({"group_operator": "and", "group": many.iter().map(|(f, op, val)|
                json!({"comparator": op, "field": field_ref(f), "value": val})).collect::<Vec<_>>()}),
        };
        let mut out = json!({
            "id": v.id, "name": v.name, "display_value": v.name, "system_name": v.system_name,
            "category": if v.system_defined { "public_views" } else { "created_by_me" },
            "created_time": zoho_time(t), "modified_time": zoho_time(t), "last_accessed_time": zoho_time(t),
            "created_by": by, "modified_by": by,
            "module": {"api_name": m.api_name, "id": m.id.to_string()},
            "default": v.default, "system_defined": v.system_defined, "locked": false,
            "favorite": null, "offline": false, "access_type": "public",
            "fields": v.fields.iter().map(|f| { let mut r = field_ref(f); r["_pin"] = json!(false); r }).collect::<Vec<_>>(),
            "sort_order": if v.desc { "desc" } else { "asc" },
        });
        out["module"] = json!({"name": m.api_name, "id": m.id.to_string(), "api_name": m.api_name});
        if !criteria.is_null() {
            out["criteria"] = criteria;
        }
        if let Some(f) = &v.sort_by {
            out["sort_by"] = field_ref(f);
        }
        out
    }

    /// A module's custom view by id.
    pub fn view(&self, module: &str, id: &str) -> Option<&View> {
        self.views.iter().find(|v| v.id == id && v.module == module)
    }

    /// The search-syntax criteria of a view (None: every record).
    pub fn view_criteria(v: &View) -> Option<String> {
        if v.criteria.is_empty() {
            return None;
        }
        let parts: Vec<String> = v
            .criteria
            .iter()
            .map(|(f, op, val)| format!("({f}:{op}:{val})"))
            .collect();
        Some(if parts.len() == 1 {
            parts.concat()
        } else {
            format!("({})", parts.join("and"))
        })
    }

    pub fn profile_json(&self, p: &Profile, by: &Value) -> Value {
        json!({"id": p.id, "name": p.name, "display_label": p.name, "description": p.description,
               "custom": p.custom, "default": p.default, "_delete": p.custom, "type": "normal_profile",
               "permission_type": if p.name == "Administrator" { "crm_admin" } else { "crm_user" },
               "created_time": zoho_time(p.modified_ms), "modified_time": zoho_time(p.modified_ms),
               "created_by": by, "modified_by": by, "category": false,
               "_default_view": {"name": "Organization", "id": "5725767000000000400", "type": "organization"}})
    }

    pub fn layout_json(&self, l: &Layout, m: &ModuleDef) -> Value {
        let fields: Vec<Value> = m
            .fields
            .iter()
            .enumerate()
            .map(|(i, d)| {
                json!({"id": schema::field_id(m, i), "api_name": d.api_name, "field_label": d.label,
                       "data_type": d.kind.data_type(), "required": d.mandatory, "sequence_number": i + 1})
            })
            .collect();
        let t = zoho_time(l.modified_ms);
        json!({
            "id": l.id, "name": l.name, "display_label": l.name, "api_name": l.name,
            "status": if l.active { "active" } else { "inactive" },
            "visible": l.active, "source": "crm", "generated_type": if l.custom { "custom" } else { "default" },
            "modified_time": t, "created_time": t,
            "profiles": l.profiles.iter().filter_map(|p| self.profiles.iter().find(|x| &x.id == p))
                .map(|p| json!({"id": p.id, "name": p.name, "default": !l.custom, "_default_view": {"name": "Organization", "id": "5725767000000000400", "type": "organization"}}))
                .collect::<Vec<_>>(),
            "sections": [{"display_label": format!("{} Information", m.singular), "sequence_number": 1,
                          "api_name": format!("{} Information", m.singular), "column_count": 2,
                          "fields": fields}],
        })
    }

    /// The field definitions the org's custom fields add to `module`.
    pub fn custom_defs(&self, module: &str) -> Result<Vec<FieldDef>, ZohoError> {
        self.custom_fields
            .iter()
            .filter(|f| f.module == module)
            .map(custom_def)
            .collect()
    }
}

/// The field type of a `data_type` the sandbox lets an org create.
pub fn field_type(data_type: &str) -> Option<FieldType> {
    Some(match data_type {
        "text" => FieldType::Text,
        "textarea" => FieldType::Textarea,
        "email" => FieldType::Email,
        "phone" => FieldType::Phone,
        "website" => FieldType::Website,
        "picklist" => FieldType::Picklist,
        "currency" => FieldType::Currency,
        "integer" => FieldType::Integer,
        "date" => FieldType::Date,
        "boolean" => FieldType::Boolean,
        _ => return None,
    })
}

fn custom_def(c: &CustomField) -> Result<FieldDef, ZohoError> {
    let kind = field_type(&c.data_type).unwrap_or(FieldType::Text);
    let mut d = FieldDef::custom(
        schema::intern(&c.api_name)?,
        schema::intern(&c.label)?,
        kind,
    );
    d.unique = c.unique;
    d.length = c.length;
    if kind == FieldType::Picklist {
        d.picklist = schema::intern_list(&c.picklist)?;
    }
    Ok(d)
}

/// A custom module's definition: an owner and a mandatory, displayed `Name`.
pub fn custom_module_def(c: &CustomModule) -> Result<ModuleDef, ZohoError> {
    let id = c.id.parse::<u64>().unwrap_or(0);
    Ok(ModuleDef::custom(
        schema::intern(&c.api_name)?,
        schema::intern(&c.singular)?,
        id,
    ))
}

/// An API name from a label, as Zoho derives it: words joined by `_`, other characters dropped.
pub fn api_name_of(label: &str) -> String {
    label
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}
