//! The credit model: what calls cost, what an org may spend, how the window rolls, and what
//! add-on credits cost. Pure: no I/O but reading the user's override files.

pub mod editions;
pub mod table;
pub mod window;

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

pub use editions::{AddonSlab, Edition, EditionError, Editions, Limits};
pub use table::{Call, CostError, CostRow, CostRule, CostTable, Price, TableError};
pub use window::{Charge, RollingWindow, WINDOW_MS};

/// The cost table and the editions, with the user's overrides laid over the built-in data.
#[derive(Debug, Clone)]
pub struct CreditModel {
    pub table: CostTable,
    pub editions: Editions,
}

impl Default for CreditModel {
    fn default() -> Self {
        CreditModel {
            table: CostTable::builtin(),
            editions: Editions::builtin(),
        }
    }
}

impl CreditModel {
    /// The built-in model with `costs.toml` and `editions.toml` from the config folder, if there.
    pub fn load(user_costs: &Path, user_editions: &Path) -> anyhow::Result<Self> {
        let mut model = CreditModel::default();
        if let Some(text) = read_optional(user_costs)? {
            model.table = model
                .table
                .with_overrides(&text, &user_costs.display().to_string())?;
        }
        if let Some(text) = read_optional(user_editions)? {
            model.editions = model
                .editions
                .with_overrides(&text, &user_editions.display().to_string())?;
        }
        Ok(model)
    }

    pub fn price(&self, call: &Call<'_>) -> Result<Price, CostError> {
        self.table.price(call)
    }
}

fn read_optional(path: &Path) -> anyhow::Result<Option<String>> {
    match crate::input::read_settings(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.not_found() => Ok(None),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

#[derive(Debug, Deserialize)]
struct ApisAnswer {
    #[serde(rename = "__apis")]
    apis: Vec<ApiEntry>,
}

#[derive(Debug, Deserialize)]
struct ApiEntry {
    path: String,
    operation_types: Vec<ApiOperation>,
}

#[derive(Debug, Deserialize)]
struct ApiOperation {
    method: String,
    min_credits: u32,
    max_credits: u32,
}

/// What importing a `GET /crm/v8/__apis` answer changed.
#[derive(Debug, Clone, Default)]
pub struct ApisImport {
    /// Rows for the user's cost file, one per path and method.
    pub rows: Vec<CostRow>,
    /// Human lines: where Zoho's live list disagrees with the table.
    pub changes: Vec<String>,
}

/// Turns a saved `__apis` answer into cost rows. Each path and method gets a row of its own
/// whose answer is clamped to Zoho's min and max credits: a fixed price where min equals max,
/// otherwise the table's rule for that call (or flat min when the table had none).
pub fn import_apis(table: &CostTable, json: &str) -> anyhow::Result<ApisImport> {
    let answer: ApisAnswer = serde_json::from_str(json).map_err(|e| {
        anyhow::anyhow!(
            "line {}, column {}: not a GET /crm/v8/__apis answer: {e}",
            e.line(),
            e.column()
        )
    })?;
    let mut out = ApisImport::default();
    for api in &answer.apis {
        for op in &api.operation_types {
            let method = op.method.to_ascii_uppercase();
            let (min, max) = (
                op.min_credits.min(op.max_credits),
                op.max_credits.max(op.min_credits),
            );
            // What the table already says about this method and path: nothing to import.
            if table.bounds(&method, &api.path) == Some((min, max)) {
                continue;
            }
            let existing = table.find(&method, &api.path, &[]);
            let (name, rule) = match existing {
                Some(row) if min != max => (row.name.clone(), row.rule.clone()),
                Some(row) => (
                    row.name.clone(),
                    CostRule::Flat {
                        credits: min,
                        max_records: max_records(&row.rule),
                    },
                ),
                None => (
                    format!("{} {}", method.to_ascii_lowercase(), api.path),
                    CostRule::Flat {
                        credits: min,
                        max_records: None,
                    },
                ),
            };
            if let Some(row) = existing {
                let (old_min, old_max) = rule_bounds(&row.rule);
                if (old_min, old_max) != (min, max) {
                    out.changes.push(format!(
                        "{method} {}: table `{}` says {}..{}, __apis says {min}..{max}",
                        api.path, row.name, old_min, old_max
                    ));
                }
            } else {
                out.changes
                    .push(format!("{method} {}: new, {min}..{max} credits", api.path));
            }
            out.rows.push(CostRow {
                name,
                method: method.clone(),
                path: api.path.clone(),
                query_has: None,
                rule,
                sub_concurrency: existing.map(|r| r.sub_concurrency).unwrap_or_default(),
                concurrency_slots: existing.map_or(1, |r| r.concurrency_slots),
                failure_credits: existing.and_then(|r| r.failure_credits),
                min_credits: Some(min),
                max_credits: Some(max),
                source: "GET /crm/v8/__apis (imported)".into(),
            });
        }
    }
    Ok(out)
}

fn max_records(rule: &CostRule) -> Option<u32> {
    match rule {
        CostRule::Flat { max_records, .. } => *max_records,
        CostRule::PerRecords { max_records, .. } => Some(*max_records),
        _ => None,
    }
}

/// The fewest and most credits one call priced by `rule` can cost.
pub fn rule_bounds(rule: &CostRule) -> (u32, u32) {
    match rule {
        CostRule::Flat { credits, .. } | CostRule::Composite { credits, .. } => {
            (*credits, *credits)
        }
        CostRule::PerRecords { per, max_records } => (1, max_records.div_ceil((*per).max(1))),
        CostRule::Coql { tiers } => (
            tiers.first().map_or(1, |t| t[1]),
            tiers.last().map_or(1, |t| t[1]),
        ),
    }
}

/// Writes rows as a user cost file (TOML), merged over the rows it already has.
pub fn merge_user_rows(existing: Option<&str>, rows: &[CostRow]) -> anyhow::Result<String> {
    #[derive(serde::Serialize, Deserialize)]
    struct File {
        op: Vec<CostRow>,
    }
    let mut kept: Vec<CostRow> = match existing {
        Some(t) if !t.trim().is_empty() => toml::from_str::<File>(t)?.op,
        _ => Vec::new(),
    };
    kept.retain(|k| {
        !rows.iter().any(|r| {
            r.method.eq_ignore_ascii_case(&k.method)
                && r.path == k.path
                && r.query_has == k.query_has
        })
    });
    kept.extend(rows.iter().cloned());
    let body = toml::to_string_pretty(&File { op: kept })?;
    Ok(format!(
        "# creditops: the user's cost table rows; they win over the built-in table.\n\n{body}"
    ))
}

/// Parses a body for pricing: JSON when it parses, else none (a non-JSON body is priced by path).
pub fn body_json(bytes: &[u8]) -> Option<Value> {
    if bytes.is_empty() {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

#[cfg(test)]
mod tests;
