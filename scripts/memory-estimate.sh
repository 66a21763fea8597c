#!/usr/bin/env bash
# The memory estimate `run` prints against the peak it measures (maximum
# resident set size, from GNU time): every shipped scenario at 2
# replications on 2 threads, and large inputs made from the baseline, one
# day each, where one thing that takes memory is made large. Prints a
# Markdown table. Usage: scripts/memory-estimate.sh [BINARY] (default
# target/release/capsim; build it first with `cargo build --release`).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/capsim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The scenarios the large inputs extend.
cp scenarios/*.yaml "$work/"

measure() { # label, run arguments...
  local label=$1
  shift
  rm -rf "$work/out"
  /usr/bin/time -f "%M" -o "$work/rss" "$bin" run --allow-large --threads 2 --out "$work/out" "$@" \
    > "$work/stdout"
  local estimate peak
  estimate=$(grep -o "about [0-9]* MB of memory" "$work/stdout" | grep -o "[0-9]*")
  peak=$(( $(tail -1 "$work/rss") / 1000 ))
  awk -v l="$label" -v e="$estimate" -v p="$peak" \
    'BEGIN { printf "| %s | %d | %d | %.2f |\n", l, e, p, e / p }'
}

# A one-day copy of a scenario with one tier of `$3` users and the sed
# expressions that follow applied.
large() { # name, scenario, users, sed expressions...
  local name=$1 scenario=$2 users=$3
  shift 3
  sed -e "s/^name: .*/name: $name/" -e 's/^horizon: 30d /horizon: 1d /' \
    -e 's/^warmup: 1h /warmup: 0s /' -e 's/^costs:/costs:\n  allow_short_horizon: true/' \
    -e "s/^  - { name: \"Tier 1\", users: 100 }/  - { name: t, users: $users }/" \
    -e '/^  - { name: "Tier [234]"/d' "$@" "$scenario" > "$work/$name.yaml"
  echo "$work/$name.yaml"
}

echo "| input | estimated MB | measured peak MB | estimate / peak |"
echo "|---|---:|---:|---:|"
for scenario in scenarios/*.yaml scenarios/validation/*.yaml scenarios/bench/*.yaml \
  scenarios/sensitivity/*.yaml; do
  measure "$scenario" --replications 2 "$scenario"
done
base=scenarios/autorev-baseline.yaml
measure "2,000,000 abusive clients" --replications 1 "$(large abusive $base 1000 \
  -e 's/abusive_clients: .*/abusive_clients: { count: 2000000, rate: 1\/h, active_per_day: 1h, routes: [vin_decode] }/')"
measure "a burst x1000 for an hour" --replications 1 "$(large burst $base 1000 \
  -e 's/at: "day 3 19:00", duration: 20m, multiplier: 10 }/at: "day 1 12:00", duration: 1h, multiplier: 1000 }/')"
measure "10,000 AI messages per user a month" --replications 1 "$(large messages $base 100 \
  -e 's/per_user_per_month: 2.5 /per_user_per_month: 10000 /')"
measure "a 10-year horizon, 100 users" --replications 1 "$(large decade $base 100 \
  -e 's/^horizon: 1d/horizon: 3650d/')"
measure "10,000,000 CDN cache keys" --replications 1 "$(large keys $base 100 \
  -e '0,/keys: 300,/s//keys: 10000000,/')"
measure "1,000,000 users, 3 rate limiters" --replications 1 \
  "$(large limiters scenarios/autorev-rate-limits.yaml 1000000)"
