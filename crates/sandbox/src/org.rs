//! The sandbox org's state: records per module, validation as Zoho does it, and the record
//! operations (insert, update, upsert, delete, get, list, search, deleted, convert).
//!
//! Everything here is synchronous and pure over the state; the server wraps it in a mutex and
//! never holds the lock across an await.

use creditops_core::zoho::time::zoho_time;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use super::schema::{standard_modules, FieldDef, FieldType, ModuleDef};
use creditops_core::zoho::ZohoError;

pub type Record = Map<String, Value>;

/// A write that happened: notifications and persistence follow from these.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub module: String,
    pub id: String,
    pub operation: Operation,
    /// Field API names the write set (for `affected_fields`).
    pub fields: Vec<String>,
    /// The record after the write (None for a delete).
    pub record: Option<Record>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Insert,
    Update,
    Delete,
}

impl Operation {
    /// The word Zoho's notification payload uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }

    /// The event suffix channels subscribe with (`Leads.create`, `Leads.edit`, `Leads.delete`).
    pub fn event(self) -> &'static str {
        match self {
            Operation::Insert => "create",
            Operation::Update => "edit",
            Operation::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub full_name: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// Role and profile ids (the org's settings name them).
    pub role: String,
    pub profile: String,
    pub active: bool,
}

impl User {
    pub fn minified(&self) -> Value {
        json!({"id": self.id, "name": self.full_name, "email": self.email})
    }
}

/// A deleted record as `GET /{module}/deleted` lists it.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub id: String,
    pub display_name: String,
    pub deleted_ms: i64,
    pub created_by: Value,
    pub deleted_by: Value,
}

/// The org: schema, users and records.
#[derive(Debug, Clone)]
pub struct Org {
    pub modules: Vec<Arc<ModuleDef>>,
    pub users: Vec<User>,
    pub records: HashMap<String, BTreeMap<String, Record>>,
    pub deleted: HashMap<String, Vec<Deleted>>,
    /// Converted leads, kept apart from the Leads list as Zoho does.
    pub converted: BTreeMap<String, Record>,
    pub next_id: u64,
    pub org_id: String,
    pub company: String,
    pub edition: String,
    pub licences: u64,
    /// When the schema last changed (If-Modified-Since compares with it).
    pub schema_time_ms: i64,
    /// Whether changes carry a copy of the record (see [`Org::snapshot`]).
    pub keep_change_records: bool,
    /// Tags, views, layouts, profiles, roles, territories, custom fields and modules, links.
    pub settings: super::settings::Settings,
    /// Lower-cased values of the duplicate-check fields (system and unique ones) → record ids,
    /// so uniqueness and upsert lookups do not scan the module.
    index:
        HashMap<String, HashMap<&'static str, HashMap<String, std::collections::BTreeSet<String>>>>,
}

const ID_BASE: u64 = 5_725_767_000_000_000_000;

const FIRST: &[&str] = &[
    "Ava", "Liam", "Mia", "Noah", "Zoe", "Ethan", "Isla", "Omar", "Priya", "Kenji", "Lucia",
    "Mateo", "Chloe", "Arjun", "Freya", "Hugo", "Amara", "Felix", "Sofia", "Ravi",
];
const LAST: &[&str] = &[
    "Patel", "Nakamura", "Garcia", "Okafor", "Schmidt", "Rossi", "Kowalski", "Haddad", "Silva",
    "Jensen", "Dubois", "Murphy", "Kim", "Novak", "Ahmed", "Larsen", "Costa", "Fischer", "Moreau",
    "Yilmaz",
];
const COMPANIES: &[&str] = &[
    "Acme Logistics",
    "Blue Fjord",
    "Cedar Analytics",
    "Delta Foods",
    "Evergreen Labs",
    "Fusion Metals",
    "Granite Health",
    "Harbor Freight Co",
    "Iris Optics",
    "Juniper Retail",
    "Kestrel Air",
    "Lumen Energy",
    "Maple Finance",
    "Nimbus Cloud",
    "Orchid Travel",
    "Pioneer Tools",
    "Quartz Media",
    "Redwood Legal",
    "Summit Sports",
    "Tidal Robotics",
];

impl Org {
    /// A fresh demo org with users and reproducible sample records.
    pub fn demo(seed: u64, edition: &str, licences: u64, now_ms: i64) -> Org {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let n_users = licences.clamp(1, 12) as usize;
        let users = (0..n_users)
            .map(|i| {
                let first = FIRST[(i * 7 + seed as usize) % FIRST.len()];
                let last = LAST[(i * 3 + seed as usize) % LAST.len()];
                User {
                    id: (ID_BASE + 100 + i as u64).to_string(),
                    full_name: format!("{first} {last}"),
                    first_name: first.into(),
                    last_name: last.into(),
                    email: format!(
                        "{}.{}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase()
                    ),
                    role: if i == 0 {
                        super::settings::CEO_ROLE.into()
                    } else {
                        super::settings::MANAGER_ROLE.into()
                    },
                    profile: if i == 0 {
                        super::settings::ADMIN_PROFILE.into()
                    } else {
                        super::settings::STANDARD_PROFILE.into()
                    },
                    active: true,
                }
            })
            .collect();
        let mut org = Org {
            modules: standard_modules().into_iter().map(Arc::new).collect(),
            users,
            records: HashMap::new(),
            deleted: HashMap::new(),
            converted: BTreeMap::new(),
            next_id: 1_000_000,
            org_id: (ID_BASE + 1).to_string(),
            company: "Creditops Demo Org".into(),
            edition: edition.into(),
            licences,
            schema_time_ms: now_ms - 86_400_000,
            index: HashMap::new(),
            keep_change_records: false,
            settings: Default::default(),
        };
        for m in &org.modules {
            org.records.insert(m.api_name.to_string(), BTreeMap::new());
        }
        let owner = org.users[0].id.clone();
        let mut seedling =
            |module: &str,
             n: usize,
             make: &mut dyn FnMut(usize, &mut rand::rngs::SmallRng) -> Value| {
                let data: Vec<Value> = (0..n).map(|i| make(i, &mut rng)).collect();
                let _ = org.insert(module, &data, &owner, now_ms - 3_600_000);
            };
        seedling("Accounts", 20, &mut |i, r| {
            json!({"Account_Name": COMPANIES[i % COMPANIES.len()], "Phone": format!("+1 555 01{:02}", r.gen_range(0..100)),
                   "Industry": "Large Enterprise", "Annual_Revenue": r.gen_range(1..500) as f64 * 10_000.0,
                   "Billing_City": (["Austin", "Berlin", "Chennai", "Dublin", "Osaka"][i % 5])})
        });
        seedling("Leads", 60, &mut |i, r| {
            let first = FIRST[r.gen_range(0..FIRST.len())];
            let last = LAST[r.gen_range(0..LAST.len())];
            json!({"First_Name": first, "Last_Name": last, "Company": COMPANIES[r.gen_range(0..COMPANIES.len())],
                   "Email": format!("{}.{}{}@example.org", first.to_lowercase(), last.to_lowercase(), i),
                   "Lead_Source": (["Web Download", "Cold Call", "Trade Show", "Partner"][i % 4]),
                   "Lead_Status": (["Not Contacted", "Contacted", "Pre-Qualified"][i % 3]),
                   "No_of_Employees": r.gen_range(5..5000)})
        });
        seedling("Contacts", 30, &mut |i, r| {
            let first = FIRST[r.gen_range(0..FIRST.len())];
            let last = LAST[r.gen_range(0..LAST.len())];
            json!({"First_Name": first, "Last_Name": last,
                   "Email": format!("{}.{}{}@example.net", first.to_lowercase(), last.to_lowercase(), i),
                   "Title": (["CTO", "Buyer", "Head of Ops", "CFO"][i % 4])})
        });
        seedling("Products", 10, &mut |i, r| {
            json!({"Product_Name": format!("Widget {}", i + 1), "Product_Code": format!("WX-{:03}", i + 1),
                   "Unit_Price": r.gen_range(10..900) as f64, "Product_Active": true})
        });
        seedling("Deals", 15, &mut |i, r| {
            json!({"Deal_Name": format!("Deal {}", i + 1), "Stage": super::schema::DEAL_STAGES[i % 7],
                   "Amount": r.gen_range(1..100) as f64 * 1000.0, "Closing_Date": "2027-01-31"})
        });
        seedling(
            "Tasks",
            12,
            &mut |i, _| json!({"Subject": format!("Follow up #{}", i + 1), "Status": "Not Started", "Priority": "Normal"}),
        );
        let user_ids: Vec<String> = org.users.iter().map(|u| u.id.clone()).collect();
        org.settings = super::settings::Settings::demo(&org.modules, &user_ids, now_ms);
        org.seed_relations(now_ms);
        org
    }

    /// Gives the demo's records what related lists, tags and territories show: contacts and
    /// deals on accounts, products on deals, a tag or two, a territory per account.
    fn seed_relations(&mut self, now_ms: i64) {
        let ids = |org: &Org, module: &str| -> Vec<String> {
            org.records
                .get(module)
                .map(|r| r.keys().cloned().collect())
                .unwrap_or_default()
        };
        let accounts = ids(self, "Accounts");
        let contacts = ids(self, "Contacts");
        let products = ids(self, "Products");
        if accounts.is_empty() {
            return;
        }
        let owner = self.users[0].id.clone();
        for (module, ids, field) in [
            ("Contacts", contacts.clone(), "Account_Name"),
            ("Deals", ids(self, "Deals"), "Account_Name"),
        ] {
            let data: Vec<Value> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| json!({"id": id, field: {"id": accounts[i % accounts.len()]}}))
                .collect();
            let _ = self.update(module, &data, None, &owner, now_ms - 3_500_000);
        }
        let deals = ids(self, "Deals");
        if !contacts.is_empty() {
            let data: Vec<Value> = deals
                .iter()
                .enumerate()
                .map(|(i, id)| json!({"id": id, "Contact_Name": {"id": contacts[i % contacts.len()]}}))
                .collect();
            let _ = self.update("Deals", &data, None, &owner, now_ms - 3_500_000);
        }
        for (i, deal) in deals.iter().enumerate() {
            if let Some(p) = products.get(i % products.len().max(1)) {
                self.settings.links.push(super::settings::Link {
                    module: "Deals".into(),
                    id: deal.clone(),
                    related_list: "Products".into(),
                    related_id: p.clone(),
                });
            }
        }
        let tags: Vec<(String, Value)> = self
            .settings
            .tags
            .iter()
            .map(|t| (t.module.clone(), super::settings::Settings::tag_ref(t)))
            .collect();
        for (module, tag) in tags {
            let targets = ids(self, &module);
            if let Some(recs) = self.records.get_mut(&module) {
                for id in targets.iter().step_by(4).take(5) {
                    if let Some(r) = recs.get_mut(id) {
                        let list = r.entry("Tag").or_insert_with(|| json!([]));
                        if let Some(a) = list.as_array_mut() {
                            a.push(tag.clone());
                        }
                    }
                }
            }
        }
        let territories: Vec<Value> = self
            .settings
            .territories
            .iter()
            .map(|t| json!({"id": t.id, "name": t.name, "$auto_assigned": false}))
            .collect();
        if let Some(recs) = self.records.get_mut("Accounts") {
            for (i, r) in recs.values_mut().enumerate() {
                r.insert(
                    "Territories".into(),
                    json!([territories[i % territories.len()].clone()]),
                );
            }
        }
    }

    /// Rebuilds the modules from the standard ones plus the org's custom modules and fields
    /// (after a settings change, or a load), then the uniqueness index.
    pub fn apply_settings(&mut self) -> Result<(), ZohoError> {
        let mut modules: Vec<ModuleDef> = standard_modules();
        for c in &self.settings.custom_modules {
            modules.push(super::settings::custom_module_def(c)?);
        }
        let mut out = Vec::with_capacity(modules.len());
        for m in modules {
            let mut extra = self.settings.custom_defs(m.api_name)?;
            for (d, c) in extra.iter_mut().zip(
                self.settings
                    .custom_fields
                    .iter()
                    .filter(|c| c.module == m.api_name),
            ) {
                d.custom_id = c.id.parse().unwrap_or(0);
            }
            let m = if extra.is_empty() {
                m
            } else {
                m.with_fields(extra)
            };
            self.records.entry(m.api_name.to_string()).or_default();
            out.push(Arc::new(m));
        }
        self.modules = out;
        self.rebuild_index();
        Ok(())
    }

    pub fn module(&self, api_name: &str) -> Result<&Arc<ModuleDef>, ZohoError> {
        self.modules
            .iter()
            .find(|m| m.api_name.eq_ignore_ascii_case(api_name))
            .ok_or_else(|| ZohoError::invalid_module(api_name))
    }

    pub fn current_user(&self) -> &User {
        &self.users[0]
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub(crate) fn new_id(&mut self) -> String {
        self.next_id += 1;
        (ID_BASE + self.next_id).to_string()
    }

    pub(crate) fn user_min(&self, id: &str) -> Value {
        self.user(id).unwrap_or(self.current_user()).minified()
    }

    /// Expands the stored `{"id"}` of Created_By and Modified_By into Zoho's `{id, name, email}`.
    /// Records store the bare reference: two user objects per record were a third of a
    /// record's allocations and of the sandbox's memory growth under write load.
    pub fn expand_users(&self, rec: &mut Map<String, Value>) {
        for key in STORED_AS_REF {
            if let Some(v) = rec.get_mut(key) {
                if let Some(id) = v
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .and_then(|o| o.get("id"))
                    .and_then(Value::as_str)
                {
                    *v = self.user_min(id);
                }
            }
        }
    }

    pub(crate) fn user_ref(&self, id: &str) -> Value {
        let mut o = Map::new();
        o.insert(
            "id".into(),
            Value::from(self.user(id).unwrap_or(self.current_user()).id.as_str()),
        );
        Value::Object(o)
    }

    /// The record a lookup points at, as `{"id", "name"}`.
    fn lookup_target(&self, module: &str, id: &str) -> Option<Value> {
        let m = self.module(module).ok()?;
        let rec = self.records.get(m.api_name)?.get(id)?;
        let name = rec
            .get(m.display_field)
            .and_then(Value::as_str)
            .unwrap_or("");
        Some(json!({"id": id, "name": name}))
    }

    /// Checks and normalises one record's fields. `existing` is the record being updated.
    pub(crate) fn validate(
        &self,
        m: &ModuleDef,
        input: &Map<String, Value>,
        existing: Option<&Record>,
        index: usize,
        self_id: Option<&str>,
    ) -> Result<Map<String, Value>, ZohoError> {
        let path = |api: &str| format!("$.data[{index}].{api}");
        // Paths are built only when a record fails: the happy path allocates none.
        let mut out = Map::new();
        for (key, value) in input {
            let Some(def) = m.field(key) else { continue };
            if value.is_null() {
                if def.mandatory {
                    return Err(mandatory_missing(def.api_name, &path(def.api_name)));
                }
                out.insert(key.clone(), Value::Null);
                continue;
            }
            let v = self.check_value(def, value, index)?;
            out.insert(key.clone(), v);
        }
        for def in m.fields.iter().filter(|d| d.mandatory) {
            let given = out.get(def.api_name);
            let present = match given {
                Some(v) => !is_blank(v),
                None => existing.is_some_and(|e| e.get(def.api_name).is_some_and(|v| !is_blank(v))),
            };
            if !present {
                return Err(mandatory_missing(def.api_name, &path(def.api_name)));
            }
        }
        for def in m.fields.iter().filter(|d| d.unique) {
            let Some(v) = out.get(def.api_name).and_then(Value::as_str) else {
                continue;
            };
            if let Some(dup) = self.find_by_field(m.api_name, def.api_name, v) {
                if Some(dup.as_str()) != self_id {
                    return Err(ZohoError::new(
                        "DUPLICATE_DATA",
                        "duplicate data",
                        json!({"api_name": def.api_name, "json_path": path(def.api_name),
                               "duplicate_record": {"id": dup, "module": {"api_name": m.api_name, "id": m.id.to_string()}}}),
                    ));
                }
            }
        }
        Ok(out)
    }

    fn check_value(&self, def: &FieldDef, value: &Value, index: usize) -> Result<Value, ZohoError> {
        let path = || format!("$.data[{index}].{}", def.api_name);
        let invalid = |expected: &str| {
            ZohoError::invalid_data(
                "invalid data",
                json!({"expected_data_type": expected, "api_name": def.api_name, "json_path": path()}),
            )
        };
        match def.kind {
            FieldType::Text | FieldType::Textarea | FieldType::Phone | FieldType::Website => {
                let s = value
                    .as_str()
                    .ok_or_else(|| invalid(def.kind.data_type()))?;
                let max = if def.kind == FieldType::Textarea {
                    32_000
                } else {
                    def.length as usize
                };
                if s.chars().count() > max {
                    return Err(ZohoError::invalid_data(
                        "invalid data",
                        json!({"api_name": def.api_name, "json_path": path(), "maximum_length": max}),
                    ));
                }
                Ok(value.clone())
            }
            FieldType::Email => {
                let s = value.as_str().ok_or_else(|| invalid("email"))?;
                if !is_email(s) {
                    return Err(invalid("email"));
                }
                Ok(value.clone())
            }
            FieldType::Picklist => {
                let s = value.as_str().ok_or_else(|| invalid("picklist"))?;
                if def.restricted && !def.picklist.contains(&s) {
                    return Err(invalid("picklist"));
                }
                Ok(value.clone())
            }
            FieldType::Currency => value
                .as_f64()
                .map(|f| json!(f))
                .ok_or_else(|| invalid("double")),
            FieldType::Integer => value
                .as_i64()
                .map(|i| json!(i))
                .ok_or_else(|| invalid("integer")),
            FieldType::Boolean => value
                .as_bool()
                .map(Value::Bool)
                .ok_or_else(|| invalid("boolean")),
            FieldType::Date => {
                let s = value.as_str().ok_or_else(|| invalid("date"))?;
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| invalid("date"))?;
                Ok(value.clone())
            }
            FieldType::Lookup => {
                let id = lookup_id(value).ok_or_else(|| invalid("jsonobject"))?;
                let target = def.lookup.unwrap_or("");
                self.lookup_target(target, &id).ok_or_else(|| {
                    ZohoError::invalid_data(
                        "the id given seems to be invalid",
                        json!({"api_name": def.api_name, "json_path": path()}),
                    )
                })
            }
            FieldType::Owner => {
                let id = lookup_id(value).ok_or_else(|| invalid("jsonobject"))?;
                self.user(&id).map(User::minified).ok_or_else(|| {
                    ZohoError::invalid_data(
                        "the id given seems to be invalid",
                        json!({"api_name": def.api_name, "json_path": path()}),
                    )
                })
            }
        }
    }

    /// The id of the record whose `field` equals `value` (case-insensitively), if any.
    pub fn find_by_field(&self, module: &str, field: &str, value: &str) -> Option<String> {
        if let Some(ix) = self.index.get(module).and_then(|m| m.get(field)) {
            return ix
                .get(&value.to_lowercase())
                .and_then(|ids| ids.iter().next().cloned());
        }
        let recs = self.records.get(module)?;
        recs.iter()
            .find(|(_, r)| {
                r.get(field)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(value))
            })
            .map(|(id, _)| id.clone())
    }

    /// Moves a record's indexed values from `old` to `new` (either may be absent).
    pub(crate) fn reindex(
        &mut self,
        module: &str,
        id: &str,
        old: Option<&Record>,
        new: Option<&Record>,
    ) {
        let Ok(m) = self.module(module).cloned() else {
            return;
        };
        for &field in m.default_duplicate_check() {
            let value = |r: Option<&Record>| {
                r.and_then(|r| r.get(field))
                    .and_then(Value::as_str)
                    .map(str::to_lowercase)
            };
            let (before, after) = (value(old), value(new));
            if before == after {
                continue;
            }
            if !self.index.contains_key(module) {
                self.index.insert(module.to_string(), HashMap::new());
            }
            let Some(by_field) = self.index.get_mut(module) else {
                continue;
            };
            let ix = by_field.entry(field).or_default();
            if let Some(b) = before {
                if let Some(ids) = ix.get_mut(&b) {
                    ids.remove(id);
                    if ids.is_empty() {
                        ix.remove(&b);
                    }
                }
            }
            if let Some(a) = after {
                ix.entry(a).or_default().insert(id.to_string());
            }
        }
    }

    /// Rebuilds the duplicate-check index from the records (after loading from a store).
    pub fn rebuild_index(&mut self) {
        self.index.clear();
        let all: Vec<(String, String, Record)> = self
            .records
            .iter()
            .flat_map(|(m, recs)| {
                recs.iter()
                    .map(move |(id, r)| (m.clone(), id.clone(), r.clone()))
            })
            .collect();
        for (m, id, r) in all {
            self.reindex(&m, &id, None, Some(&r));
        }
    }

    pub(crate) fn stamp_new(
        &mut self,
        m: &ModuleDef,
        mut fields: Map<String, Value>,
        user: &str,
        now_ms: i64,
    ) -> (String, Record) {
        let id = self.new_id();
        let u = self.user_ref(user);
        let t = zoho_time(now_ms);
        let mut rec = Record::new();
        rec.insert("id".into(), json!(id));
        if !fields.contains_key("Owner") {
            fields.insert("Owner".into(), self.user_min(user));
        }
        rec.extend(fields);
        rec.insert("Created_Time".into(), json!(t));
        rec.insert("Modified_Time".into(), json!(t));
        rec.insert("Created_By".into(), u.clone());
        rec.insert("Modified_By".into(), u);
        self.reindex(m.api_name, &id, None, Some(&rec));
        let mut stamp = stamp_of(&rec);
        self.expand_users(&mut stamp);
        self.records
            .entry(m.api_name.to_string())
            .or_default()
            .insert(id.clone(), rec);
        (id, stamp)
    }

    /// A change to announce and persist, with the record's copy when someone reads it.
    pub(crate) fn change(
        &self,
        module: &str,
        id: String,
        operation: Operation,
        fields: Vec<String>,
    ) -> Change {
        let record = self.snapshot(module, &id);
        Change {
            module: module.into(),
            id,
            operation,
            fields,
            record,
        }
    }

    /// A copy of a record for the change log, only when someone downstream reads it (a store,
    /// or a channel that asked for affected values): copying every write costs throughput.
    pub(crate) fn snapshot(&self, module: &str, id: &str) -> Option<Record> {
        if !self.keep_change_records {
            return None;
        }
        let mut rec = self.records.get(module).and_then(|r| r.get(id)).cloned()?;
        self.expand_users(&mut rec);
        Some(rec)
    }

    /// A record's success entry; `stamp` is [`stamp_of`] the record, moved in whole.
    pub(crate) fn success(
        &self,
        action: &str,
        stamp: Record,
        duplicate_field: Option<&str>,
    ) -> Value {
        let mut v = Map::new();
        v.insert("code".into(), Value::from("SUCCESS"));
        v.insert("details".into(), Value::Object(stamp));
        let message = if action == "insert" {
            "record added"
        } else {
            "record updated"
        };
        v.insert("message".into(), Value::from(message));
        v.insert("status".into(), Value::from("success"));
        if let Some(d) = duplicate_field {
            v.insert("duplicate_field".into(), Value::from(d));
            v.insert("action".into(), Value::from(action));
        }
        Value::Object(v)
    }

    /// `POST /{module}`: each record succeeds or fails alone.
    pub fn insert(
        &mut self,
        module: &str,
        data: &[Value],
        user: &str,
        now_ms: i64,
    ) -> Result<(Vec<Value>, Vec<Change>), ZohoError> {
        let m = self.module(module)?.clone();
        let mut results = Vec::with_capacity(data.len());
        let mut changes = Vec::new();
        for (i, item) in data.iter().enumerate() {
            let Some(obj) = item.as_object() else {
                results.push(not_an_object(i).to_json());
                continue;
            };
            match self.validate(&m, obj, None, i, None) {
                Ok(fields) => {
                    let names = fields.keys().cloned().collect();
                    let (id, rec) = self.stamp_new(&m, fields, user, now_ms);
                    results.push(self.success("insert", rec, None));
                    changes.push(self.change(m.api_name, id, Operation::Insert, names));
                }
                Err(e) => results.push(e.to_json()),
            }
        }
        Ok((results, changes))
    }

    fn apply_update(
        &mut self,
        m: &ModuleDef,
        id: &str,
        obj: &Map<String, Value>,
        i: usize,
        user: &str,
        now_ms: i64,
    ) -> Result<(Record, Vec<String>), ZohoError> {
        let existing = self
            .records
            .get(m.api_name)
            .and_then(|r| r.get(id))
            .ok_or_else(|| {
                ZohoError::invalid_data(
                    "the id given seems to be invalid",
                    json!({"api_name": "id", "json_path": format!("$.data[{i}].id")}),
                )
            })?;
        let fields = self.validate(m, obj, Some(existing), i, Some(id))?;
        // Only the indexed values of the old record are needed afterwards.
        let mut before = Record::new();
        for f in m.default_duplicate_check() {
            if let Some(v) = existing.get(*f) {
                before.insert((*f).to_string(), v.clone());
            }
        }
        let names: Vec<String> = fields.keys().cloned().collect();
        let u = self.user_ref(user);
        let rec = self
            .records
            .get_mut(m.api_name)
            .and_then(|r| r.get_mut(id))
            .ok_or_else(|| {
                ZohoError::invalid_data("the id given seems to be invalid", json!({}))
            })?;
        rec.extend(fields);
        rec.insert("Modified_Time".into(), json!(zoho_time(now_ms)));
        rec.insert("Modified_By".into(), u);
        let mut stamp = stamp_of(rec);
        let mut after = Record::new();
        for f in m.default_duplicate_check() {
            if let Some(v) = rec.get(*f) {
                after.insert((*f).to_string(), v.clone());
            }
        }
        self.reindex(m.api_name, id, Some(&before), Some(&after));
        self.expand_users(&mut stamp);
        Ok((stamp, names))
    }

    /// `PUT /{module}` (ids in the records) and `PUT /{module}/{id}`.
    pub fn update(
        &mut self,
        module: &str,
        data: &[Value],
        path_id: Option<&str>,
        user: &str,
        now_ms: i64,
    ) -> Result<(Vec<Value>, Vec<Change>), ZohoError> {
        let m = self.module(module)?.clone();
        let mut results = Vec::with_capacity(data.len());
        let mut changes = Vec::new();
        for (i, item) in data.iter().enumerate() {
            let Some(obj) = item.as_object() else {
                results.push(not_an_object(i).to_json());
                continue;
            };
            let id = path_id
                .map(str::to_string)
                .or_else(|| lookup_id(obj.get("id").unwrap_or(&Value::Null)));
            let Some(id) = id else {
                results.push(mandatory_missing("id", &format!("$.data[{i}].id")).to_json());
                continue;
            };
            match self.apply_update(&m, &id, obj, i, user, now_ms) {
                Ok((rec, names)) => {
                    results.push(self.success("update", rec, None));
                    changes.push(self.change(m.api_name, id, Operation::Update, names));
                }
                Err(e) => results.push(e.to_json()),
            }
        }
        Ok((results, changes))
    }

    /// `POST /{module}/upsert`: update the record the duplicate check finds, else insert.
    pub fn upsert(
        &mut self,
        module: &str,
        data: &[Value],
        check_fields: Option<&[String]>,
        user: &str,
        now_ms: i64,
    ) -> Result<(Vec<Value>, Vec<Change>), ZohoError> {
        let m = self.module(module)?.clone();
        let order: Vec<String> = match check_fields {
            Some(f) if !f.is_empty() => {
                for name in f {
                    if name != "id" && m.field(name).is_none() {
                        return Err(ZohoError::invalid_data(
                            "invalid data",
                            json!({"api_name": "duplicate_check_fields", "json_path": "$.duplicate_check_fields"}),
                        ));
                    }
                }
                f.to_vec()
            }
            _ => m
                .default_duplicate_check()
                .iter()
                .map(|f| f.to_string())
                .collect(),
        };
        let mut results = Vec::with_capacity(data.len());
        let mut changes = Vec::new();
        for (i, item) in data.iter().enumerate() {
            let Some(obj) = item.as_object() else {
                results.push(not_an_object(i).to_json());
                continue;
            };
            let found = order.iter().find_map(|f| {
                let v = obj.get(f)?;
                if f == "id" {
                    let id = lookup_id(v)?;
                    self.records
                        .get(m.api_name)?
                        .contains_key(&id)
                        .then(|| (f.clone(), id))
                } else {
                    let s = v.as_str()?;
                    self.find_by_field(m.api_name, f, s)
                        .map(|id| (f.clone(), id))
                }
            });
            match found {
                Some((field, id)) => match self.apply_update(&m, &id, obj, i, user, now_ms) {
                    Ok((rec, names)) => {
                        results.push(self.success("update", rec, Some(&field)));
                        changes.push(self.change(m.api_name, id, Operation::Update, names));
                    }
                    Err(e) => results.push(e.to_json()),
                },
                None => match self.validate(&m, obj, None, i, None) {
                    Ok(fields) => {
                        let names = fields.keys().cloned().collect();
                        let (id, rec) = self.stamp_new(&m, fields, user, now_ms);
                        results.push(self.success("insert", rec, Some(&order[0])));
                        changes.push(self.change(m.api_name, id, Operation::Insert, names));
                    }
                    Err(e) => results.push(e.to_json()),
                },
            }
        }
        Ok((results, changes))
    }

    /// `DELETE /{module}?ids=` and `DELETE /{module}/{id}`.
    pub fn delete(
        &mut self,
        module: &str,
        ids: &[String],
        user: &str,
        now_ms: i64,
    ) -> Result<(Vec<Value>, Vec<Change>), ZohoError> {
        let m = self.module(module)?.clone();
        let mut results = Vec::with_capacity(ids.len());
        let mut changes = Vec::new();
        let deleter = self.user_min(user);
        for id in ids {
            match self.records.get_mut(m.api_name).and_then(|r| r.remove(id)) {
                Some(rec) => {
                    self.reindex(m.api_name, id, Some(&rec), None);
                    let display = rec
                        .get(m.display_field)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let mut creator = Record::new();
                    creator.insert(
                        "Created_By".into(),
                        rec.get("Created_By").cloned().unwrap_or(Value::Null),
                    );
                    self.expand_users(&mut creator);
                    let created_by = creator.remove("Created_By").unwrap_or(Value::Null);
                    self.deleted
                        .entry(m.api_name.into())
                        .or_default()
                        .push(Deleted {
                            id: id.clone(),
                            display_name: display,
                            deleted_ms: now_ms,
                            created_by,
                            deleted_by: deleter.clone(),
                        });
                    results.push(json!({"code": "SUCCESS", "details": {"id": id}, "message": "record deleted", "status": "success"}));
                    changes.push(Change {
                        module: m.api_name.into(),
                        id: id.clone(),
                        operation: Operation::Delete,
                        fields: vec![],
                        record: None,
                    });
                }
                None => results.push(
                    ZohoError::invalid_data("the id given seems to be invalid", json!({"id": id}))
                        .to_json(),
                ),
            }
        }
        Ok((results, changes))
    }

    pub fn get(&self, module: &str, id: &str) -> Result<Option<&Record>, ZohoError> {
        let m = self.module(module)?;
        Ok(self.records.get(m.api_name).and_then(|r| r.get(id)))
    }

    /// `GET /{module}/deleted`: entries newest first.
    pub fn deleted_list(&self, module: &str) -> Result<Vec<Value>, ZohoError> {
        let m = self.module(module)?;
        let mut out: Vec<Value> = self
            .deleted
            .get(m.api_name)
            .map(|d| {
                d.iter()
                    .map(|x| json!({"deleted_by": x.deleted_by, "id": x.id, "display_name": x.display_name,
                                    "type": "recycle", "created_by": x.created_by, "deleted_time": zoho_time(x.deleted_ms)}))
                    .collect()
            })
            .unwrap_or_default();
        out.reverse();
        Ok(out)
    }

    /// `POST /Leads/{id}/actions/convert`.
    pub fn convert_lead(
        &mut self,
        id: &str,
        options: &Value,
        user: &str,
        now_ms: i64,
    ) -> Result<(Value, Vec<Change>), ZohoError> {
        if self.converted.contains_key(id) {
            return Err(ZohoError::new(
                "ID_ALREADY_CONVERTED",
                "id already converted",
                json!({"id": id, "resource_path_index": 1}),
            ));
        }
        let lead = self
            .records
            .get("Leads")
            .and_then(|r| r.get(id))
            .cloned()
            .ok_or_else(|| {
                ZohoError::invalid_data("the id given seems to be invalid", json!({"id": id}))
            })?;
        let mut changes = Vec::new();
        let accounts = self.module("Accounts")?.clone();
        let contacts = self.module("Contacts")?.clone();
        let deals = self.module("Deals")?.clone();
        let str_of = |k: &str| lead.get(k).and_then(Value::as_str).map(String::from);

        // Account: the one given, else one with the lead's company name, else a new one.
        let account_id = match options
            .get("Accounts")
            .and_then(|a| lookup_id(a.get("id").unwrap_or(a)))
        {
            Some(aid) => {
                self.lookup_target("Accounts", &aid).ok_or_else(|| {
                    ZohoError::invalid_data(
                        "the id given seems to be invalid",
                        json!({"api_name": "Accounts"}),
                    )
                })?;
                Some(aid)
            }
            None => match str_of("Company") {
                Some(company) if !company.is_empty() => {
                    match self.find_by_field("Accounts", "Account_Name", &company) {
                        Some(existing) => Some(existing),
                        None => {
                            let fields = self.validate(
                                &accounts,
                                json!({"Account_Name": company})
                                    .as_object()
                                    .unwrap_or(&Map::new()),
                                None,
                                0,
                                None,
                            )?;
                            let (aid, _) = self.stamp_new(&accounts, fields, user, now_ms);
                            changes.push(self.change(
                                "Accounts",
                                aid.clone(),
                                Operation::Insert,
                                vec!["Account_Name".into()],
                            ));
                            Some(aid)
                        }
                    }
                }
                _ => None,
            },
        };
        // Contact: the one given, else one with the lead's email, else a new one.
        let contact_id = match options
            .get("Contacts")
            .and_then(|c| lookup_id(c.get("id").unwrap_or(c)))
        {
            Some(cid) => cid,
            None => match str_of("Email").and_then(|e| self.find_by_field("Contacts", "Email", &e))
            {
                Some(existing) => existing,
                None => {
                    let mut c = Map::new();
                    for k in ["First_Name", "Last_Name", "Email", "Phone", "Lead_Source"] {
                        if let Some(v) = lead.get(k) {
                            c.insert(k.into(), v.clone());
                        }
                    }
                    if let Some(aid) = &account_id {
                        c.insert("Account_Name".into(), json!({"id": aid}));
                    }
                    let fields = self.validate(&contacts, &c, None, 0, None)?;
                    let names = fields.keys().cloned().collect();
                    let (cid, _) = self.stamp_new(&contacts, fields, user, now_ms);
                    changes.push(self.change("Contacts", cid.clone(), Operation::Insert, names));
                    cid
                }
            },
        };
        let mut deal = Value::Null;
        if let Some(d) = options.get("Deals").and_then(Value::as_object) {
            let mut d = d.clone();
            if let Some(aid) = &account_id {
                d.entry("Account_Name").or_insert(json!({"id": aid}));
            }
            d.entry("Contact_Name").or_insert(json!({"id": contact_id}));
            let fields = self.validate(&deals, &d, None, 0, None)?;
            let names = fields.keys().cloned().collect();
            let (did, _) = self.stamp_new(&deals, fields, user, now_ms);
            deal = self.lookup_target("Deals", &did).unwrap_or(Value::Null);
            changes.push(self.change("Deals", did, Operation::Insert, names));
        }
        if let Some(recs) = self.records.get_mut("Leads") {
            recs.remove(id);
        }
        self.reindex("Leads", id, Some(&lead), None);
        self.converted.insert(id.to_string(), lead);
        changes.push(Change {
            module: "Leads".into(),
            id: id.into(),
            operation: Operation::Delete,
            fields: vec![],
            record: None,
        });
        let name_of = |org: &Org, module: &str, rid: &str| {
            org.lookup_target(module, rid).unwrap_or(json!({"id": rid}))
        };
        // Zoho answers null for an account or deal the conversion did not make.
        let details = json!({
            "Contacts": name_of(self, "Contacts", &contact_id),
            "Accounts": account_id.as_ref().map(|a| name_of(self, "Accounts", a)),
            "Deals": deal,
        });
        Ok((
            json!({"code": "SUCCESS", "details": details, "message": "The record has been converted successfully", "status": "success"}),
            changes,
        ))
    }

    /// Total records across modules (for usage and tests).
    pub fn record_count(&self) -> usize {
        self.records.values().map(BTreeMap::len).sum()
    }
}

/// Fields stored as a bare `{"id"}` user reference (see [`Org::expand_users`]).
const STORED_AS_REF: [&str; 2] = ["Created_By", "Modified_By"];

/// The fields a write's success answer reports (id, created and modified time and user).
fn stamp_of(rec: &Record) -> Record {
    let mut out = Record::new();
    for k in [
        "id",
        "Created_Time",
        "Modified_Time",
        "Created_By",
        "Modified_By",
    ] {
        if let Some(v) = rec.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    out
}

/// A record id from `"123"`, `123` or `{"id": "123"}`.
pub fn lookup_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) => o.get("id").and_then(lookup_id),
        _ => None,
    }
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

fn mandatory_missing(api_name: &str, json_path: &str) -> ZohoError {
    ZohoError::new(
        "MANDATORY_NOT_FOUND",
        "required field not found",
        json!({"api_name": api_name, "json_path": json_path}),
    )
}

fn not_an_object(i: usize) -> ZohoError {
    ZohoError::invalid_data(
        "invalid data",
        json!({"expected_data_type": "jsonobject", "api_name": "data", "json_path": format!("$.data[{i}]")}),
    )
}
