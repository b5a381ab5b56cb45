#!/usr/bin/env bash
# tests/bench/federation.sh [--seconds S] [--connections C] [--gateways LIST]
#   - `scripts/bench --federation`.
#
# The federation gateways over the same test subgraphs (tests/federation: accounts, products,
# reviews, inventory), driven by wrk with the three queries of tests/federation/
# bench-queries.mjs: one service; two services with a list of 10 entities; three services
# with nested lists. For each gateway and query: requests/s, p50 and p99 latency, and the
# gateway process's CPU milliseconds per request (utime + stime from /proc, before and
# after), which is what the gateway costs apart from the subgraphs. Gateways: Ramjet's
# (ramjet-gateway --app none), @mercuriusjs/gateway, @apollo/gateway and @graphql-hive/gateway
# (tests/bench/hive, installed on first use), each alone in its process, one after the other;
# --gateways ramjet,mercurius picks some of them (default all), which is what iterating on one
# gateway wants. Before timing, each gateway's answer to each query must equal the first
# gateway's (keys sorted), so that every gateway is measured doing the same work. Prints a
# table; never fails on timing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=10
connections=16
gateways=ramjet,mercurius,apollo,hive
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        --connections) connections=$2; shift 2 ;;
        --gateways) gateways=$2; shift 2 ;;
        *) echo "tests/bench/federation.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
IFS=, read -r -a gateways <<<"$gateways"
for gw in "${gateways[@]}"; do
    case $gw in
        ramjet | mercurius | apollo | hive) ;;
        *) echo "tests/bench/federation.sh: unknown gateway $gw (ramjet, mercurius, apollo, hive)" >&2; exit 2 ;;
    esac
done
build=${RAMJET_BUILD_DIR:-$root/build}
fed=$root/tests/federation
for tool in wrk jq; do
    command -v $tool >/dev/null || { echo "$tool not found: apt-get install $tool" >&2; exit 2; }
done
if [ ! -d "$fed/node_modules/@apollo/gateway" ] || [ "$fed/package-lock.json" -nt "$fed/node_modules/.package-lock.json" ]; then
    (cd "$fed" && npm ci --no-audit --no-fund --loglevel=error)
fi
hive=$root/tests/bench/hive
if [ ! -d "$hive/node_modules/@graphql-hive/gateway-runtime" ] || [ "$hive/package-lock.json" -nt "$hive/node_modules/.package-lock.json" ]; then
    (cd "$hive" && npm ci --no-audit --no-fund --loglevel=error)
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# Waits for a line matching REGEX in FILE (up to 60 s) and prints it.
wait_line() {
    local file=$1 regex=$2 i line
    for ((i = 0; i < 600; i++)); do
        line=$(grep -E -m1 "$regex" "$file" 2>/dev/null || true)
        if [ -n "$line" ]; then printf '%s\n' "$line"; return 0; fi
        sleep 0.1
    done
    echo "no /$regex/ in $file:" >&2
    cat "$file" >&2
    return 1
}

# CPU time of a process so far, in clock ticks (utime + stime).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

config=$tmp/gateway.json
node "$fed/serve.mjs" "$config" >"$tmp/serve.out" 2>&1 &
pids+=($!)
wait_line "$tmp/serve.out" '^\{"services"' >/dev/null

# The queries as wrk request bodies.
node --input-type=module -e "
import { BENCH_QUERIES } from '$fed/bench-queries.mjs';
import { writeFileSync } from 'node:fs';
for (const q of BENCH_QUERIES) writeFileSync('$tmp/' + q.name + '.json', q.body);
console.log(BENCH_QUERIES.map((q) => q.name).join(' '));
" >"$tmp/queries"
read -r -a queries <"$tmp/queries"

cat >"$tmp/post.lua" <<'LUA'
local f = assert(io.open(os.getenv("BENCH_BODY"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("BENCH requests=%d errors=%d p50_us=%d p99_us=%d\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
LUA

start_gateway() {
    local name=$1 out=$tmp/$1.out
    case $name in
        ramjet)
            RAMJET_APP=none RAMJET_GATEWAY_CONFIG=$config RAMJET_HTTP_PORT=57300 RAMJET_HEALTH_PORT=57301 \
                RAMJET_LOG_LEVEL=warn "$build/bin/ramjet-gateway" >"$out" 2>&1 &
            gw_pid=$!
            pids+=("$gw_pid")
            for _ in $(seq 1 100); do
                curl -fs -o /dev/null http://127.0.0.1:57301/readyz && break
                sleep 0.1
            done
            gw_url=http://127.0.0.1:57300/graphql ;;
        hive)
            node "$hive/hive.mjs" "$config" >"$out" 2>&1 &
            gw_pid=$!
            pids+=("$gw_pid")
            gw_url=$(wait_line "$out" 'READY graphql=' | sed -E 's/.*READY graphql=([^ ]+).*/\1/') ;;
        *)
            node "$fed/references.mjs" "$config" --ready "$name" >"$out" 2>&1 &
            gw_pid=$!
            pids+=("$gw_pid")
            gw_url=$(wait_line "$out" 'READY graphql=' | sed -E 's/.*READY graphql=([^ ]+).*/\1/') ;;
    esac
}

printf '%s\n' "federation bench: ${seconds} s per run, ${connections} connections, wrk 2 threads; $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
printf '%-10s %-28s %10s %9s %9s %14s\n' gateway query 'req/s' 'p50 ms' 'p99 ms' 'gw CPU ms/req'
# The answer of gateway $1 to query $2, keys sorted, in $tmp/$1.$2.answer.
answer() {
    curl -fsS -H 'Content-Type: application/json' --data-binary "@$tmp/$2.json" "$gw_url" |
        jq -S . >"$tmp/$1.$2.answer"
}

reference=${gateways[0]}
for gw in "${gateways[@]}"; do
    start_gateway "$gw"
    for q in "${queries[@]}"; do
        answer "$gw" "$q"
        if ! cmp -s "$tmp/$reference.$q.answer" "$tmp/$gw.$q.answer"; then
            printf '%-10s %-28s answers differently from %s; not timed:\n' "$gw" "$q" "$reference"
            diff "$tmp/$reference.$q.answer" "$tmp/$gw.$q.answer" | head -20
            continue
        fi
        BENCH_BODY=$tmp/$q.json wrk -t1 -c4 -d2s -s "$tmp/post.lua" "$gw_url" >/dev/null # warm-up
        before=$(cpu_ticks "$gw_pid")
        line=$(BENCH_BODY=$tmp/$q.json wrk -t2 -c"$connections" -d"${seconds}s" -s "$tmp/post.lua" "$gw_url" | grep '^BENCH')
        after=$(cpu_ticks "$gw_pid")
        eval "${line#BENCH }"
        awk -v gw="$gw" -v q="$q" -v n="$requests" -v e="$errors" -v s="$seconds" -v p50="$p50_us" -v p99="$p99_us" \
            -v ticks=$((after - before)) -v hz="$hz" 'BEGIN {
                cpu = n > 0 ? ticks * 1000 / hz / n : 0
                note = e > 0 ? "  (" e " errors)" : ""
                printf "%-10s %-28s %10.0f %9.2f %9.2f %14.3f%s\n", gw, q, n / s, p50 / 1000, p99 / 1000, cpu, note }'
    done
    kill "$gw_pid" 2>/dev/null || true
    wait "$gw_pid" 2>/dev/null || true
done
