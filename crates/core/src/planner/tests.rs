//! Unit tests of the planner's parts: how calls are classified, how a level's calls become
//! steps, and the plan and its lower bound on small queues. The whole-plan properties (two
//! sandboxes, same outcome) are in tests/it/planner.rs.

use serde_json::json;

use super::classify::{classify, Class, Interner, WriteKind};
use super::plan::{plan, Options, Rule, RuleSet, StepKind};
use super::queue::{parse_jsonl, QueuedCall};
use crate::credits::CostTable;

fn queue(lines: &[serde_json::Value]) -> Vec<QueuedCall> {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let loaded = parse_jsonl(&text, "q.jsonl");
    assert!(loaded.bad.is_empty(), "{:?}", loaded.bad);
    loaded.calls
}

fn insert(module: &str, name: &str) -> serde_json::Value {
    json!({"method": "POST", "path": format!("/crm/v8/{module}"), "body": {"data": [{"Last_Name": name}]}})
}

#[test]
fn classify_tells_writes_reads_searches_and_barriers_apart() {
    let table = CostTable::builtin();
    let mut modules = Interner::default();
    let calls = queue(&[
        json!({"method": "POST", "path": "/crm/v8/Leads", "body": {"data": [{"Last_Name": "a"}, {"Last_Name": "b"}]}}),
        json!({"method": "GET", "path": "/crm/v8/Leads/5725767000000000001"}),
        json!({"method": "GET", "path": "/crm/v8/Leads/search", "query": {"criteria": "(Email:equals:a@x.example)"}}),
        json!({"method": "GET", "path": "/crm/v8/Leads"}),
        json!({"method": "POST", "path": "/crm/v8/settings/fields", "query": {"module": "Leads"}, "body": {"fields": []}}),
        json!({"method": "DELETE", "path": "/crm/v8/Leads", "query": {"ids": "5725767000000000001"}}),
    ]);
    let c: Vec<_> = calls
        .iter()
        .map(|q| {
            classify(
                q,
                &table,
                &crate::planner::UniqueFields::defaults(),
                &mut modules,
                &mut Default::default(),
            )
        })
        .collect();
    assert!(matches!(
        c[0].class,
        Class::Write {
            kind: WriteKind::Insert,
            records: 2,
            ..
        }
    ));
    assert_eq!(c[0].credits, 1, "two records cost one credit");
    assert!(matches!(c[1].class, Class::ReadId { .. }));
    assert!(matches!(c[2].class, Class::Search { .. }));
    assert!(matches!(c[3].class, Class::ReadWide { .. }));
    assert!(matches!(c[4].class, Class::Barrier));
    assert!(matches!(
        c[5].class,
        Class::Write {
            kind: WriteKind::Delete,
            ..
        }
    ));
}

#[test]
fn independent_single_inserts_batch_into_one_call_per_hundred() {
    let table = CostTable::builtin();
    let calls: Vec<_> = (0..250)
        .map(|i| insert("Deals", &format!("d{i}")))
        .collect();
    let q = queue(&calls);
    let p = plan(
        &q,
        &Options {
            rules: RuleSet::all(),
            table: &table,
            unique: None,
        },
    );
    assert_eq!(p.credits_before, 250);
    let sent: Vec<_> = p
        .steps
        .iter()
        .filter(|s| s.kind != StepKind::Removed)
        .collect();
    assert_eq!(sent.len(), 3, "100 + 100 + 50");
    assert!(sent.iter().all(|s| s.rule == Some(Rule::Batch)));
    assert_eq!(sent.iter().map(|s| s.records).sum::<u32>(), 250);
    assert_eq!(p.credits_after, 25, "1 credit per 10 records");
    assert_eq!(p.lower_bound, p.credits_after, "nothing orders them");
}

#[test]
fn a_read_of_the_module_between_inserts_keeps_them_apart() {
    let table = CostTable::builtin();
    let q = queue(&[
        insert("Deals", "a"),
        json!({"method": "GET", "path": "/crm/v8/Deals"}),
        insert("Deals", "b"),
    ]);
    let p = plan(
        &q,
        &Options {
            rules: RuleSet::all(),
            table: &table,
            unique: None,
        },
    );
    // The list must see the first insert and not the second: three levels.
    assert_eq!(p.levels, 3);
    assert!(p.lower_bound <= p.credits_after);
}

#[test]
fn repeated_gets_with_no_write_between_are_deduplicated() {
    let table = CostTable::builtin();
    let get = json!({"method": "GET", "path": "/crm/v8/Deals/5725767000000000009"});
    let q = queue(&[get.clone(), get.clone(), get]);
    let p = plan(
        &q,
        &Options {
            rules: RuleSet::all(),
            table: &table,
            unique: None,
        },
    );
    let removed = p
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::Removed)
        .count();
    assert_eq!(removed, 2);
    assert_eq!(p.savings_by_rule.get("dedupe"), Some(&2));
    // With the rule off, nothing is removed.
    let mut rules = RuleSet::all();
    rules.toggle(Rule::Dedupe);
    let p = plan(
        &q,
        &Options {
            rules,
            table: &table,
            unique: None,
        },
    );
    assert!(p.steps.iter().all(|s| s.kind != StepKind::Removed));
}

#[test]
fn rules_serialise_by_name_as_plan_files_have_them() {
    let table = CostTable::builtin();
    let q = queue(&[insert("Deals", "a"), insert("Deals", "b")]);
    let p = plan(
        &q,
        &Options {
            rules: RuleSet::all(),
            table: &table,
            unique: None,
        },
    );
    let v = serde_json::to_value(&p).unwrap();
    let rules: Vec<_> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rule"].clone())
        .collect();
    assert!(rules.contains(&json!("batch")), "{rules:?}");
    let back: super::Plan = serde_json::from_value(v).unwrap();
    assert_eq!(back, p);
}

#[test]
fn a_queue_that_names_no_module_is_planned_and_bounded() {
    // Found by the two-sandbox property test: the ordered bound priced a composite by a module
    // the queue did not have.
    let table = CostTable::builtin();
    let q = queue(&[
        json!({"method": "GET", "path": "/crm/v8/settings/modules"}),
        json!({"method": "GET", "path": "/crm/v8/org"}),
    ]);
    let p = plan(
        &q,
        &Options {
            rules: RuleSet::all(),
            table: &table,
            unique: None,
        },
    );
    assert_eq!(p.credits_after, 2);
    assert_eq!(p.ordered_lower_bound, 2);
}

#[test]
fn tag_calls_per_record_become_bulk_tag_calls_and_keep_their_records_order() {
    let table = CostTable::builtin();
    let tag = |id: u64, action: &str, name: &str| json!({"method": "POST", "path": format!("/crm/v8/Leads/{id}/actions/{action}"), "body": {"tags": [{"name": name}]}});
    let mut lines: Vec<_> = (0..120)
        .map(|i| tag(5725767000000100000 + i, "add_tags", "vip"))
        .collect();
    // A read of one tagged record, then that record's tag removed: they stay in order.
    lines.push(json!({"method": "GET", "path": "/crm/v8/Leads/5725767000000100007", "query": {"fields": "Tag"}}));
    lines.push(tag(5725767000000100007, "remove_tags", "vip"));
    let q = queue(&lines);
    let opts = |rules| Options {
        rules,
        table: &table,
        unique: None,
    };
    let p = plan(&q, &opts(RuleSet::all()));
    let bulk: Vec<_> = p
        .steps
        .iter()
        .filter(|s| s.rule == Some(Rule::Tags))
        .collect();
    assert_eq!(bulk.len(), 1, "{:#?}", p.steps);
    assert_eq!(bulk[0].path.as_ref(), "/crm/v8/Leads/actions/add_tags");
    assert_eq!(bulk[0].records, 120);
    assert_eq!(bulk[0].credits, 3, "1 credit per 50 records");
    // 3 for the bulk add, 1 for the read, 1 for the removal (alone: it must follow the read).
    assert_eq!(p.credits_after, 5);
    assert_eq!(p.ordered_lower_bound, 5);
    let level = |id: &str| {
        p.steps
            .iter()
            .find(|s| s.ids.iter().any(|i| &**i == id))
            .unwrap()
            .level
    };
    assert!(level("L1") < level("L121") && level("L121") < level("L122"));
    // Without the rule: every call as queued.
    let mut rules = RuleSet::all();
    rules.set(Rule::Tags, false);
    assert_eq!(plan(&q, &opts(rules)).credits_after, 122);
}

#[test]
fn a_large_update_set_becomes_a_bulk_update_job_finding_records_by_id() {
    let table = CostTable::builtin();
    let lines: Vec<_> = (0..6000u64)
        .map(|i| {
            // Each deal its own amount: no two records take the same values (else mass updates).
            json!({"method": "PUT", "path": format!("/crm/v8/Deals/{}", 5725767000000200000 + i), "body": {"data": [{"Stage": "Closed Won", "Amount": i}]}})
        })
        .collect();
    let q = queue(&lines);
    let p = plan(
        &q,
        &Options {
            rules: RuleSet::all(),
            table: &table,
            unique: None,
        },
    );
    let bulk: Vec<_> = p
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::BulkWrite)
        .collect();
    assert_eq!(
        bulk.len(),
        1,
        "600 credits of batches against a 501-credit job"
    );
    assert_eq!(p.credits_after, 501);
    let request = super::request::build(bulk[0], |id| q.iter().find(|c| &*c.id == id)).unwrap();
    let body = request.body.unwrap();
    assert_eq!(body["operation"], "update");
    assert_eq!(body["find_by"], "id");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 6000);
    assert_eq!(
        data[0]["id"], "5725767000000200000",
        "the path's id moves into the row"
    );
    // Below the break-even (5,010 records) batches stay cheaper.
    let small = queue(&lines[..5000]);
    let p = plan(
        &small,
        &Options {
            rules: RuleSet::all(),
            table: &table,
            unique: None,
        },
    );
    assert!(p.steps.iter().all(|s| s.kind != StepKind::BulkWrite));
    assert_eq!(p.credits_after, 500);
}

#[test]
fn updates_setting_the_same_values_become_mass_updates_of_at_most_500() {
    let table = CostTable::builtin();
    let deal = |i: u64| 5725767000000300000 + i;
    let stage = |i: u64, body: serde_json::Value| json!({"id": format!("S{i}"), "method": "PUT", "path": format!("/crm/v8/Deals/{}", deal(i)), "body": body});
    // 1,200 deals to one stage; 30 to another (in the body, two records a call); 5 setting
    // a different stage each.
    let mut lines: Vec<_> = (0..1200)
        .map(|i| stage(i, json!({"data": [{"Stage": "Closed Won"}]})))
        .collect();
    for k in 0..15u64 {
        lines.push(json!({"id": format!("P{k}"), "method": "PUT", "path": "/crm/v8/Deals", "body": {"data": [
            {"id": deal(2000 + 2 * k).to_string(), "Stage": "Closed Lost"},
            {"id": deal(2001 + 2 * k).to_string(), "Stage": "Closed Lost"}]}}));
    }
    for i in 0..5 {
        lines.push(stage(
            3000 + i,
            json!({"data": [{"Stage": format!("Stage {i}")}]}),
        ));
    }
    let q = queue(&lines);
    let opts = |rules| Options {
        rules,
        table: &table,
        unique: None,
    };
    let p = plan(&q, &opts(RuleSet::all()));
    let mass: Vec<_> = p
        .steps
        .iter()
        .filter(|s| s.rule == Some(Rule::MassUpdate))
        .collect();
    let sizes: Vec<u32> = mass.iter().map(|s| s.records).collect();
    assert_eq!(sizes, vec![500, 500, 200, 30], "{:#?}", p.steps);
    assert!(
        mass.iter().all(|s| s.credits == 2),
        "the update and its status read"
    );
    assert_eq!(mass[0].path.as_ref(), "/crm/v8/Deals/actions/mass_update");
    // The five distinct stages stay one batch of five records (1 credit).
    assert_eq!(p.credits_after, 4 * 2 + 1, "{:#?}", p.steps);
    assert!(p.ordered_lower_bound <= p.credits_after);
    assert!(p.lower_bound <= p.credits_after);
    // The request: the values once, the records by id (from the path, or from the body).
    let request = super::request::build(mass[3], |id| q.iter().find(|c| &*c.id == id)).unwrap();
    assert_eq!(request.method, "POST");
    let body = request.body.unwrap();
    assert_eq!(body["data"], json!([{"Stage": "Closed Lost"}]));
    assert_eq!(body["ids"].as_array().unwrap().len(), 30);
    assert_eq!(body["ids"][1], deal(2001).to_string());
    let first = super::request::build(mass[0], |id| q.iter().find(|c| &*c.id == id)).unwrap();
    assert_eq!(first.body.unwrap()["ids"][0], deal(0).to_string());
    // Without the rule: batches of 100 (1,235 records: 12 × 10 + 4 + 1 + the five).
    let mut rules = RuleSet::all();
    rules.set(Rule::MassUpdate, false);
    rules.set(Rule::Bulk, false);
    let without = plan(&q, &opts(rules));
    assert!(without
        .steps
        .iter()
        .all(|s| s.rule != Some(Rule::MassUpdate)));
    assert_eq!(without.credits_after, 120 + 3 + 1);
}

#[test]
fn mass_updates_take_only_what_they_can_carry() {
    let table = CostTable::builtin();
    let opts = Options {
        rules: RuleSet::all(),
        table: &table,
        unique: None,
    };
    let lead = |i: u64| 5725767000000400000 + i;
    let many = |body: &dyn Fn(u64) -> serde_json::Value| -> Vec<serde_json::Value> {
        (0..60)
            .map(|i| json!({"id": format!("U{i}"), "method": "PUT", "path": format!("/crm/v8/Leads/{}", lead(i)), "body": body(i)}))
            .collect()
    };
    let mass_steps = |lines: &[serde_json::Value]| {
        plan(&queue(lines), &opts)
            .steps
            .iter()
            .filter(|s| s.rule == Some(Rule::MassUpdate))
            .count()
    };
    // Carried: 60 records set to one value.
    assert_eq!(
        mass_steps(&many(&|_| json!({"data": [{"City": "Oslo"}]}))),
        1
    );
    // Not carried: a `trigger` (a mass update takes none), a multi-select list (appended to,
    // not replaced), a lookup, a null, a unique value (Email on Leads), an `@{}` value.
    for (what, body) in [
        (
            "trigger",
            json!({"data": [{"City": "Oslo"}], "trigger": []}),
        ),
        ("list", json!({"data": [{"Tags_List": ["a"]}]})),
        ("lookup", json!({"data": [{"Owner": {"id": "1"}}]})),
        ("null", json!({"data": [{"City": null}]})),
        ("unique", json!({"data": [{"Email": "same@x.example"}]})),
    ] {
        assert_eq!(mass_steps(&many(&|_| body.clone())), 0, "{what}");
    }
    // Too few to pay: 20 records cost 2 in batches, as much as a mass update and its status.
    let few: Vec<_> = many(&|_| json!({"data": [{"City": "Oslo"}]}))
        .into_iter()
        .take(20)
        .collect();
    assert_eq!(mass_steps(&few), 0);
    // An update whose answer a later call names stays an update; one naming an earlier
    // insert's record (`@{}`) too.
    let mut lines = many(&|_| json!({"data": [{"City": "Oslo"}]}));
    lines.push(json!({"id": "ins", "method": "POST", "path": "/crm/v8/Leads", "body": {"data": [{"Last_Name": "N"}]}}));
    lines.push(json!({"id": "ref", "method": "PUT", "path": "/crm/v8/Leads/@{ins}", "body": {"data": [{"City": "Oslo"}]}}));
    let p = plan(&queue(&lines), &opts);
    let mass: Vec<_> = p
        .steps
        .iter()
        .filter(|s| s.rule == Some(Rule::MassUpdate))
        .collect();
    assert_eq!(mass.len(), 1);
    assert!(mass[0].ids.iter().all(|id| &**id != "ref"));
    // Two updates of one record in one mass update would be one update: they are ordered
    // (levels) and never share a step.
    let mut twice = many(&|_| json!({"data": [{"City": "Oslo"}]}));
    twice.extend(
        many(&|_| json!({"data": [{"City": "Oslo"}]}))
            .into_iter()
            .map(|mut l| {
                l["id"] = json!(format!("again-{}", l["id"].as_str().unwrap()));
                l
            }),
    );
    let p = plan(&queue(&twice), &opts);
    for s in p.steps.iter().filter(|s| s.rule == Some(Rule::MassUpdate)) {
        assert_eq!(s.records, 60, "{:#?}", p.steps);
    }
}

/// A mass update's values are told by kind and content: equal values (in any key order) are
/// one set, a string never a number or a boolean, and an `@{}` value is never carried.
#[test]
fn mass_update_values_are_equal_only_when_the_values_are() {
    use super::classify::mass_values;
    use super::json_view::JsonView;
    let key = |body: serde_json::Value| {
        let text = body.to_string();
        let call = QueuedCall {
            id: "u".into(),
            method: super::plan::Method::Put,
            path: "/crm/v8/Leads".into(),
            query: Default::default(),
            headers: Default::default(),
            body: Some(super::queue::Body::new(&body)),
        };
        mass_values(&call, Some(&JsonView::parse(&text)), None)
    };
    let rec = |fields: serde_json::Value| {
        let mut r = fields;
        r["id"] = json!("5725767000000400001");
        json!({"data": [r]})
    };
    let oslo = key(rec(json!({"City": "Oslo", "Rating": 5})));
    assert_ne!(oslo, 0);
    assert_eq!(key(rec(json!({"Rating": 5, "City": "Oslo"}))), oslo);
    for other in [
        json!({"City": "Oslo", "Rating": "5"}),
        json!({"City": "Oslo", "Rating": 5.5}),
        json!({"City": "Bergen", "Rating": 5}),
        json!({"City": "Oslo", "Rating": true}),
        json!({"City": "Oslo"}),
        json!({"City": "Oslo", "Rating": 5, "Open": false}),
    ] {
        assert_ne!(key(rec(other.clone())), oslo, "{other}");
    }
    assert_ne!(
        key(rec(json!({"Open": true}))),
        key(rec(json!({"Open": "true"})))
    );
    assert_eq!(key(rec(json!({"Owner_Ref": "@{q1}"}))), 0);
    assert_ne!(key(rec(json!({"Note": "mail me @ home {soon}"}))), 0);
}

/// What every call of a million-call queue carries through planning: a byte here is a megabyte
/// there (docs/performance.md, plan at scale). Growing one of these is a decision, not an
/// accident.
#[test]
fn per_call_structures_stay_small() {
    use std::mem::size_of;
    assert!(
        size_of::<super::classify::Classified>() <= 80,
        "{}",
        size_of::<super::classify::Classified>()
    );
    assert!(
        size_of::<super::plan::Fate>() <= 8,
        "{}",
        size_of::<super::plan::Fate>()
    );
    assert!(size_of::<QueuedCall>() <= 88, "{}", size_of::<QueuedCall>());
}

/// A queue big enough to be planned on several threads (its levels split between two, the
/// bound beside them) comes back whole: each call in one step, the levels in order and none
/// missing, the credits the steps' sum, and the same plan as the queue planned twice.
#[test]
fn a_big_queue_planned_on_several_threads_comes_back_whole_and_in_order() {
    let table = CostTable::builtin();
    let modules = ["Leads", "Contacts", "Deals"];
    let calls: Vec<serde_json::Value> = (0..24_000)
        .map(|i| {
            let module = modules[i % 3];
            match i % 8 {
                // A list read: every insert before it must be sent before it (a level each).
                0 => json!({"method": "GET", "path": format!("/crm/v8/{module}"), "query": {"fields": "Last_Name"}}),
                1 => json!({"method": "PUT", "path": format!("/crm/v8/{module}/{}", 5_725_767_000_000_000_000u64 + (i % 50) as u64), "body": {"data": [{"Description": format!("v{i}")}]}}),
                _ => insert(module, &format!("n{i}")),
            }
        })
        .collect();
    let q = queue(&calls);
    let opts = Options {
        rules: RuleSet::all(),
        table: &table,
        unique: None,
    };
    let p = plan(&q, &opts);
    assert!(p.levels > 100, "levels: {}", p.levels);
    let mut seen = std::collections::HashSet::new();
    for s in &p.steps {
        for id in &s.ids {
            assert!(seen.insert(id.clone()), "{id} in two steps");
        }
    }
    assert_eq!(seen.len(), q.len(), "every call in a step");
    let levels: Vec<u32> = p
        .steps
        .iter()
        .filter(|s| s.kind != StepKind::Removed)
        .map(|s| s.level)
        .collect();
    assert!(levels.windows(2).all(|w| w[0] <= w[1]), "levels in order");
    let distinct: std::collections::BTreeSet<u32> = levels.iter().copied().collect();
    assert_eq!(distinct.len() as u32, p.levels, "no level missing");
    let sum: u64 = p.steps.iter().map(|s| u64::from(s.credits)).sum();
    assert_eq!(p.credits_after, sum);
    assert!(p.ordered_lower_bound <= p.credits_after && p.lower_bound <= p.ordered_lower_bound);
    assert_eq!(plan(&q, &opts), p, "the same plan each time");
}

/// A rule's place in `Rule::ALL` is its number (the plan's savings are counted by it).
#[test]
fn rules_are_numbered_in_the_order_all_lists_them() {
    for (i, rule) in Rule::ALL.into_iter().enumerate() {
        assert_eq!(rule as usize, i, "{}", rule.name());
    }
}

/// Step kinds and rules are written by their names and read back by them (plan files
/// round-trip).
#[test]
fn step_kinds_and_rules_read_back_by_the_names_they_are_written_with() {
    fn reads_back<T>(value: T, name: &str)
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let text = serde_json::to_string(&value).unwrap();
        assert_eq!(text, format!("\"{name}\""));
        assert_eq!(serde_json::from_str::<T>(&text).unwrap(), value);
    }
    for kind in StepKind::ALL {
        reads_back(kind, kind.as_str());
    }
    for rule in Rule::ALL {
        reads_back(rule, rule.name());
    }
    assert_eq!(StepKind::BulkWrite.as_str(), "bulk_write");
}
