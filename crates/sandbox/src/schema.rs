//! The demo org's modules and fields: what Zoho's standard modules look like, with mandatory
//! fields, lookups, picklists and unique fields, so validation behaves as Zoho's does.

use std::collections::HashSet;
use std::sync::Mutex;

use creditops_core::zoho::ZohoError;
use serde_json::{json, Value};

/// Names an org gives its custom fields and modules, kept for the process's life: the schema
/// borrows `'static` names (the standard ones are literals), and interning keeps each distinct
/// name once. Bounded: past [`MAX_INTERNED`] names a new one is refused as Zoho refuses a
/// field past its limit.
static INTERNED: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
static INTERNED_LISTS: Mutex<Vec<&'static [&'static str]>> = Mutex::new(Vec::new());
const MAX_INTERNED: usize = 20_000;

fn limit_reached() -> ZohoError {
    ZohoError::new(
        "LIMIT_EXCEEDED",
        "the sandbox holds no more custom names",
        json!({"limit": MAX_INTERNED}),
    )
}

/// A `'static` copy of a name, shared with every other use of the same name.
pub fn intern(s: &str) -> Result<&'static str, ZohoError> {
    let mut g = INTERNED.lock().unwrap_or_else(|p| p.into_inner());
    let set = g.get_or_insert_with(HashSet::new);
    if let Some(found) = set.get(s) {
        return Ok(found);
    }
    if set.len() >= MAX_INTERNED {
        return Err(limit_reached());
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(leaked);
    Ok(leaked)
}

/// A `'static` picklist (each distinct list kept once).
pub fn intern_list(values: &[String]) -> Result<&'static [&'static str], ZohoError> {
    let names = values
        .iter()
        .map(|v| intern(v))
        .collect::<Result<Vec<_>, _>>()?;
    let mut lists = INTERNED_LISTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = lists.iter().find(|l| **l == names.as_slice()) {
        return Ok(found);
    }
    if lists.len() >= MAX_INTERNED {
        return Err(limit_reached());
    }
    let leaked: &'static [&'static str] = Box::leak(names.into_boxed_slice());
    lists.push(leaked);
    Ok(leaked)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Textarea,
    Email,
    Phone,
    Website,
    Picklist,
    Lookup,
    Owner,
    Currency,
    Integer,
    Date,
    Boolean,
}

impl FieldType {
    pub fn data_type(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Textarea => "textarea",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Website => "website",
            FieldType::Picklist => "picklist",
            FieldType::Lookup => "lookup",
            FieldType::Owner => "ownerlookup",
            FieldType::Currency => "currency",
            FieldType::Integer => "integer",
            FieldType::Date => "date",
            FieldType::Boolean => "boolean",
        }
    }

    pub fn json_type(self) -> &'static str {
        match self {
            FieldType::Lookup | FieldType::Owner => "jsonobject",
            FieldType::Currency => "double",
            FieldType::Integer => "integer",
            FieldType::Boolean => "boolean",
            _ => "string",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FieldDef {
    pub api_name: &'static str,
    pub label: &'static str,
    pub kind: FieldType,
    pub mandatory: bool,
    pub unique: bool,
    pub length: u32,
    pub lookup: Option<&'static str>,
    pub picklist: &'static [&'static str],
    /// A restricted picklist refuses values outside its list.
    pub restricted: bool,
    /// Added by the org (`POST /settings/fields`), so it may be changed and deleted.
    pub custom: bool,
    /// A custom field's own id (standard fields derive theirs from their position).
    pub custom_id: u64,
}

impl FieldDef {
    pub fn custom(api_name: &'static str, label: &'static str, kind: FieldType) -> FieldDef {
        let mut d = f(api_name, label, kind);
        d.custom = true;
        d
    }
}

const fn f(api_name: &'static str, label: &'static str, kind: FieldType) -> FieldDef {
    FieldDef {
        api_name,
        label,
        kind,
        mandatory: false,
        unique: false,
        length: 255,
        lookup: None,
        picklist: &[],
        restricted: false,
        custom: false,
        custom_id: 0,
    }
}

const fn mandatory(mut d: FieldDef) -> FieldDef {
    d.mandatory = true;
    d
}

const fn unique(mut d: FieldDef) -> FieldDef {
    d.unique = true;
    d
}

const fn lookup(api_name: &'static str, label: &'static str, target: &'static str) -> FieldDef {
    let mut d = f(api_name, label, FieldType::Lookup);
    d.lookup = Some(target);
    d
}

const fn picklist(
    api_name: &'static str,
    label: &'static str,
    values: &'static [&'static str],
) -> FieldDef {
    let mut d = f(api_name, label, FieldType::Picklist);
    d.picklist = values;
    d
}

const fn restricted(mut d: FieldDef) -> FieldDef {
    d.restricted = true;
    d
}

#[derive(Debug, Clone)]
pub struct ModuleDef {
    pub api_name: &'static str,
    pub singular: &'static str,
    pub id: u64,
    /// The field Zoho's upsert checks first (the module's system-defined duplicate check).
    pub system_unique: &'static str,
    /// The field shown as a record's name (in lookups and deleted-record lists).
    pub display_field: &'static str,
    pub fields: Vec<FieldDef>,
    /// The duplicate check order for upsert (system field, then unique fields), computed once.
    pub duplicate_check: Vec<&'static str>,
    /// Created by the org (`POST /settings/modules`).
    pub custom: bool,
}

impl ModuleDef {
    pub fn field(&self, api_name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.api_name == api_name)
    }

    /// The duplicate check order for upsert: the system field, then user-defined unique fields.
    pub fn default_duplicate_check(&self) -> &[&'static str] {
        &self.duplicate_check
    }

    /// A custom module: an owner and a mandatory `Name` shown as the record's name.
    pub fn custom(api_name: &'static str, singular: &'static str, id: u64) -> ModuleDef {
        ModuleDef {
            api_name,
            singular,
            id,
            system_unique: "Name",
            display_field: "Name",
            fields: vec![
                f("Owner", "Owner", FieldType::Owner),
                mandatory(f("Name", "Name", FieldType::Text)),
                f("Email", "Email", FieldType::Email),
            ],
            duplicate_check: Vec::new(),
            custom: true,
        }
        .with_duplicate_check()
    }

    /// The module with the org's custom fields added after its own.
    pub fn with_fields(&self, extra: Vec<FieldDef>) -> ModuleDef {
        let mut m = self.clone();
        m.fields.extend(extra);
        m.with_duplicate_check()
    }

    fn with_duplicate_check(mut self) -> ModuleDef {
        let mut out = vec![self.system_unique];
        for f in &self.fields {
            if f.unique && f.api_name != self.system_unique {
                out.push(f.api_name);
            }
        }
        self.duplicate_check = out;
        self
    }
}

const LEAD_SOURCES: &[&str] = &[
    "Advertisement",
    "Cold Call",
    "Employee Referral",
    "External Referral",
    "Online Store",
    "Partner",
    "Public Relations",
    "Seminar Partner",
    "Trade Show",
    "Web Download",
    "Web Research",
    "Chat",
];
const LEAD_STATUSES: &[&str] = &[
    "Attempted to Contact",
    "Contact in Future",
    "Contacted",
    "Junk Lead",
    "Lost Lead",
    "Not Contacted",
    "Pre-Qualified",
    "Not Qualified",
];
const INDUSTRIES: &[&str] = &[
    "ASP",
    "Data/Telecom OEM",
    "ERP",
    "Government/Military",
    "Large Enterprise",
    "Management ISV",
    "MSP (Management Service Provider)",
    "Network Equipment Enterprise",
    "Non-management ISV",
    "Optical Networking",
    "Service Provider",
    "Small/Medium Enterprise",
    "Storage Equipment",
    "Storage Service Provider",
    "Systems Integrator",
    "Wireless Industry",
];
pub const DEAL_STAGES: &[&str] = &[
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
    "Closed Lost to Competition",
];
const TASK_STATUSES: &[&str] = &[
    "Not Started",
    "Deferred",
    "In Progress",
    "Completed",
    "Waiting for input",
];
const PRIORITIES: &[&str] = &["Highest", "High", "Normal", "Low", "Lowest"];
const CASE_STATUSES: &[&str] = &["New", "On Hold", "Escalated", "Closed"];

/// The standard modules of the demo org.
pub fn standard_modules() -> Vec<ModuleDef> {
    use FieldType::*;
    let modules = vec![
        ModuleDef {
            api_name: "Leads",
            singular: "Lead",
            id: 5_725_767_000_000_002_175,
            system_unique: "Email",
            display_field: "Last_Name",
            duplicate_check: Vec::new(),
            custom: false,
            fields: vec![
                f("Owner", "Lead Owner", Owner),
                f("First_Name", "First Name", Text),
                mandatory(f("Last_Name", "Last Name", Text)),
                f("Company", "Company", Text),
                unique(f("Email", "Email", Email)),
                f("Phone", "Phone", Phone),
                f("Website", "Website", Website),
                picklist("Lead_Source", "Lead Source", LEAD_SOURCES),
                picklist("Lead_Status", "Lead Status", LEAD_STATUSES),
                picklist("Industry", "Industry", INDUSTRIES),
                f("Annual_Revenue", "Annual Revenue", Currency),
                f("No_of_Employees", "No. of Employees", Integer),
                f("City", "City", Text),
                f("Description", "Description", Textarea),
                unique(f("External_Id", "External ID", Text)),
            ],
        },
        ModuleDef {
            api_name: "Contacts",
            singular: "Contact",
            id: 5_725_767_000_000_002_179,
            system_unique: "Email",
            display_field: "Last_Name",
            duplicate_check: Vec::new(),
            custom: false,
            fields: vec![
                f("Owner", "Contact Owner", Owner),
                f("First_Name", "First Name", Text),
                mandatory(f("Last_Name", "Last Name", Text)),
                unique(f("Email", "Email", Email)),
                f("Phone", "Phone", Phone),
                lookup("Account_Name", "Account Name", "Accounts"),
                f("Title", "Title", Text),
                picklist("Lead_Source", "Lead Source", LEAD_SOURCES),
                f("Mailing_City", "Mailing City", Text),
                f("Description", "Description", Textarea),
                unique(f("External_Id", "External ID", Text)),
            ],
        },
        ModuleDef {
            api_name: "Accounts",
            singular: "Account",
            id: 5_725_767_000_000_002_177,
            system_unique: "Account_Name",
            display_field: "Account_Name",
            duplicate_check: Vec::new(),
            custom: false,
            fields: vec![
                f("Owner", "Account Owner", Owner),
                unique(mandatory(f("Account_Name", "Account Name", Text))),
                f("Phone", "Phone", Phone),
                f("Website", "Website", Website),
                picklist("Industry", "Industry", INDUSTRIES),
                f("Annual_Revenue", "Annual Revenue", Currency),
                f("Employees", "Employees", Integer),
                f("Billing_City", "Billing City", Text),
                f("Description", "Description", Textarea),
                unique(f("External_Id", "External ID", Text)),
            ],
        },
        ModuleDef {
            api_name: "Deals",
            singular: "Deal",
            id: 5_725_767_000_000_002_181,
            system_unique: "Deal_Name",
            display_field: "Deal_Name",
            duplicate_check: Vec::new(),
            custom: false,
            fields: vec![
                f("Owner", "Deal Owner", Owner),
                mandatory(f("Deal_Name", "Deal Name", Text)),
                restricted(mandatory(picklist("Stage", "Stage", DEAL_STAGES))),
                f("Amount", "Amount", Currency),
                f("Closing_Date", "Closing Date", Date),
                lookup("Account_Name", "Account Name", "Accounts"),
                lookup("Contact_Name", "Contact Name", "Contacts"),
                picklist("Lead_Source", "Lead Source", LEAD_SOURCES),
                f("Description", "Description", Textarea),
            ],
        },
        ModuleDef {
            api_name: "Tasks",
            singular: "Task",
            id: 5_725_767_000_000_002_183,
            system_unique: "Subject",
            display_field: "Subject",
            duplicate_check: Vec::new(),
            custom: false,
            fields: vec![
                f("Owner", "Task Owner", Owner),
                mandatory(f("Subject", "Subject", Text)),
                f("Due_Date", "Due Date", Date),
                picklist("Status", "Status", TASK_STATUSES),
                picklist("Priority", "Priority", PRIORITIES),
                f("Description", "Description", Textarea),
            ],
        },
        ModuleDef {
            api_name: "Products",
            singular: "Product",
            id: 5_725_767_000_000_002_185,
            system_unique: "Product_Name",
            display_field: "Product_Name",
            duplicate_check: Vec::new(),
            custom: false,
            fields: vec![
                f("Owner", "Product Owner", Owner),
                mandatory(f("Product_Name", "Product Name", Text)),
                unique(f("Product_Code", "Product Code", Text)),
                f("Unit_Price", "Unit Price", Currency),
                f("Product_Active", "Product Active", Boolean),
                f("Description", "Description", Textarea),
            ],
        },
        ModuleDef {
            api_name: "Cases",
            singular: "Case",
            id: 5_725_767_000_000_002_187,
            system_unique: "Subject",
            display_field: "Subject",
            duplicate_check: Vec::new(),
            custom: false,
            fields: vec![
                f("Owner", "Case Owner", Owner),
                mandatory(f("Subject", "Subject", Text)),
                picklist("Status", "Status", CASE_STATUSES),
                picklist("Priority", "Priority", &["High", "Medium", "Low"]),
                f("Email", "Email", Email),
                lookup("Account_Name", "Account Name", "Accounts"),
                lookup("Related_To", "Related To", "Contacts"),
                f("Description", "Description", Textarea),
            ],
        },
    ];
    modules
        .into_iter()
        .map(ModuleDef::with_duplicate_check)
        .collect()
}

/// A standard module's id by API name, without building the module definitions.
fn module_id(api_name: &str) -> Option<u64> {
    Some(match api_name {
        "Leads" => 5_725_767_000_000_002_175,
        "Accounts" => 5_725_767_000_000_002_177,
        "Contacts" => 5_725_767_000_000_002_179,
        "Deals" => 5_725_767_000_000_002_181,
        "Tasks" => 5_725_767_000_000_002_183,
        "Products" => 5_725_767_000_000_002_185,
        "Cases" => 5_725_767_000_000_002_187,
        _ => return None,
    })
}

pub fn field_id(module: &ModuleDef, index: usize) -> String {
    match module.fields.get(index) {
        Some(f) if f.custom_id != 0 => f.custom_id.to_string(),
        _ => (module.id + 1_000 + index as u64).to_string(),
    }
}

/// How a module is shown: its labels (the org may rename them) and the profiles that see it.
pub struct ModuleView<'a> {
    pub singular: &'a str,
    pub plural: &'a str,
    pub profiles: &'a [Value],
}

/// `GET /crm/v8/settings/modules`: one module's entry; `single` adds what Zoho gives only for
/// one module (`$properties`, `per_page`, `related_list_properties`, its related lists).
pub fn module_json(
    m: &ModuleDef,
    view: &ModuleView,
    modified_time: &str,
    modified_by: &Value,
    single: bool,
) -> Value {
    let mut v = json!({
        "id": m.id.to_string(),
        "api_name": m.api_name,
        "module_name": view.plural,
        "singular_label": view.singular,
        "plural_label": view.plural,
        "api_supported": true,
        "creatable": true,
        "editable": true,
        "deletable": true,
        "viewable": true,
        "convertable": m.api_name == "Leads",
        "generated_type": if m.custom { "custom" } else { "default" },
        "visibility": 1,
        "visible": true,
        "status": "visible",
        "modified_time": modified_time,
        "modified_by": modified_by,
        "sequence_number": m.id % 100,
        "presence_sub_menu": true,
        "quick_create": true,
        "global_search_supported": true,
        "show_as_tab": true,
        "isBlueprintSupported": true,
        "profiles": view.profiles,
        "web_link": null,
        "filter_supported": true,
        "feeds_required": false,
        "scoring_supported": true,
        "arguments": [],
        "business_card_field_limit": 5,
        "display_field": {"api_name": m.display_field, "id": m.fields.iter().position(|f| f.api_name == m.display_field).map(|i| field_id(m, i))},
    });
    if single {
        v["$properties"] = json!([
            "$approval",
            "$currency_symbol",
            "$editable",
            "$review_process"
        ]);
        v["per_page"] = json!(200);
        v["related_list_properties"] = json!({
            "sort_by": {"api_name": m.display_field, "id": m.fields.iter().position(|f| f.api_name == m.display_field).map(|i| field_id(m, i))},
            "fields": m.fields.iter().take(4).map(|f| f.api_name).collect::<Vec<_>>(),
            "sort_order": "asc",
        });
        v["related_lists"] = related_lists_json(m)["related_lists"].clone();
    }
    v
}

/// `GET /crm/v8/settings/fields?module=X`: the module's fields, system fields included.
pub fn fields_json(m: &ModuleDef) -> Value {
    let mut out = Vec::new();
    for (i, d) in m.fields.iter().enumerate() {
        let mut v = json!({
            "id": field_id(m, i),
            "api_name": d.api_name,
            "field_label": d.label,
            "display_label": d.label,
            "data_type": d.kind.data_type(),
            "json_type": d.kind.json_type(),
            "system_mandatory": d.mandatory,
            "custom_field": d.custom,
            "read_only": false,
            "field_read_only": false,
            "visible": true,
            "length": d.length,
            "unique": if d.unique { json!({"casesensitive": "false"}) } else { json!({}) },
            "pick_list_values": d.picklist.iter().enumerate().map(|(j, p)| json!({
                "display_value": p, "actual_value": p, "sequence_number": j + 1,
                "id": (m.id + 5_000 + (i * 50 + j) as u64).to_string(), "type": "used", "colour_code": null
            })).collect::<Vec<_>>(),
            "lookup": match d.lookup {
                Some(t) => json!({"module": {"api_name": t, "id": module_id(t).map(|x| x.to_string())}, "display_label": d.label, "api_name": d.api_name}),
                None => json!({}),
            },
            "created_source": "default",
        });
        if d.kind == FieldType::Picklist {
            v["enable_colour_code"] = json!(false);
        }
        out.push(v);
    }
    for (j, (api, label, kind)) in [
        ("Created_By", "Created By", FieldType::Owner),
        ("Modified_By", "Modified By", FieldType::Owner),
        ("Created_Time", "Created Time", FieldType::Text),
        ("Modified_Time", "Modified Time", FieldType::Text),
    ]
    .into_iter()
    .enumerate()
    {
        let data_type = if api.ends_with("_Time") {
            "datetime"
        } else {
            kind.data_type()
        };
        out.push(json!({
            "id": field_id(m, 900 + j),
            "api_name": api,
            "field_label": label,
            "display_label": label,
            "data_type": data_type,
            "json_type": kind.json_type(),
            "system_mandatory": false,
            "custom_field": false,
            "read_only": true,
            "field_read_only": true,
            "visible": true,
            "length": 120,
            "unique": {},
            "pick_list_values": [],
            "lookup": {},
            "created_source": "default",
        }));
    }
    json!({ "fields": out })
}

/// `GET /crm/v8/settings/layouts?module=X`: one standard layout holding every field.
pub fn layouts_json(m: &ModuleDef, modified_time: &str) -> Value {
    let fields: Vec<Value> = m
        .fields
        .iter()
        .enumerate()
        .map(|(i, d)| {
            json!({"id": field_id(m, i), "api_name": d.api_name, "field_label": d.label,
                   "data_type": d.kind.data_type(), "required": d.mandatory, "sequence_number": i + 1})
        })
        .collect();
    json!({"layouts": [{
        "id": (m.id + 100).to_string(),
        "name": "Standard",
        "display_label": "Standard",
        "api_name": "Standard",
        "status": "active",
        "visible": true,
        "source": "crm",
        "modified_time": modified_time,
        "created_time": modified_time,
        "sections": [{"display_label": format!("{} Information", m.singular), "sequence_number": 1,
                      "api_name": format!("{} Information", m.singular), "column_count": 2,
                      "fields": fields}],
    }]})
}

/// How a related list finds its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Records of the related module whose lookup `field` names the parent.
    Lookup(&'static str),
    /// Many-to-many links kept in the org's settings.
    Linked,
}

#[derive(Debug, Clone, Copy)]
pub struct RelatedList {
    pub api_name: &'static str,
    pub module: &'static str,
    pub relation: Relation,
    pub id: u64,
}

/// A module's related lists (the metadata and the related-records calls read the same table).
pub fn related_lists(m: &ModuleDef) -> Vec<RelatedList> {
    use Relation::*;
    let lists: &[(&str, &str, Relation)] = match m.api_name {
        "Accounts" => &[
            ("Contacts", "Contacts", Lookup("Account_Name")),
            ("Deals", "Deals", Lookup("Account_Name")),
            ("Cases", "Cases", Lookup("Account_Name")),
            ("Products", "Products", Linked),
        ],
        "Contacts" => &[
            ("Deals", "Deals", Lookup("Contact_Name")),
            ("Cases", "Cases", Lookup("Related_To")),
            ("Products", "Products", Linked),
        ],
        "Leads" | "Deals" => &[("Products", "Products", Linked)],
        _ => &[],
    };
    lists
        .iter()
        .enumerate()
        .map(|(i, (api_name, module, relation))| RelatedList {
            api_name,
            module,
            relation: *relation,
            id: m.id + 200 + i as u64,
        })
        .collect()
}

/// One related list's metadata entry.
pub fn related_list_json(m: &ModuleDef, r: &RelatedList, index: usize) -> Value {
    json!({"id": r.id.to_string(), "api_name": r.api_name, "display_label": r.api_name,
           "sequence_number": (index + 1).to_string(),
           "module": {"api_name": r.module, "id": module_id(r.module).map_or(String::new(), |x| x.to_string())},
           "name": r.api_name,
           "type": "default", "href": format!("{}/{{id}}/{}", m.api_name, r.api_name), "visible": true,
           "status": "visible"})
}

/// `GET /crm/v8/settings/related_lists?module=X`.
pub fn related_lists_json(m: &ModuleDef) -> Value {
    let lists: Vec<Value> = related_lists(m)
        .iter()
        .enumerate()
        .map(|(i, r)| related_list_json(m, r, i))
        .collect();
    json!({ "related_lists": lists })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_ids_agree_with_the_definitions() {
        for m in standard_modules() {
            assert_eq!(module_id(m.api_name), Some(m.id), "{}", m.api_name);
        }
        assert_eq!(module_id("Notes"), None);
    }
}
