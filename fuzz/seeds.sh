#!/usr/bin/env bash
# Regenerate fuzz/seeds/ from the repository's own inputs: the bank example,
# the standard library and the case projects (tests/cases/*/); for the flow-log
# readers, the public samples (analysis/seg-flows/tests/data/) and a small
# record set rendered in every format (the seg-flows example fuzz_seeds); for
# the aggregated reader, the results in analysis/seg-audit/tests/data/aggregated/.
# Run from anywhere; rewrites fuzz/seeds/ completely.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seeds="$root/fuzz/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"/{parse,inventory,manifest,check}
nul() { printf '\0'; }

# parse: every .seg file.
cp "$root/examples/bank/policy/payments.seg" "$seeds/parse/bank-payments.seg"
for f in "$root"/stdlib/std/*.seg; do cp "$f" "$seeds/parse/std-$(basename "$f")"; done
for dir in "$root"/tests/cases/*/; do
  case_name="$(basename "$dir")"
  for f in $(cd "$dir" && find policy -name '*.seg' 2>/dev/null | sort); do
    cp "$dir/$f" "$seeds/parse/$case_name-$(echo "$f" | tr / -)"
  done
done

# manifest: every seg.toml.
cp "$root/examples/bank/seg.toml" "$seeds/manifest/bank.toml"
for dir in "$root"/tests/cases/*/; do
  [ -f "$dir/seg.toml" ] && cp "$dir/seg.toml" "$seeds/manifest/$(basename "$dir").toml"
done

# inventory: every inventory file, plus two-file inputs (NUL-separated) that
# put the attribute declarations and the identities in different files.
cp "$root/examples/bank/inventory.yaml" "$seeds/inventory/bank.yaml"
for dir in "$root"/tests/cases/*/; do
  for f in $(cd "$dir" && find . -maxdepth 2 \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort); do
    cp "$dir/$f" "$seeds/inventory/$(basename "$dir")-$(basename "$f")"
  done
done
bank="$root/examples/bank/inventory.yaml"
split_at="$(grep -n '^identities:' "$bank" | cut -d: -f1)"
{ head -n $((split_at - 1)) "$bank"; nul; echo "version: 1"; tail -n +"$split_at" "$bank"; } > "$seeds/inventory/bank-split"
{ cat "$bank"; nul; cat "$bank"; } > "$seeds/inventory/bank-twice"

# check: the policy alone (fixed inventory) and policy NUL inventory.
cp "$root/examples/bank/policy/payments.seg" "$seeds/check/bank-fixed-inventory"
{ cat "$root/examples/bank/policy/payments.seg"; nul; cat "$bank"; } > "$seeds/check/bank"
for f in "$root"/stdlib/std/*.seg; do cp "$f" "$seeds/check/std-$(basename "$f")"; done
for dir in "$root"/tests/cases/*/; do
  inv="$dir/inventory.yaml"
  policy="$(cd "$dir" && find policy -name '*.seg' 2>/dev/null | sort | head -n 1)"
  [ -n "$policy" ] && [ -f "$inv" ] || continue
  { cat "$dir/$policy"; nul; cat "$inv"; } > "$seeds/check/$(basename "$dir")"
done
# emit: policy NUL inventory of the projects that build (the bank example,
# the istio L7 project, the case projects).
mkdir -p "$seeds/emit"
cp "$seeds/check/bank" "$seeds/emit/bank"
l7="$root/tests/tests/istio/l7"
{ cat "$l7/policy/l7.seg"; nul; cat "$l7/inventory.yaml"; } > "$seeds/emit/istio-l7"
for dir in "$root"/tests/cases/W*/; do
  [ -f "$seeds/check/$(basename "$dir")" ] && cp "$seeds/check/$(basename "$dir")" "$seeds/emit/"
done
# flows_*: the public samples of each format, then every format rendered.
data="$root/analysis/seg-flows/tests/data"
mkdir -p "$seeds"/flows_{aws,parquet,gcp,hubble,azure,seg}
cp "$data"/aws-*.log "$seeds/flows_aws/"
cp "$data"/gcp-*.json "$seeds/flows_gcp/"
cp "$data"/hubble-*.json "$seeds/flows_hubble/"
cp "$data"/azure-*.json "$seeds/flows_azure/"
(cd "$root" && cargo run -q -p seg-flows --example fuzz_seeds -- "$seeds")
# flows_aggregated: the emitted SQL's results the seg-audit tests read.
mkdir -p "$seeds/flows_aggregated"
cp "$root"/analysis/seg-audit/tests/data/aggregated/* "$seeds/flows_aggregated/"

echo "seeds: $(find "$seeds" -type f | wc -l) files in $seeds"
