#!/usr/bin/env bash
# Records the refactoring corpus: runs a capsim binary on every shipped
# scenario (validation, bench and sensitivity ones included), each cut to at
# most 8 days and run with 2 replications, plus a sweep, a breakpoints
# search, a compare and a 2-shard run with its merge, and prints the SHA-256
# of every CSV and PNG written, one line per file, sorted by path.
#
# A change that claims to alter structure only must leave every line equal
# to the recorded corpus/hashes.sha256:
#
#   cargo build --release
#   corpus/record.sh target/release/capsim "$(mktemp -d)" > /tmp/hashes
#   diff corpus/hashes.sha256 /tmp/hashes && echo identical
#
# Shard part files are not hashed (their format may change); the reports
# `merge` writes from them are. Neither this script nor the recorded hashes
# are edited after they were first committed: an output that should change
# belongs to an issue that changes behaviour, not to a refactoring.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: corpus/record.sh CAPSIM_BINARY EMPTY_WORK_DIR" >&2
  exit 2
fi
capsim=$(realpath "$1")
work=$(realpath "$2")
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
mkdir -p "$work/cut" "$work/out"

# cut NAME SCENARIO: a file that extends SCENARIO with its horizon cut to 8
# days where it is longer.
cut() {
  local name=$1 scenario=$2 horizon
  horizon=$(grep -E '^horizon:' "$scenario" | awk '{print $2}' || true)
  {
    echo "extends: $repo/$scenario"
    case "$horizon" in
      30d | 10d | "") echo "horizon: 8d" ;;
    esac
  } > "$work/cut/$name.yaml"
}

# Every shipped scenario, cut, with its own output folder.
for scenario in scenarios/*.yaml scenarios/validation/*.yaml scenarios/bench/*.yaml \
  scenarios/sensitivity/*.yaml; do
  name=$(echo "${scenario#scenarios/}" | tr '/' '_')
  name=${name%.yaml}
  cut "$name" "$scenario"
  "$capsim" run "$work/cut/$name.yaml" --replications 2 --out "$work/out/run/$name" > /dev/null
done

# A sweep and a compare on the cut baseline and its pooler variant.
"$capsim" sweep "$work/cut/autorev-baseline.yaml" --users 100..100000 --points 4 \
  --replications 2 --out "$work/out/sweep" > /dev/null
"$capsim" compare "$work/cut/autorev-baseline.yaml" "$work/cut/autorev-pooler.yaml" \
  --replications 2 --out "$work/out/compare" > /dev/null

# A breakpoints search on its validation scenario, and one on the cut baseline.
"$capsim" breakpoints scenarios/validation/breakpoint-connections.yaml --users 100..5000 \
  --replications 4 --steps 3 --out "$work/out/breakpoints-validation" > /dev/null
"$capsim" breakpoints "$work/cut/autorev-baseline.yaml" --users 1000..100000 \
  --replications 2 --steps 1 --out "$work/out/breakpoints-baseline" > /dev/null

# Two shards of the cut Tier 4 scenario, merged.
for shard in 0 1; do
  "$capsim" run "$work/cut/autorev-tier4.yaml" --replications 2 --shard "$shard/2" \
    --out "$work/parts" > /dev/null
done
"$capsim" merge "$work"/parts/part-*-of-2.csv --out "$work/out/merged" > /dev/null

cd "$work/out"
find . -type f \( -name '*.csv' -o -name '*.png' \) -print0 | sort -z | xargs -0 sha256sum
