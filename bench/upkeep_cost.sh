#!/usr/bin/env bash
# What the dashboards' rollups cost the pipeline: bench.peak with the rollup catch-up job off, then on, alternating,
# on the same tree in the same sitting (this box is shared: only pairs measured side by side compare).
#
#   bench/upkeep_cost.sh [ROUNDS]          (default 2: off, on, off, on)
#
# Environment: RATE (orders/min pushed, default 12000), DURATION (seconds of sending, default 45), DRAIN (default 120),
# PGURL (default postgresql://postgres@127.0.0.1:5432/), REDIS (default redis://127.0.0.1:6379/13; flushed per run),
# TREE (the source tree to run, default this script's repository), BASE (optional: a tree without the dashboards,
# e.g. `git worktree add /tmp/base <commit>`; each round then also runs it, as "base").
#
# Each run gets a fresh scratch database, `orderhub migrate`, `serve --workers 2` and two `worker` processes, then
# `python -m bench.peak --setup --json`; "off" sets ORDERHUB_ROLLUPS_INTERVAL_SECONDS=0 (the workers never count), "on"
# leaves the default (every 0.5 s). Prints one line per run and, at the end, the pipeline's orders/min per mode and the
# cost of "on" against "off" (and against "base"). After an "on" run it also prints how far the rollups trailed once
# the drain ended.
set -euo pipefail

rounds=${1:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
tree=${TREE:-$here}
py=$here/.venv/bin/python
pgurl=${PGURL:-postgresql://postgres@127.0.0.1:5432/}
redis=${REDIS:-redis://127.0.0.1:6379/13}
rate=${RATE:-12000}
duration=${DURATION:-45}
drain=${DRAIN:-120}
port=${PORT:-18765}
out=$(mktemp -d /tmp/upkeep_cost.XXXXXX)
pids=()

stop_hub() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap 'stop_hub; psql "${pgurl}postgres" -qc "DROP DATABASE IF EXISTS ohbench_upkeep WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

run_once() {  # $1 = base | off | on
  local mode=$1 db=ohbench_upkeep src=$tree
  [ "$mode" = base ] && src=$BASE
  psql "${pgurl}postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  psql "${pgurl}postgres" -qc "CREATE DATABASE $db" >/dev/null
  "$py" - "$redis" <<'PY'
import sys, redis
redis.Redis.from_url(sys.argv[1]).flushdb()
PY
  rm -rf "$out/data"
  export ORDERHUB_DATA_DIR=$out/data ORDERHUB_REDIS_URL=$redis ORDERHUB_DATABASE_URL=${pgurl}$db \
    ORDERHUB_ADMIN_USER=admin ORDERHUB_ADMIN_PASSWORD=bench-pass-upkeep-1 ORDERHUB_LOG_LEVEL=WARNING \
    PYTHONPATH=$src
  if [ "$mode" = off ]; then export ORDERHUB_ROLLUPS_INTERVAL_SECONDS=0; else unset ORDERHUB_ROLLUPS_INTERVAL_SECONDS; fi
  (cd "$src" && "$py" -m server.cli migrate >"$out/migrate.log" 2>&1)
  (cd "$src" && exec "$py" -m server.cli serve --port "$port" --workers 2 >"$out/serve-$mode.log" 2>&1) & pids+=($!)
  (cd "$src" && exec "$py" -m server.cli worker >"$out/worker1-$mode.log" 2>&1) & pids+=($!)
  (cd "$src" && exec "$py" -m server.cli worker >"$out/worker2-$mode.log" 2>&1) & pids+=($!)
  for _ in $(seq 60); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 1; done
  "$py" -m bench.peak --url "http://127.0.0.1:$port" --admin-user admin --admin-password bench-pass-upkeep-1 \
    --setup --rate "$rate" --duration "$duration" --drain "$drain" --seed 16 >"$out/peak-$mode.txt" 2>&1 || true
  local pipe ready inv
  pipe=$(grep -E '^  pipeline ' "$out/peak-$mode.txt" | grep -oE '[0-9]+(\.[0-9]+)? orders/min' | grep -oE '^[0-9.]+' || echo None)
  ready=$(grep -E '^  ack → ready' "$out/peak-$mode.txt" | sed 's/^  ack → ready *//' || true)
  inv=$(grep -E '^    (oversold|duplicated|lost) ' "$out/peak-$mode.txt" | awk '{print $1"="$2}' | tr '\n' ' ' || true)
  printf '%s\t%s\t%s\t%s\n' "$mode" "$pipe" "$ready" "$inv" >>"$out/results.tsv"
  tail -1 "$out/results.tsv"
  if [ "$mode" = on ]; then
    psql "${pgurl}$db" -tAc "SELECT 'rollups trail the log by ' || count(*) || ' events' FROM order_event e, rollup_cursor c \
      WHERE c.name = 'order_events' AND (e.txid, e.id) > (c.txid, c.event_id)" || true
  fi
  stop_hub
}

echo "tree: $tree  rate: $rate/min  duration: ${duration}s  rounds: $rounds  (logs: $out)"
for _ in $(seq "$rounds"); do
  [ -n "${BASE:-}" ] && run_once base
  run_once off
  run_once on
done
"$py" - "$out/results.tsv" <<'PY'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]) if line.strip()]
by = {m: [float(r[1]) for r in rows if r[0] == m and r[1] not in ("None", "")] for m in ("base", "off", "on")}
for mode, figures in by.items():
    if figures:
        print(f"pipeline orders/min, rollups {mode}: {', '.join(f'{f:,.0f}' for f in figures)}")
if by["off"] and by["on"]:
    off, on = statistics.mean(by["off"]), statistics.mean(by["on"])
    print(f"cost of keeping the rollups: {100 * (off - on) / off:.1f} % (mean {on:,.0f} vs {off:,.0f} orders/min)")
if by["base"] and by["on"]:
    base, on = statistics.mean(by["base"]), statistics.mean(by["on"])
    print(f"cost against the base tree: {100 * (base - on) / base:.1f} % (mean {on:,.0f} vs {base:,.0f} orders/min)")
PY
