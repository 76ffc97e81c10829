#!/usr/bin/env bash
# Load test of the reference shop on loopback with wrk (Debian package `wrk`): recommendations for a
# signed-in customer, catalog search, checkout (a fresh Idempotency-Key per request), and the web
# storefront's home, product and search pages (guest and signed in). Prints one
# table: requests/s, p50, p99, non-2xx. Server and wrk share this machine's cores.
#   benches/shop/load.sh                  (DURATION=15s CONNECTIONS=64 THREADS=2 by default)
#   BACKEND=postgres benches/shop/load.sh (the same on a throw-away PostgreSQL cluster, scripts/pg-test-cluster,
#                                          with fsync on and synchronous_commit off: SQLite's WAL + NORMAL)
#   BACKEND=postgres REPLICAS=2 benches/shop/load.sh (then also search and checkout spread over two shop
#                                          processes on that database: two wrk runs at once, half the
#                                          connections each; requests/s summed, p50/p99 the worse of the two)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PORT=${PORT:-18181}
BACKEND=${BACKEND:-sqlite}
REPLICAS=${REPLICAS:-1}
command -v wrk >/dev/null || { echo "load.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release --locked -q -p shopml-shop
bin="${CARGO_TARGET_DIR:-target}/release/shopml-shop"
dir=$(mktemp -d)
pid=""
pid2=""
pgdir=""
cleanup() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
  [ -n "$pid2" ] && { kill "$pid2" 2>/dev/null; wait "$pid2" 2>/dev/null || true; }
  [ -n "$pgdir" ] && { scripts/pg-test-cluster stop "$pgdir" || true; rm -rf "$pgdir"; }
  rm -rf "$dir"
}
trap cleanup EXIT
case "$BACKEND" in
  sqlite) database="$dir/shop.db" ;;
  postgres)
    pgdir=$(mktemp -d /tmp/shopml-pg.XXXXXX)
    server=$(PG_FSYNC=on scripts/pg-test-cluster start "$pgdir")
    psql "$server/postgres" -qc "CREATE DATABASE shop_load"
    database="$server/shop_load" ;;
  *) echo "load.sh: BACKEND is sqlite or postgres, not $BACKEND" >&2; exit 2 ;;
esac
case "$BACKEND/$REPLICAS" in
  sqlite/1 | postgres/1 | postgres/2) ;;
  *) echo "load.sh: REPLICAS is 1, or 2 with BACKEND=postgres" >&2; exit 2 ;;
esac
# A shop on port $1 (log $2), in the background; waits until it answers. The API rate limit stays on,
# set above the offered load, so its cost is part of the figures.
start_shop() {
  SHOP_BIND=127.0.0.1:$1 SHOP_DATABASE="$database" SHOP_CHAT=false SHOP_RATE_API_PER_SEC=100000000 \
    SHOP_RATE_API_BURST=100000000 SHOP_RATE_LOGIN_PER_MIN=1000 RUST_LOG=warn "$bin" >"$2" 2>&1 &
  started=$!
  for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$1/health" >/dev/null && break; sleep 0.2; done
}
start_shop "$PORT" "$dir/log"
pid=$started
base=http://127.0.0.1:$PORT
login() {
  curl -fs -X POST "$base/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"demo-password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
TOKEN=$(login customer@demo.shop)
ADMIN=$(login admin@demo.shop)
export TOKEN
for p in $(seq 1 100); do
  curl -fs -X PATCH "$base/products/$p" -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' \
    -d '{"stock": 1000000000}' >/dev/null
done

results=()
run() { # name, wrk args...
  local name=$1; shift
  local out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@")
  echo "$out" >&2
  local rps p50 p99 bad
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx or 3xx responses/ {print $5}' <<<"$out")
  results+=("$(printf '%-34s %12s %10s %10s %8s' "$name" "$rps" "$p50" "$p99" "${bad:-0}")")
}
wrk -t1 -c8 -d2s -H "Authorization: Bearer $TOKEN" "$base/recommendations?k=10" >/dev/null # warm-up
run "GET /recommendations (customer)" -H "Authorization: Bearer $TOKEN" "$base/recommendations?k=10"
run "GET /recommendations (anonymous)" "$base/recommendations?k=10"
run "GET /products/{id}/similar" "$base/products/10/similar?k=10"
run "GET /products (search, 8 queries)" -s benches/shop/search.lua "$base"
run "POST /checkout (1 unit, new key)" -s benches/shop/checkout.lua "$base"
# The web storefront's pages (server-rendered HTML) beside the JSON endpoints they show.
run "page GET / (guest)" "$base/"
run "page GET / (customer)" -H "Cookie: session=$TOKEN" "$base/"
run "page GET /item/{id} (guest)" "$base/item/10"
run "page GET /item/{id} (customer: a view)" -H "Cookie: session=$TOKEN" "$base/item/10"
run "page GET /item/1..100 (customer)" -H "Cookie: session=$TOKEN" -s benches/shop/items.lua "$base"
run "page GET /search?q=heart (guest)" "$base/search?q=heart"
run "GET /products/{id} (customer: a view)" -H "Authorization: Bearer $TOKEN" "$base/products/10"
if [ "$REPLICAS" = 2 ]; then
  start_shop $((PORT + 1)) "$dir/log2"
  pid2=$started
  base2=http://127.0.0.1:$((PORT + 1))
  run2() { # name, wrk args (the URL last: the second run gets the second replica's)
    local name=$1; shift
    local args=("${@:1:$#-1}")
    KEY_PREFIX=a wrk -t1 -c$((CONNECTIONS / 2)) -d"$DURATION" --latency "${args[@]}" "$base" >"$dir/w1" &
    local w1=$!
    KEY_PREFIX=b wrk -t1 -c$((CONNECTIONS / 2)) -d"$DURATION" --latency "${args[@]}" "$base2" >"$dir/w2"
    wait "$w1"
    cat "$dir/w1" "$dir/w2" >&2
    results+=("$(python3 - "$name" "$dir/w1" "$dir/w2" <<'PY'
import re, sys
def ms(v):
    n, u = re.match(r"([\d.]+)(\w+)", v).groups()
    return float(n) * {"us": 1e-3, "ms": 1, "s": 1e3}[u]
rps, p50, p99, bad = 0.0, 0.0, 0.0, 0
for f in sys.argv[2:]:
    t = open(f).read()
    rps += float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p50 = max(p50, ms(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1)))
    p99 = max(p99, ms(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1)))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    bad += int(m.group(1)) if m else 0
print(f"{sys.argv[1]:<34} {rps:12.2f} {p50:8.2f}ms {p99:8.2f}ms {bad:8d}")
PY
)")
  }
  run2 "GET /products (search, 2 replicas)" -s benches/shop/search.lua "$base"
  run2 "POST /checkout (2 replicas)" -s benches/shop/checkout.lua "$base"
fi
orders=$(curl -fs -H "authorization: Bearer $ADMIN" "$base/metrics" | awk '/^shop_orders_paid_total/ {print $2}')
echo
echo "$BACKEND: wrk -t$THREADS -c$CONNECTIONS -d$DURATION on loopback, $(nproc) cores shared by server, database and wrk"
printf '%-34s %12s %10s %10s %8s\n' "endpoint" "requests/s" "p50" "p99" "non-2xx"
printf '%s\n' "${results[@]}"
echo "orders paid during the checkout run(s), counted by the first replica: ${orders:-?}"
