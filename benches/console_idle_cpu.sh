#!/usr/bin/env bash
# The console's CPU use over 10 idle seconds (no input, no new calls), in a real terminal (tmux).
# Baseline in the same run: `sleep` in the same kind of pane (what "doing nothing" costs).
# Usage: cargo build --release && bash benches/console_idle_cpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/creditops
dir=$(mktemp -d)
trap 'tmux -S "$dir/s" kill-server 2>/dev/null || true; rm -rf "$dir"' EXIT
export CREDITOPS_CONFIG_DIR=$dir/cfg CREDITOPS_DATA_DIR=$dir/data CREDITOPS_CACHE_DIR=$dir/cache
mkdir -p "$CREDITOPS_CONFIG_DIR"
# A profile watching a ledger nobody writes to: the console is idle but for its 1 Hz clock.
cat > "$CREDITOPS_CONFIG_DIR/config.toml" <<TOML
default_profile = "idle"
[profiles.idle]
edition = "enterprise"
licences = 10
TOML
ticks=$(getconf CLK_TCK)
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # $1 = command; prints percent of one core over 10 s after a 3 s settle
  tmux -S "$dir/s" new-session -d -s m -x 200 -y 50 "$1"
  sleep 3
  local pid; pid=$(pgrep -n -f "$2")
  local a; a=$(cpu_of "$pid"); sleep 10; local b; b=$(cpu_of "$pid")
  tmux -S "$dir/s" kill-server
  awk -v d=$((b - a)) -v t="$ticks" 'BEGIN { printf "%.2f", d / t / 10 * 100 }'
}
base=$(measure "sleep 600" "sleep 600")
idle=$(measure "$bin --profile idle" "$bin --profile idle")
echo "| process, 10 idle seconds at 200x50 | CPU (% of one core) |"
echo "|---|---|"
echo "| sleep (baseline) | $base |"
echo "| creditops console, idle | $idle |"
