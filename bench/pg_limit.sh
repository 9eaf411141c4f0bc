#!/usr/bin/env bash
# What the database alone can do: orders/min when PostgreSQL runs only the SQL one order needs.
#
#   bench/pg_limit.sh [SECONDS]          (default 60; at most 3600)
#
# Environment:
#   PGURL    server to use, default postgresql://postgres@127.0.0.1:5432/  (loopback or a Unix socket only;
#            any database name in it is ignored: a scratch database is created next to it and dropped at the end)
#   CLIENTS  pgbench clients (default 16)     JOBS   pgbench threads (default 2)
#   SKUS     SKUs seeded (default 200)        ZIPF   SKU popularity exponent for random_zipfian (default 1.1)
#   STOCK_LAST=1  issue the stock UPDATEs last in the reserve transaction, right before its COMMIT (hot stock rows
#            stay locked only until that COMMIT) — where the app issues them (orderhub/orders/pipeline/reservation.py,
#            _commit_allocation, "Stock last"). The default (0) issues them early in that transaction (step 3 below),
#            so the hot rows stay locked through the rest of it; compare the two figures
#   ORDERHUB path to the orderhub command (default: .venv/bin/orderhub next to this script, else PATH)
#
# Steps: create a scratch database on the local server, give it the real schema (`orderhub migrate`), seed a
# warehouse, SKUs with ample stock and a channel with plain SQL, run pgbench with a custom script in which one
# pgbench transaction is one order's SQL as the app issues it, in the app's three database transactions:
#
#   1. intake (the API request):  INSERT sales_order … ON CONFLICT (channel, external_id) DO NOTHING RETURNING id,
#      INSERT order_line (one multi-row statement), INSERT order_event 'order.received'
#   2. validate (worker):         duplicate lookup by fingerprint, SKU ids by code, UPDATE order_line SET sku per
#      line, UPDATE sales_order received → validated (with the standardised receiver, tags, priority,
#      rules_applied_at folded in) + its order_event
#   3. reserve (worker):          UPDATE sales_order validated → reserved + event; per SKU, in id order, the
#      conditional UPDATE stock_level SET reserved = reserved + n WHERE … AND on_hand - reserved >= n;
#      INSERT shipment (when the schema has it); UPDATE order_line per line (reserved_qty, warehouse, shipment);
#      INSERT order_event 'order.stock_reserved'; UPDATE sales_order reserved → ready (+ warehouse) + event
#      By default the stock UPDATEs are statements 3 … 2 + lines of this transaction (after the status → reserved
#      UPDATE and its event), so each hot row stays locked through the 4 + lines statements after them (shipment,
#      line UPDATEs, event, status → ready, event) until the COMMIT; with STOCK_LAST=1 they come after all of
#      those, as the app issues them. (The app also commits validate and reserve in ONE transaction when a plan
#      covers the order — orderhub/orders/pipeline/validation.py → reserve_inline; this script keeps them apart.)
#
# Left out on purpose (reads the app makes that a leaner app could cache or fold): re-reading the order before
# each step, the rules table, the warehouse list and the availability pre-read, the stock_level id lookup,
# the separate UPDATEs for the standardised receiver / rule results / order warehouse. Lines per order follow
# sandbox.orders (1–4, mean ≈ 1.7), SKUs are Zipf-distributed (hot rows contend as on a peak day).
#
# Prints tps and "orders/min the database can do" = tps × 60, then checks the result (every order ready, stock
# reserved == Σ reserved_qty of the lines). Bounded: pgbench is killed after SECONDS + 120 s; the scratch
# database is dropped on every exit path.
set -euo pipefail

duration=${1:-${DURATION:-60}}
pgurl=${PGURL:-postgresql://postgres@127.0.0.1:5432/}
clients=${CLIENTS:-16}
jobs=${JOBS:-2}
skus=${SKUS:-200}
zipf=${ZIPF:-1.1}
stock_last=${STOCK_LAST:-0}

die() {
	echo "pg_limit: $*" >&2
	exit 2
}

for n in duration clients jobs skus; do
	[[ ${!n} =~ ^[0-9]+$ ]] && ((${!n} >= 1)) || die "$n must be a positive integer (got '${!n}')"
done
((duration <= 3600)) || die "SECONDS must be at most 3600"
((clients <= 200 && jobs <= clients)) || die "CLIENTS must be ≤ 200 and JOBS ≤ CLIENTS"
((skus >= 4 && skus <= 100000)) || die "SKUS must be 4–100000"
[[ $stock_last =~ ^[01]$ ]] || die "STOCK_LAST must be 0 or 1"
[[ $zipf =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "ZIPF must be a number > 1 (got '$zipf')"
awk -v z="$zipf" 'BEGIN { exit !(z > 1.0 && z <= 1000) }' || die "ZIPF must be > 1 and ≤ 1000 (pgbench's random_zipfian)"

if ! command -v pgbench >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
	cat >&2 <<'EOF'
pg_limit: needs pgbench and psql.
  Debian/Ubuntu: sudo apt-get install postgresql-client   (psql; pgbench too in recent PostgreSQL packages)
                 Debian 12 / PostgreSQL 15 ship pgbench in the server package: sudo apt-get install postgresql-15
  macOS:         brew install libpq   (then put $(brew --prefix libpq)/bin on PATH)
EOF
	exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
orderhub=${ORDERHUB:-$root/.venv/bin/orderhub}
[[ -x $orderhub ]] || orderhub=$(command -v orderhub || true)
[[ -n $orderhub ]] || die "orderhub command not found (set ORDERHUB=/path/to/orderhub)"

# --- the server: loopback or Unix socket only
[[ $pgurl =~ ^postgres(ql)?://([^/?]*)(/[^?]*)?(\?.*)?$ ]] || die "PGURL must look like postgresql://user@127.0.0.1:5432/"
scheme=${pgurl%%://*}
authority=${BASH_REMATCH[2]}
query=${BASH_REMATCH[4]}
hostport=${authority##*@}
if [[ $hostport == \[* ]]; then
	host=${hostport%%]*}
	host=${host#[}
else
	host=${hostport%%:*}
fi
case $host in
"" | localhost | ::1 | 127.*) ;;
*) die "refusing to touch $host: only a local server (127.0.0.1, ::1, localhost or a Unix socket)" ;;
esac
if [[ $query =~ (^|[?\&])(host|hostaddr)=([^\&]*) ]]; then
	value=${BASH_REMATCH[3]}
	case $value in
	/* | %2F* | %2f* | localhost | 127.* | ::1) ;;
	*) die "refusing PGURL ${BASH_REMATCH[2]}=$value: only a local server" ;;
	esac
fi

scratch="orderhub_pglimit_$(date +%s)_$$"
where=${hostport:-Unix socket}
admin_url="$scheme://$authority/postgres$query"
scratch_url="$scheme://$authority/$scratch$query"
work=$(mktemp -d "${TMPDIR:-/tmp}/pg_limit.XXXXXX")
created=0

cleanup() {
	local code=$?
	if ((created)); then
		psql -X -q "$admin_url" -c "DROP DATABASE IF EXISTS \"$scratch\" WITH (FORCE)" >/dev/null 2>&1 ||
			psql -X -q "$admin_url" -c "DROP DATABASE IF EXISTS \"$scratch\"" >/dev/null 2>&1 ||
			echo "pg_limit: could not drop scratch database $scratch; drop it by hand" >&2
	fi
	rm -rf "$work"
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sql() { psql -X -q -v ON_ERROR_STOP=1 -At "$scratch_url" "$@"; }

server=$(psql -X -At "$admin_url" -c "SHOW server_version") || die "cannot connect to $admin_url"
psql -X -q -v ON_ERROR_STOP=1 "$admin_url" -c "CREATE DATABASE \"$scratch\"" >/dev/null
created=1
echo "pg_limit: scratch database $scratch on PostgreSQL $server ($where) — migrating …"

env -u ORDERHUB_ADMIN_USER -u ORDERHUB_ADMIN_PASSWORD -u ORDERHUB_REDIS_URL -u ORDERHUB_SECRET_KEY \
	ORDERHUB_DATABASE_URL="$scratch_url" ORDERHUB_DATA_DIR="$work/data" \
	ORDERHUB_LOG_LEVEL=WARNING timeout 300 "$orderhub" migrate >"$work/migrate.log" 2>&1 ||
	{
		cat "$work/migrate.log" >&2
		die "orderhub migrate failed"
	}

# --- seed: one warehouse, SKUs with ample stock (ids in rank order), one channel shipping from the warehouse
sql <<EOF
INSERT INTO warehouse (code, name, region, provinces, address) VALUES ('PGW', 'pg_limit 仓', '压测', '[]', 'bench');
INSERT INTO sku (code, name, weight_g, volume_cm3)
  SELECT 'PG-' || g, '压测商品 ' || g, 100 + g % 900, 500 FROM generate_series(1, $skus) AS g ORDER BY g;
INSERT INTO stock_level (sku, warehouse, on_hand, reserved)
  SELECT s.id, w.id, 1000000000, 0 FROM sku s, warehouse w WHERE w.code = 'PGW' ORDER BY s.id;
INSERT INTO channel (code, platform, name, default_warehouse)
  SELECT 'pg_limit', 'own_store', 'pg_limit 渠道', id FROM warehouse WHERE code = 'PGW';
ANALYZE;
EOF
warehouse_id=$(sql -c "SELECT id FROM warehouse WHERE code = 'PGW'")
channel_id=$(sql -c "SELECT id FROM channel WHERE code = 'pg_limit'")
sku_base=$(sql -c "SELECT min(id) FROM sku")
has_shipment=$(sql -c "SELECT (to_regclass('public.shipment') IS NOT NULL
  AND EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'order_line' AND column_name = 'shipment'))::int")

# --- the pgbench script: one order
stock_updates() {
	cat <<'EOF'
UPDATE stock_level SET reserved = reserved + :q1
  WHERE sku = :k1 AND warehouse = :wh AND on_hand - reserved >= :q1 RETURNING id;
\if :nl >= 2
UPDATE stock_level SET reserved = reserved + :q2
  WHERE sku = :k2 AND warehouse = :wh AND on_hand - reserved >= :q2 RETURNING id;
\endif
\if :nl >= 3
UPDATE stock_level SET reserved = reserved + :q3
  WHERE sku = :k3 AND warehouse = :wh AND on_hand - reserved >= :q3 RETURNING id;
\endif
\if :nl >= 4
UPDATE stock_level SET reserved = reserved + :q4
  WHERE sku = :k4 AND warehouse = :wh AND on_hand - reserved >= :q4 RETURNING id;
\endif
EOF
}

script=$work/order.sql
{
	cat <<'EOF'
-- draws: lines per order (1–4) and qty (1/2/3/5) weighted as sandbox.orders; Zipf SKUs sorted ascending
-- (stock rows locked in id order, as the app does); unused slots get a sentinel that sorts last
\set eid random(1, 9000000000000000000)
\set r random(1, 100)
\set nl CASE WHEN :r <= 55 THEN 1 WHEN :r <= 80 THEN 2 WHEN :r <= 92 THEN 3 ELSE 4 END
\set a random_zipfian(1, :nskus, :zipf)
\set b CASE WHEN :nl >= 2 THEN random_zipfian(1, :nskus, :zipf) ELSE 2000000000 END
\set c CASE WHEN :nl >= 3 THEN random_zipfian(1, :nskus, :zipf) ELSE 2000000000 END
\set d CASE WHEN :nl >= 4 THEN random_zipfian(1, :nskus, :zipf) ELSE 2000000000 END
\set x1 least(:a, :b)
\set y1 greatest(:a, :b)
\set x2 least(:c, :d)
\set y2 greatest(:c, :d)
\set m1 greatest(:x1, :x2)
\set m2 least(:y1, :y2)
\set t1 least(:x1, :x2)
\set t2 least(:m1, :m2)
\set t3 greatest(:m1, :m2)
\set t4 greatest(:y1, :y2)
\set k1 :skubase + :t1 - 1
\set k2 :skubase + :t2 - 1
\set k3 :skubase + :t3 - 1
\set k4 :skubase + :t4 - 1
\set u1 random(1, 100)
\set q1 CASE WHEN :u1 <= 75 THEN 1 WHEN :u1 <= 93 THEN 2 WHEN :u1 <= 98 THEN 3 ELSE 5 END
\set u2 random(1, 100)
\set q2 CASE WHEN :u2 <= 75 THEN 1 WHEN :u2 <= 93 THEN 2 WHEN :u2 <= 98 THEN 3 ELSE 5 END
\set u3 random(1, 100)
\set q3 CASE WHEN :u3 <= 75 THEN 1 WHEN :u3 <= 93 THEN 2 WHEN :u3 <= 98 THEN 3 ELSE 5 END
\set u4 random(1, 100)
\set q4 CASE WHEN :u4 <= 75 THEN 1 WHEN :u4 <= 93 THEN 2 WHEN :u4 <= 98 THEN 3 ELSE 5 END

-- 1. intake: the API request's transaction
BEGIN;
INSERT INTO sales_order (channel, external_id, status, exception_reason, hold_queue, hold_reason, pending_holds,
    fingerprint, buyer_nick, buyer_phone, receiver_name, receiver_phone, receiver_province, receiver_city,
    receiver_district, receiver_detail, receiver_address, receiver_division_code, receiver_phone_ext, goods_amount,
    shipping_fee, discount, paid_amount, buyer_memo, seller_memo, tags, priority, placed_at, paid_at, raw_payload,
    received_at, updated_at)
  VALUES (:channel, 'pg-' || :eid, 'received', NULL, NULL, NULL, '[]', md5('a' || :eid) || md5('b' || :eid),
    'tb9079837913', '', '蒋辉涛', '17004105718', '山东省', '青岛市', '崂山区', '南京路389号碧桂园23栋4单元2801室',
    '山东省青岛市崂山区南京路389号碧桂园23栋4单元2801室', '', '', 25900, 0, 0, 25900, '', '', '[]', 'normal',
    now() - interval '10 minutes', now() - interval '5 seconds',
    '{"external_id":"pg-' || :eid || '","created_at":"20261122T100439+0800","paid_at":"20261122T101424+0800","buyer":{"nick":"tb9079837913","phone":""},"receiver":{"name":"蒋辉涛","phone":"17004105718","province":"山东省","city":"青岛市","district":"崂山区","detail":"南京路389号碧桂园23栋4单元2801室"},"lines":[{"sku":"PG-' || :t1 || '","qty":1,"unit_price":25900}],"shipping_fee":0,"discount":0,"paid_amount":25900,"buyer_memo":""}',
    now(), now())
  ON CONFLICT (channel, external_id) DO NOTHING RETURNING id AS ord
\gset
\if :nl = 1
INSERT INTO order_line ("order", line_no, sku_code, qty, unit_price, amount, is_gift, reserved_qty) VALUES
  (:ord, 1, 'PG-' || :t1, :q1, 2590, 2590 * :q1, false, 0);
\elif :nl = 2
INSERT INTO order_line ("order", line_no, sku_code, qty, unit_price, amount, is_gift, reserved_qty) VALUES
  (:ord, 1, 'PG-' || :t1, :q1, 2590, 2590 * :q1, false, 0), (:ord, 2, 'PG-' || :t2, :q2, 2590, 2590 * :q2, false, 0);
\elif :nl = 3
INSERT INTO order_line ("order", line_no, sku_code, qty, unit_price, amount, is_gift, reserved_qty) VALUES
  (:ord, 1, 'PG-' || :t1, :q1, 2590, 2590 * :q1, false, 0), (:ord, 2, 'PG-' || :t2, :q2, 2590, 2590 * :q2, false, 0),
  (:ord, 3, 'PG-' || :t3, :q3, 2590, 2590 * :q3, false, 0);
\else
INSERT INTO order_line ("order", line_no, sku_code, qty, unit_price, amount, is_gift, reserved_qty) VALUES
  (:ord, 1, 'PG-' || :t1, :q1, 2590, 2590 * :q1, false, 0), (:ord, 2, 'PG-' || :t2, :q2, 2590, 2590 * :q2, false, 0),
  (:ord, 3, 'PG-' || :t3, :q3, 2590, 2590 * :q3, false, 0), (:ord, 4, 'PG-' || :t4, :q4, 2590, 2590 * :q4, false, 0);
\endif
INSERT INTO order_event ("order", type, from_status, to_status, reason, data, actor, created_at)
  VALUES (:ord, 'order.received', NULL, 'received', NULL, '{}', 'channel/pg_limit', now());
COMMIT;

-- 2. validate: received → validated (worker transaction)
BEGIN;
SELECT id FROM sales_order
  WHERE fingerprint = md5('a' || :eid) || md5('b' || :eid) AND id <> :ord AND status <> 'cancelled'
    AND received_at >= now() - interval '5 minutes' AND received_at <= now()
  ORDER BY id LIMIT 1;
SELECT id, code FROM sku WHERE code IN ('PG-' || :t1, 'PG-' || :t2, 'PG-' || :t3, 'PG-' || :t4) AND active;
UPDATE order_line SET sku = :k1 WHERE "order" = :ord AND line_no = 1;
\if :nl >= 2
UPDATE order_line SET sku = :k2 WHERE "order" = :ord AND line_no = 2;
\endif
\if :nl >= 3
UPDATE order_line SET sku = :k3 WHERE "order" = :ord AND line_no = 3;
\endif
\if :nl >= 4
UPDATE order_line SET sku = :k4 WHERE "order" = :ord AND line_no = 4;
\endif
UPDATE sales_order SET status = 'validated', exception_reason = NULL, hold_queue = NULL, hold_reason = NULL,
    receiver_province = '山东省', receiver_city = '青岛市', receiver_district = '崂山区',
    receiver_detail = '南京路389号碧桂园23栋4单元2801室', receiver_division_code = '370212',
    receiver_phone = '17004105718', receiver_phone_ext = '', tags = '[]', priority = 'normal',
    rules_applied_at = now(), updated_at = now()
  WHERE id = :ord AND status = 'received' RETURNING id;
INSERT INTO order_event ("order", type, from_status, to_status, reason, data, actor, created_at)
  VALUES (:ord, 'order.status_changed', 'received', 'validated', NULL, '{}', 'system', now());
COMMIT;

-- 3. reserve: validated → reserved → ready (worker transaction)
BEGIN;
UPDATE sales_order SET status = 'reserved', exception_reason = NULL, hold_queue = NULL, hold_reason = NULL,
    updated_at = now()
  WHERE id = :ord AND status = 'validated' RETURNING id;
INSERT INTO order_event ("order", type, from_status, to_status, reason, data, actor, created_at)
  VALUES (:ord, 'order.status_changed', 'validated', 'reserved', NULL, '{"warehouse_ids":[' || :wh || ']}', 'system', now());
EOF
	((stock_last)) || stock_updates
	if ((has_shipment)); then
		cat <<'EOF'
INSERT INTO shipment (warehouse, packing_line, weight_g, volume_cm3, status, created_at)
  VALUES (:wh, 'A', 300, 1000, 'open', now()) RETURNING id AS shid
\gset
UPDATE order_line SET reserved_qty = qty, warehouse = :wh, shipment = :shid WHERE "order" = :ord AND line_no = 1;
\if :nl >= 2
UPDATE order_line SET reserved_qty = qty, warehouse = :wh, shipment = :shid WHERE "order" = :ord AND line_no = 2;
\endif
\if :nl >= 3
UPDATE order_line SET reserved_qty = qty, warehouse = :wh, shipment = :shid WHERE "order" = :ord AND line_no = 3;
\endif
\if :nl >= 4
UPDATE order_line SET reserved_qty = qty, warehouse = :wh, shipment = :shid WHERE "order" = :ord AND line_no = 4;
\endif
EOF
	else
		cat <<'EOF'
UPDATE order_line SET reserved_qty = qty, warehouse = :wh WHERE "order" = :ord AND line_no = 1;
\if :nl >= 2
UPDATE order_line SET reserved_qty = qty, warehouse = :wh WHERE "order" = :ord AND line_no = 2;
\endif
\if :nl >= 3
UPDATE order_line SET reserved_qty = qty, warehouse = :wh WHERE "order" = :ord AND line_no = 3;
\endif
\if :nl >= 4
UPDATE order_line SET reserved_qty = qty, warehouse = :wh WHERE "order" = :ord AND line_no = 4;
\endif
EOF
	fi
	cat <<'EOF'
INSERT INTO order_event ("order", type, from_status, to_status, reason, data, actor, created_at)
  VALUES (:ord, 'order.stock_reserved', NULL, NULL, NULL, '{"split": false}', 'system', now());
UPDATE sales_order SET status = 'ready', exception_reason = NULL, hold_queue = NULL, hold_reason = NULL,
    warehouse = :wh, updated_at = now()
  WHERE id = :ord AND status = 'reserved' RETURNING id;
INSERT INTO order_event ("order", type, from_status, to_status, reason, data, actor, created_at)
  VALUES (:ord, 'order.status_changed', 'reserved', 'ready', NULL, '{}', 'system', now());
EOF
	((stock_last)) && stock_updates
	echo 'COMMIT;'
} >"$script"

echo "pg_limit: pgbench -c $clients -j $jobs -T $duration (one transaction = one order = 3 DB transactions;" \
	"$skus SKUs, Zipf $zipf$( ((has_shipment)) && echo ", with shipment rows")$( ((stock_last)) && echo ", stock UPDATEs last")) …"
set +e
timeout $((duration + 120)) pgbench -n -M prepared -c "$clients" -j "$jobs" -T "$duration" -P 5 -r \
	-D nskus="$skus" -D zipf="$zipf" -D skubase="$sku_base" -D wh="$warehouse_id" -D channel="$channel_id" \
	-f "$script" "$scratch_url" >"$work/pgbench.out" 2>"$work/pgbench.err"
status=$?
set -e
grep -E '^progress:' "$work/pgbench.err" | sed 's/^/  /' || true
if ((status != 0)); then
	grep -vE '^progress:' "$work/pgbench.err" | tail -20 >&2
	cat "$work/pgbench.out" >&2
	die "pgbench failed (exit $status)"
fi

tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\).*/\1/p' "$work/pgbench.out")
[[ -n $tps ]] || {
	cat "$work/pgbench.out" >&2
	die "could not read tps from pgbench's output"
}
processed=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$work/pgbench.out")
failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' "$work/pgbench.out")
latency=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$work/pgbench.out")

# --- the run did what an order does: every order ready, stock reserved == what the lines hold
read -r ready other lines reserved_lines reserved_stock oversold < <(sql -F ' ' -c "
  SELECT (SELECT count(*) FROM sales_order WHERE status = 'ready'),
         (SELECT count(*) FROM sales_order WHERE status <> 'ready'),
         (SELECT count(*) FROM order_line),
         (SELECT coalesce(sum(reserved_qty), 0) FROM order_line),
         (SELECT coalesce(sum(reserved), 0) FROM stock_level),
         (SELECT count(*) FROM stock_level WHERE reserved > on_hand)")
hottest=$(sql -c "SELECT round(100.0 * max(reserved) / nullif(sum(reserved), 0), 1) FROM stock_level")

echo
echo "PostgreSQL limit for one order's SQL — PostgreSQL $server at $where, scratch database dropped at exit"
echo "  pgbench         $clients clients, $jobs threads, $duration s; $skus SKUs, Zipf $zipf (hottest SKU $hottest % of units)$( ((stock_last)) && echo "; stock UPDATEs last")"
echo "  orders          $processed processed, ${failed:-0} failed; $lines lines ($(awk -v l="$lines" -v o="$ready" 'BEGIN { printf "%.2f", (o ? l / o : 0) }') per order)"
echo "  latency         ${latency:-?} ms per order (3 transactions)"
echo "  tps             $tps orders/s"
echo "  orders/min the database can do: $(awk -v t="$tps" 'BEGIN { printf "%.0f", t * 60 }')"
echo "  check           ready $ready, other $other; stock reserved $reserved_stock = lines $reserved_lines; oversold rows $oversold"
echo
echo "  per statement (ms, from pgbench -r):"
sed -nE '/statement latencies in milliseconds/,$p' "$work/pgbench.out" | tail -n +2 | grep -vE '^\s*$' |
	awk '$1 ~ /^[0-9.]+$/ && $1 + 0 >= 0.05' | sed -E 's/^ +/    /' | cut -c1-130
if ((other != 0 || reserved_lines != reserved_stock || oversold != 0)); then
	echo "pg_limit: the script's result is inconsistent (see check above)" >&2
	exit 3
fi
