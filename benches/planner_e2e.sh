#!/usr/bin/env bash
# End to end: `creditops plan --json` on the JSONL queues of benches/planner_queue.py (10k, 100k
# and 1M calls), wall time and peak memory, against a baseline measured in the same run: Python's
# json module merely parsing the same file. Prints a Markdown table for docs/performance.md.
#
#   cargo build --release && bash benches/planner_e2e.sh
set -euo pipefail
bin=${CREDITOPS_BIN:-target/release/creditops}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
measure() { # command… → "seconds KB"
    /usr/bin/time -f "%e %M" -o "$dir/t" "$@" > /dev/null
    cat "$dir/t"
}
echo "| calls | Python json parse (baseline) | creditops plan --json | plan / baseline | peak memory (plan) | plan credits ÷ ordered bound ÷ relaxed bound |"
echo "|---|---|---|---|---|---|"
for n in 10000 100000 1000000; do
    python3 benches/planner_queue.py "$n" > "$dir/q.jsonl"
    read -r py_s _ < <(measure python3 -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$dir/q.jsonl")
    read -r plan_s plan_kb < <(measure "$bin" plan "$dir/q.jsonl" --json)
    "$bin" plan "$dir/q.jsonl" --json > "$dir/p.json"
    ratios=$(python3 -c 'import json,sys
p=json.load(open(sys.argv[1]))
a, o, r = p["credits_after"], p["ordered_lower_bound"], p["lower_bound"]
print(f"{a:,} ÷ {o:,} ({a/o:.2f}×) ÷ {r:,} ({a/r:.2f}×)")' "$dir/p.json")
    ratio=$(python3 -c "print(f'{$plan_s/$py_s:.2f}')")
    echo "| $(python3 -c "print(f'{$n:,}')") | ${py_s} s | ${plan_s} s | ${ratio} | $((plan_kb / 1024)) MB | ${ratios} |"
done
