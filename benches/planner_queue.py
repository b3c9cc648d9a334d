#!/usr/bin/env python3
"""Writes a JSONL queue for the end-to-end planner figure in docs/performance.md.

    python3 benches/planner_queue.py 1000000 > /tmp/q1m.jsonl
    /usr/bin/time -v target/release/creditops plan /tmp/q1m.jsonl --show 3

Half single-record inserts across seven modules, updates, deletes and reads by id on 20,000
records a module, list reads and metadata GETs; seeded, so every run writes the same file.
"""
import json
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
random.seed(3)
mods = ["Leads", "Contacts", "Accounts", "Deals", "Tasks", "Products", "Cases"]
out = sys.stdout
for i in range(n):
    r = random.random()
    m = random.choice(mods)
    rid = 5725767000001000000 + random.randrange(20000)
    if r < 0.5:
        c = {"id": f"q{i}", "method": "POST", "path": f"/crm/v8/{m}",
             "body": {"data": [{"Last_Name": f"N{i}", "Email": f"u{i}@x.example"}]}}
    elif r < 0.65:
        c = {"id": f"q{i}", "method": "PUT", "path": f"/crm/v8/{m}/{rid}",
             "body": {"data": [{"Description": "touched"}]}}
    elif r < 0.7:
        c = {"id": f"q{i}", "method": "DELETE", "path": f"/crm/v8/{m}/{rid}"}
    elif r < 0.85:
        c = {"id": f"q{i}", "method": "GET", "path": f"/crm/v8/{m}/{rid}",
             "query": {"fields": "Last_Name,Email"}}
    elif r < 0.9:
        c = {"id": f"q{i}", "method": "GET", "path": f"/crm/v8/{m}", "query": {"fields": "Last_Name"}}
    else:
        c = {"id": f"q{i}", "method": "GET", "path": "/crm/v8/settings/fields", "query": {"module": m}}
    out.write(json.dumps(c) + "\n")
