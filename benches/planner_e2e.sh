#!/usr/bin/env bash
# End to end: `creditops plan --json` on the JSONL queues of benches/planner_queue.py (10k, 100k
# and 1M calls), wall time and peak memory, against a baseline measured in the same run: Python's
# json module merely parsing the same file. Each size is measured ROUNDS times (default 3), the
# plan and the baseline alternating, and the medians reported with the spread of the per-round
# ratios: on a shared machine one run is one sample (a neighbour on one core slows the plan,
# which uses both, and hardly the baseline). Prints a Markdown table for docs/performance.md.
#
#   cargo build --release && bash benches/planner_e2e.sh
set -euo pipefail
bin=${CREDITOPS_BIN:-target/release/creditops}
rounds=${ROUNDS:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
measure() { # command… → "seconds KB"
    /usr/bin/time -f "%e %M" -o "$dir/t" "$@" > /dev/null
    cat "$dir/t"
}
echo "| calls | Python json parse (baseline, median) | creditops plan --json (median) | plan / baseline (median; per round) | peak memory (plan, highest) | plan credits ÷ ordered bound ÷ relaxed bound |"
echo "|---|---|---|---|---|---|"
for n in 10000 100000 1000000; do
    python3 benches/planner_queue.py "$n" > "$dir/q.jsonl"
    : > "$dir/rounds"
    for _ in $(seq "$rounds"); do
        read -r py_s _ < <(measure python3 -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$dir/q.jsonl")
        read -r plan_s plan_kb < <(measure "$bin" plan "$dir/q.jsonl" --json)
        echo "$py_s $plan_s $plan_kb" >> "$dir/rounds"
    done
    "$bin" plan "$dir/q.jsonl" --json > "$dir/p.json"
    python3 - "$n" "$dir/rounds" "$dir/p.json" <<'PY'
import json, statistics, sys
n, rounds, plan = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rows = [tuple(map(float, l.split())) for l in open(rounds)]
py = statistics.median(r[0] for r in rows)
pl = statistics.median(r[1] for r in rows)
each = ", ".join(f"{r[1] / r[0]:.2f}" for r in rows)
peak = max(r[2] for r in rows) / 1024
p = json.load(open(plan))
a, o, r = p["credits_after"], p["ordered_lower_bound"], p["lower_bound"]
print(f"| {n:,} | {py:.2f} s | {pl:.2f} s | {pl / py:.2f} ({each}) | {peak:.0f} MB "
      f"| {a:,} ÷ {o:,} ({a/o:.2f}×) ÷ {r:,} ({a/r:.2f}×) |")
PY
done
