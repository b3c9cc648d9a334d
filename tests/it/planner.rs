//! The planner's promises, checked on real sandboxes: a plan leaves the same records as the
//! queue it came from, is charged exactly what it predicts, never more than the queue; on
//! single-record writes across modules it reaches its lower bound.

use crate::common;

use std::collections::BTreeMap;

use common::{loopback, Sb};
use creditops_core::credits::CostTable;
use creditops_core::planner::{self, Plan, QueuedCall, RuleSet};
use creditops_core::secret::Secret;
use creditops_net::send::{send, Report, SendOptions};
use creditops_sandbox::SandboxConfig;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// One queued call, in a form proptest can shrink.
#[derive(Debug, Clone)]
enum Op {
    InsertLead {
        name: u8,
        email: Option<u8>,
    },
    InsertContact {
        name: u8,
        email: Option<u8>,
        account: Option<u8>,
    },
    InsertAccount {
        name: u8,
    },
    InsertDeal {
        name: u8,
        valid_stage: bool,
    },
    UpdateLead {
        seeded: u8,
        city: u8,
        email: Option<u8>,
        in_body: bool,
    },
    UpdateCreatedLead {
        of: u8,
        city: u8,
    },
    /// A contact taking a seeded contact's email: a duplicate, unless that contact was deleted
    /// earlier in the queue (order around deletes matters).
    InsertContactTakingEmail {
        seeded: u8,
    },
    DeleteContact {
        seeded: u8,
    },
    GetLead {
        seeded: u8,
    },
    /// A tag added to (or removed from) a seeded lead: per-record calls the tags rule turns
    /// into bulk ones.
    TagLead {
        seeded: u8,
        tag: u8,
        remove: bool,
    },
    /// Many seeded leads (8 onwards) set to one city: calls a mass update carries.
    StampLeads {
        from: u8,
        count: u8,
        city: u8,
    },
    ListLeads,
    Fields,
    /// A capture of "create or update": the search found nothing, so the integration inserted.
    SearchThenInsert,
    /// The search found the lead (by its own email), so the integration updated it.
    SearchThenUpdate {
        seeded: u8,
        city: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), prop::option::of(0u8..12)).prop_map(|(name, email)| Op::InsertLead { name, email }),
        3 => (any::<u8>(), prop::option::of(0u8..12), prop::option::of(any::<u8>()))
            .prop_map(|(name, email, account)| Op::InsertContact { name, email, account }),
        2 => any::<u8>().prop_map(|name| Op::InsertAccount { name }),
        2 => (any::<u8>(), prop::bool::weighted(0.85)).prop_map(|(name, valid_stage)| Op::InsertDeal { name, valid_stage }),
        3 => (0u8..4, any::<u8>(), prop::option::of(0u8..12), any::<bool>())
            .prop_map(|(seeded, city, email, in_body)| Op::UpdateLead { seeded, city, email, in_body }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(of, city)| Op::UpdateCreatedLead { of, city }),
        2 => (0u8..6).prop_map(|seeded| Op::DeleteContact { seeded }),
        2 => (0u8..6).prop_map(|seeded| Op::InsertContactTakingEmail { seeded }),
        2 => (0u8..8).prop_map(|seeded| Op::GetLead { seeded }),
        3 => (0u8..8, 0u8..3, prop::bool::weighted(0.3))
            .prop_map(|(seeded, tag, remove)| Op::TagLead { seeded, tag, remove }),
        1 => (any::<u8>(), 10u8..45, 0u8..2).prop_map(|(from, count, city)| Op::StampLeads { from, count, city }),
        1 => Just(Op::ListLeads),
        1 => Just(Op::Fields),
        1 => Just(Op::SearchThenInsert),
        1 => (0u8..4, any::<u8>()).prop_map(|(seeded, city)| Op::SearchThenUpdate { seeded, city }),
    ]
}

/// Seeded records of a module with their emails.
fn seeded_emails(sb: &Sb, module: &str) -> Vec<(String, String)> {
    let org = sb.handle.state.org.lock().unwrap();
    org.records[module]
        .iter()
        .map(|(id, r)| {
            (
                id.clone(),
                r["Email"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn call(
    id: String,
    method: &'static str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
) -> QueuedCall {
    QueuedCall {
        id: id.into(),
        method: method
            .parse()
            .expect("tests name methods the planner knows"),
        path: path.into(),
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        headers: Default::default(),
        body: body.as_ref().map(creditops_core::planner::queue::Body::new),
    }
}

/// The queue the ops describe. Accounts created in the queue get unique names, so a contact
/// may name one by `@{call}`.
fn queue_of(
    ops: &[Op],
    lead_emails: &[(String, String)],
    contacts: &[(String, String)],
) -> Vec<QueuedCall> {
    let leads: Vec<String> = lead_emails.iter().map(|(id, _)| id.clone()).collect();
    let mut q = Vec::new();
    let mut accounts: Vec<String> = Vec::new();
    let mut created_leads: Vec<String> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let id = format!("c{i}");
        let email = |e: u8| format!("p{e}@pool.example");
        match op {
            Op::InsertLead { name, email: e } => {
                let mut r = json!({"Last_Name": format!("Lead {name}"), "Company": "Pool"});
                if let Some(e) = e {
                    r["Email"] = json!(email(*e));
                }
                q.push(call(
                    id.clone(),
                    "POST",
                    "/crm/v8/Leads",
                    &[],
                    Some(json!({"data": [r]})),
                ));
                if e.is_none() {
                    created_leads.push(id);
                }
            }
            Op::InsertContact {
                name,
                email: e,
                account,
            } => {
                let mut r = json!({"Last_Name": format!("Contact {name}")});
                if let Some(e) = e {
                    r["Email"] = json!(email(*e));
                }
                if let (Some(a), false) = (account, accounts.is_empty()) {
                    let acc = &accounts[*a as usize % accounts.len()];
                    r["Account_Name"] = json!({"id": format!("@{{{acc}}}")});
                }
                q.push(call(
                    id,
                    "POST",
                    "/crm/v8/Contacts",
                    &[],
                    Some(json!({"data": [r]})),
                ));
            }
            Op::InsertAccount { name } => {
                let r = json!({"Account_Name": format!("Account {i} {name}")});
                q.push(call(
                    id.clone(),
                    "POST",
                    "/crm/v8/Accounts",
                    &[],
                    Some(json!({"data": [r]})),
                ));
                accounts.push(id);
            }
            Op::InsertDeal { name, valid_stage } => {
                let stage = if *valid_stage {
                    "Qualification"
                } else {
                    "No Such Stage"
                };
                let r = json!({"Deal_Name": format!("Deal {name}"), "Stage": stage});
                q.push(call(
                    id,
                    "POST",
                    "/crm/v8/Deals",
                    &[],
                    Some(json!({"data": [r]})),
                ));
            }
            Op::UpdateLead {
                seeded,
                city,
                email: e,
                in_body,
            } => {
                let target = &leads[*seeded as usize % leads.len()];
                let mut r = json!({"City": format!("City {city}")});
                if let Some(e) = e {
                    r["Email"] = json!(email(*e));
                }
                if *in_body {
                    r["id"] = json!(target);
                    q.push(call(
                        id,
                        "PUT",
                        "/crm/v8/Leads",
                        &[],
                        Some(json!({"data": [r]})),
                    ));
                } else {
                    let path = format!("/crm/v8/Leads/{target}");
                    q.push(call(id, "PUT", &path, &[], Some(json!({"data": [r]}))));
                }
            }
            Op::UpdateCreatedLead { of, city } => {
                if created_leads.is_empty() {
                    continue;
                }
                let target = &created_leads[*of as usize % created_leads.len()];
                let path = format!("/crm/v8/Leads/@{{{target}}}");
                let r = json!({"City": format!("Moved {city}")});
                q.push(call(id, "PUT", &path, &[], Some(json!({"data": [r]}))));
            }
            Op::DeleteContact { seeded } => {
                let (target, _) = &contacts[*seeded as usize % contacts.len()];
                let path = format!("/crm/v8/Contacts/{target}");
                q.push(call(id, "DELETE", &path, &[], None));
            }
            Op::InsertContactTakingEmail { seeded } => {
                let (_, mail) = &contacts[*seeded as usize % contacts.len()];
                let r = json!({"Last_Name": format!("Taker {i}"), "Email": mail});
                q.push(call(
                    id,
                    "POST",
                    "/crm/v8/Contacts",
                    &[],
                    Some(json!({"data": [r]})),
                ));
            }
            Op::GetLead { seeded } => {
                let target = &leads[*seeded as usize % leads.len()];
                let path = format!("/crm/v8/Leads/{target}");
                q.push(call(
                    id,
                    "GET",
                    &path,
                    &[("fields", "Last_Name,Email,City")],
                    None,
                ));
            }
            Op::TagLead {
                seeded,
                tag,
                remove,
            } => {
                let target = &leads[*seeded as usize % leads.len()];
                let action = if *remove { "remove_tags" } else { "add_tags" };
                let path = format!("/crm/v8/Leads/{target}/actions/{action}");
                q.push(call(
                    id,
                    "POST",
                    &path,
                    &[],
                    Some(json!({"tags": [{"name": format!("t{tag}")}]})),
                ));
            }
            Op::StampLeads { from, count, city } => {
                for k in 0..usize::from(*count) {
                    let target = &leads[8 + (usize::from(*from) + k) % (leads.len() - 8)];
                    let path = format!("/crm/v8/Leads/{target}");
                    let r = json!({"City": format!("Stamped {city}")});
                    q.push(call(
                        format!("{id}.{k}"),
                        "PUT",
                        &path,
                        &[],
                        Some(json!({"data": [r]})),
                    ));
                }
            }
            Op::ListLeads => q.push(call(
                id,
                "GET",
                "/crm/v8/Leads",
                &[("fields", "Last_Name")],
                None,
            )),
            Op::Fields => q.push(call(
                id,
                "GET",
                "/crm/v8/settings/fields",
                &[("module", "Leads")],
                None,
            )),
            Op::SearchThenInsert => {
                let fresh = format!("fresh{i}@new.example");
                let criteria = format!("(Email:equals:{fresh})");
                q.push(call(
                    format!("{id}s"),
                    "GET",
                    "/crm/v8/Leads/search",
                    &[("criteria", &criteria)],
                    None,
                ));
                let r = json!({"Last_Name": format!("Searched {i}"), "Email": fresh});
                q.push(call(
                    id,
                    "POST",
                    "/crm/v8/Leads",
                    &[],
                    Some(json!({"data": [r]})),
                ));
            }
            Op::SearchThenUpdate { seeded, city } => {
                // Leads 4.. keep their seeded email: no other op changes it.
                let (target, mail) = &lead_emails[4 + *seeded as usize % (lead_emails.len() - 4)];
                let criteria = format!("(Email:equals:{mail})");
                q.push(call(
                    format!("{id}s"),
                    "GET",
                    "/crm/v8/Leads/search",
                    &[("criteria", &criteria)],
                    None,
                ));
                let r = json!({"City": format!("Found {city}"), "Email": mail});
                let path = format!("/crm/v8/Leads/{target}");
                q.push(call(id, "PUT", &path, &[], Some(json!({"data": [r]}))));
            }
        }
    }
    q
}

/// Every record of every module, without what differs by run (ids, times, users): lookups
/// compare by the name they show.
fn records(sb: &Sb) -> BTreeMap<String, Vec<String>> {
    let org = sb.handle.state.org.lock().unwrap();
    let mut out = BTreeMap::new();
    for (module, recs) in &org.records {
        let mut rows: Vec<String> = recs
            .values()
            .map(|r| {
                let kept: Map<String, Value> = r
                    .iter()
                    .filter(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            "id" | "Created_Time"
                                | "Modified_Time"
                                | "Created_By"
                                | "Modified_By"
                                | "Owner"
                        )
                    })
                    .map(|(k, v)| {
                        let v = match v {
                            Value::Object(o) => o.get("name").cloned().unwrap_or(Value::Null),
                            // Tags by name: their ids differ between sandboxes.
                            Value::Array(a) => Value::Array(
                                a.iter()
                                    .map(|x| x.get("name").cloned().unwrap_or_else(|| x.clone()))
                                    .collect(),
                            ),
                            v => v.clone(),
                        };
                        (k.clone(), v)
                    })
                    .collect();
                Value::Object(kept).to_string()
            })
            .collect();
        rows.sort();
        out.insert(module.clone(), rows);
    }
    out
}

async fn send_to(
    sb: &Sb,
    plan: &Plan,
    queue: &[QueuedCall],
    dir: &std::path::Path,
    name: &str,
) -> Report {
    let mut opts = SendOptions::new(
        &sb.base,
        Secret::new(sb.token.clone()),
        dir.join(format!("{name}.sqlite")),
    );
    opts.sandbox = true;
    opts.concurrency = 10;
    send(plan, queue, opts).await.expect("send runs")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, max_shrink_iters: 200, .. ProptestConfig::default() })]

    #[test]
    fn a_plan_leaves_the_same_records_and_costs_what_it_predicts(ops in prop::collection::vec(op(), 1..60)) {
        let rt = runtime();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let original_sb = Sb::start(SandboxConfig::default()).await;
            let planned_sb = Sb::start(SandboxConfig::default()).await;
            let leads = seeded_emails(&original_sb, "Leads");
            let contacts = seeded_emails(&original_sb, "Contacts");
            assert_eq!(leads, seeded_emails(&planned_sb, "Leads"), "same seed, same org");
            let queue = queue_of(&ops, &leads, &contacts);
            let table = CostTable::builtin();
            let as_queued = planner::as_queued(&queue, &table);
            let plan = planner::plan(&queue, &planner::Options { rules: RuleSet::all(), table: &table , unique: None,});

            // Every queued call is covered exactly once.
            let mut covered: Vec<&str> = plan.steps.iter().flat_map(|s| s.ids.iter().map(|i| &**i)).collect();
            covered.sort_unstable();
            let mut ids: Vec<&str> = queue.iter().map(|c| &*c.id).collect();
            ids.sort_unstable();
            assert_eq!(covered, ids);

            let original = send_to(&original_sb, &as_queued, &queue, dir.path(), "original").await;
            let planned = send_to(&planned_sb, &plan, &queue, dir.path(), "planned").await;
            assert_eq!(records(&original_sb), records(&planned_sb), "queue {queue:#?}\nplan {:#?}", plan.steps);
            assert_eq!(original.failed_records, planned.failed_records, "same outcome per record");
            assert_eq!(planned.charged_credits, plan.credits_after, "charged = predicted: {:#?}", planned.steps);
            assert_eq!(planned.sandbox_charged_credits, Some(planned.charged_credits), "ledger = sandbox");
            assert!(planned.charged_credits <= original.charged_credits,
                "plan {} > original {}", planned.charged_credits, original.charged_credits);
            assert!(plan.lower_bound <= plan.credits_after);
            original_sb.handle.shutdown().await;
            planned_sb.handle.shutdown().await;
        });
    }
}

/// Single-record writes across modules (inserts, updates of distinct records, deletes): the plan
/// reaches the lower bound.
#[test]
fn single_record_writes_across_modules_reach_the_lower_bound() {
    let table = CostTable::builtin();
    let modules = [
        "Leads", "Contacts", "Accounts", "Deals", "Tasks", "Products", "Cases",
    ];
    let mut rng_state = 7u64;
    let mut next = || {
        rng_state = rng_state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng_state >> 33) as usize
    };
    for n in [1usize, 2, 3, 7, 12, 23, 57, 140, 999] {
        let mut queue = Vec::new();
        for i in 0..n {
            let m = modules[next() % modules.len()];
            let (method, path, body) = match next() % 3 {
                0 => (
                    "POST",
                    format!("/crm/v8/{m}"),
                    Some(json!({"data": [{"Name": format!("r{i}")}]})),
                ),
                1 => (
                    "PUT",
                    format!("/crm/v8/{m}/{}", 1000 + i),
                    Some(json!({"data": [{"Description": "x"}]})),
                ),
                _ => ("DELETE", format!("/crm/v8/{m}/{}", 5000 + i), None),
            };
            queue.push(call(format!("w{i}"), method, &path, &[], body));
        }
        let plan = planner::plan(
            &queue,
            &planner::Options {
                rules: RuleSet::all(),
                table: &table,
                unique: None,
            },
        );
        assert_eq!(
            plan.credits_after, plan.lower_bound,
            "{n} writes: {:#?}",
            plan.steps
        );
        assert!(
            plan.credits_after < plan.credits_before || n == 1,
            "{n} writes saved nothing"
        );
        let covered: usize = plan.steps.iter().map(|s| s.ids.len()).sum();
        assert_eq!(covered, n);
    }
}

/// A queue that must keep its order: an update of a record created earlier, a read after a
/// write of the same record, a delete after a read.
#[test]
fn dependent_calls_stay_after_what_they_depend_on() {
    let table = CostTable::builtin();
    let q = vec![
        call(
            "a".into(),
            "POST",
            "/crm/v8/Leads",
            &[],
            Some(json!({"data": [{"Last_Name": "A"}]})),
        ),
        call(
            "b".into(),
            "PUT",
            "/crm/v8/Leads/@{a}",
            &[],
            Some(json!({"data": [{"City": "X"}]})),
        ),
        call(
            "c".into(),
            "GET",
            "/crm/v8/Leads/42",
            &[("fields", "City")],
            None,
        ),
        call(
            "d".into(),
            "PUT",
            "/crm/v8/Leads/42",
            &[],
            Some(json!({"data": [{"City": "Y"}]})),
        ),
        call(
            "e".into(),
            "GET",
            "/crm/v8/Leads/42",
            &[("fields", "City")],
            None,
        ),
        call(
            "f".into(),
            "POST",
            "/crm/v8/Leads",
            &[],
            Some(json!({"data": [{"Last_Name": "F"}]})),
        ),
    ];
    let plan = planner::plan(
        &q,
        &planner::Options {
            rules: RuleSet::all(),
            table: &table,
            unique: None,
        },
    );
    let level_of = |id: &str| {
        plan.steps
            .iter()
            .find(|s| s.ids.iter().any(|i| &**i == id))
            .map(|s| s.level)
            .unwrap()
    };
    assert!(
        level_of("b") > level_of("a"),
        "update after the insert it names"
    );
    assert!(
        level_of("d") > level_of("c"),
        "write after the read before it"
    );
    assert!(
        level_of("e") > level_of("d"),
        "read after the write before it"
    );
    // e is not a duplicate of c: a write came between.
    assert!(plan
        .steps
        .iter()
        .all(|s| s.rule != Some(creditops_core::planner::Rule::Dedupe)));
    assert_eq!(
        level_of("f"),
        level_of("a"),
        "independent inserts batch together"
    );
}

#[test]
fn rules_can_be_switched_off() {
    let table = CostTable::builtin();
    let q: Vec<QueuedCall> = (0..30)
        .map(|i| {
            call(
                format!("i{i}"),
                "POST",
                "/crm/v8/Leads",
                &[],
                Some(json!({"data": [{"Last_Name": format!("L{i}")}]})),
            )
        })
        .collect();
    let none = planner::plan(
        &q,
        &planner::Options {
            rules: RuleSet::none(),
            table: &table,
            unique: None,
        },
    );
    assert_eq!(none.credits_after, 30);
    assert_eq!(none.calls_after, 30);
    let batch = planner::plan(
        &q,
        &planner::Options {
            rules: RuleSet::parse("batch").unwrap(),
            table: &table,
            unique: None,
        },
    );
    assert_eq!(batch.credits_after, 3);
    assert_eq!(batch.calls_after, 1);
    assert_eq!(batch.savings_by_rule.get("batch"), Some(&27));
    assert!(RuleSet::parse("batch,nonsense").is_err());
}

/// Upserts enough for a Bulk Write job: one upsert job keyed on Email (`find_by`), sent with a
/// callback and charged what it predicted; seeded leads are updated, the rest created, as the
/// queued upserts do.
#[test]
fn a_large_upsert_set_becomes_a_bulk_upsert_job() {
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let original_sb = Sb::start(SandboxConfig::default()).await;
        let planned_sb = Sb::start(SandboxConfig::default()).await;
        let seeded = seeded_emails(&original_sb, "Leads");
        assert_eq!(seeded, seeded_emails(&planned_sb, "Leads"));
        let q: Vec<QueuedCall> = (0..60)
            .map(|i| {
                let data: Vec<Value> = (0..100)
                    .map(|k| {
                        // The first call updates the seeded leads; the rest create.
                        let email = match seeded.get(k).filter(|_| i == 0) {
                            Some((_, e)) if !e.is_empty() => e.clone(),
                            _ => format!("bulk{i}-{k}@upsert.example"),
                        };
                        json!({"Last_Name": format!("Upserted {i}-{k}"), "Company": "U", "Email": email})
                    })
                    .collect();
                call(
                    format!("u{i}"),
                    "POST",
                    "/crm/v8/Leads/upsert",
                    &[],
                    Some(json!({"data": data, "duplicate_check_fields": ["Email"]})),
                )
            })
            .collect();
        let table = CostTable::builtin();
        let plan = planner::plan(&q, &planner::Options { rules: RuleSet::all(), table: &table, unique: None });
        assert_eq!(plan.credits_before, 600);
        assert_eq!(plan.credits_after, 501, "one job (500) and its upload (1)");
        assert!(plan.ordered_lower_bound <= plan.credits_after);
        let planned = send_to(&planned_sb, &plan, &q, dir.path(), "planned").await;
        assert_eq!(planned.charged_credits, 501, "{:#?}", planned.steps);
        assert_eq!(planned.sandbox_charged_credits, Some(501));
        let original = send_to(&original_sb, &planner::as_queued(&q, &table), &q, dir.path(), "original").await;
        assert_eq!(original.charged_credits, 600);
        assert_eq!(records(&original_sb), records(&planned_sb));
        let leads = records(&planned_sb)["Leads"].len();
        assert!(leads >= 6000, "{leads} leads: the upserts created the new ones");
        // A seeded lead was found by its email and updated, not duplicated.
        let (id, email) = &seeded[0];
        assert!(!email.is_empty());
        let org = planned_sb.handle.state.org.lock().unwrap();
        let name = org.records["Leads"][id]["Last_Name"].as_str().unwrap_or_default().to_string();
        assert!(name.starts_with("Upserted 0-"), "{name}");
    });
}

/// A write set big enough for a Bulk Write job: planned as one, sent with a callback, and
/// charged what it predicted; the records are those the queue makes.
#[test]
fn a_large_insert_set_becomes_a_bulk_job() {
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let original_sb = Sb::start(SandboxConfig::default()).await;
        let planned_sb = Sb::start(SandboxConfig::default()).await;
        let q: Vec<QueuedCall> = (0..60)
            .map(|i| {
                let data: Vec<Value> = (0..100)
                    .map(|k| json!({"Last_Name": format!("Bulk {i}-{k}"), "Company": "B", "No_of_Employees": k}))
                    .collect();
                call(format!("b{i}"), "POST", "/crm/v8/Leads", &[], Some(json!({"data": data})))
            })
            .collect();
        let table = CostTable::builtin();
        let plan = planner::plan(&q, &planner::Options { rules: RuleSet::all(), table: &table , unique: None,});
        assert_eq!(plan.credits_before, 600);
        assert_eq!(plan.credits_after, 501, "one job (500) and its upload (1)");
        assert_eq!(plan.savings_by_rule.get("bulk"), Some(&99));
        let planned = send_to(&planned_sb, &plan, &q, dir.path(), "planned").await;
        assert_eq!(planned.charged_credits, 501, "{:#?}", planned.steps);
        assert_eq!(planned.sandbox_charged_credits, Some(501));
        let original = send_to(&original_sb, &planner::as_queued(&q, &table), &q, dir.path(), "original").await;
        assert_eq!(original.charged_credits, 600);
        assert_eq!(records(&original_sb), records(&planned_sb));
    });
    let _ = loopback();
}

/// Mass updates on a sandbox: the records end as the queue leaves them; a mass update that
/// leaves some records alone says how many (Zoho names none), and one refused as a whole
/// fails every record with Zoho's code. The refused one reads no job status, so it costs one
/// credit less than predicted, and the report says so.
#[test]
fn mass_updates_leave_the_same_records_and_tell_what_they_did_not_update() {
    let rt = runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let original_sb = Sb::start(SandboxConfig::default()).await;
        let planned_sb = Sb::start(SandboxConfig::default()).await;
        let leads: Vec<String> = seeded_emails(&original_sb, "Leads")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut queue = Vec::new();
        for (k, id) in leads[21..].iter().enumerate() {
            let body = json!({"data": [{"City": "Bergen"}]});
            queue.push(call(
                format!("city{k}"),
                "PUT",
                &format!("/crm/v8/Leads/{id}"),
                &[],
                Some(body),
            ));
        }
        // No such record: the mass update leaves it, as the update would have refused it.
        queue.push(call(
            "ghost".into(),
            "PUT",
            "/crm/v8/Leads",
            &[],
            Some(json!({"data": [{"id": "5725767000099999999", "City": "Bergen"}]})),
        ));
        // A value no record takes: the whole mass update is refused.
        for (k, id) in leads[..21].iter().enumerate() {
            let body = json!({"data": [{"No_of_Employees": "many"}]});
            queue.push(call(
                format!("bad{k}"),
                "PUT",
                &format!("/crm/v8/Leads/{id}"),
                &[],
                Some(body),
            ));
        }
        let table = CostTable::builtin();
        let as_queued = planner::as_queued(&queue, &table);
        let plan = planner::plan(
            &queue,
            &planner::Options {
                rules: RuleSet::all(),
                table: &table,
                unique: None,
            },
        );
        let mass: Vec<&planner::Step> = plan
            .steps
            .iter()
            .filter(|s| s.rule == Some(planner::Rule::MassUpdate))
            .collect();
        assert_eq!(mass.len(), 2, "{:#?}", plan.steps);
        assert_eq!(
            plan.credits_after, 4,
            "two mass updates and their status reads"
        );

        let original = send_to(&original_sb, &as_queued, &queue, dir.path(), "original").await;
        let planned = send_to(&planned_sb, &plan, &queue, dir.path(), "planned").await;
        assert_eq!(records(&original_sb), records(&planned_sb));
        assert_eq!(original.failed_records, 22, "{:#?}", original.steps);
        assert_eq!(
            planned.failed_records, original.failed_records,
            "{:#?}",
            planned.steps
        );
        let partial = planned
            .steps
            .iter()
            .find(|s| s.ids.iter().any(|i| i == "ghost"))
            .unwrap();
        assert_eq!(partial.failed_records, 1);
        assert_eq!(partial.failures.len(), 1);
        assert_eq!(partial.failures[0].code, "NOT_UPDATED");
        assert!(
            partial.failures[0]
                .message
                .contains("1 of 40 records not updated"),
            "{}",
            partial.failures[0].message
        );
        let refused = planned
            .steps
            .iter()
            .find(|s| s.ids.iter().any(|i| i == "bad0"))
            .unwrap();
        assert_eq!(refused.status, 400);
        assert_eq!(refused.failed_records, 21);
        assert_eq!(refused.failures.len(), 21);
        assert!(refused.failures.iter().all(|f| f.code == "INVALID_DATA"));
        assert_eq!(
            refused.failures[0].field.as_deref(),
            Some("No_of_Employees")
        );
        assert_eq!(
            planned.charged_credits,
            plan.credits_after - 1,
            "the refused mass update read no status: {:#?}",
            planned.steps
        );
        assert_eq!(
            planned.sandbox_charged_credits,
            Some(planned.charged_credits)
        );
        assert!(planned.charged_credits < original.charged_credits);
        original_sb.handle.shutdown().await;
        planned_sb.handle.shutdown().await;
    });
}
