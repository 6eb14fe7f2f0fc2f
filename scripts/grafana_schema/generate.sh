#!/usr/bin/env bash
# Regenerates tests/data/grafana/dashboard.schema.json: the JSON Schema of a Grafana dashboard, derived from
# Grafana's published TypeScript types (npm @grafana/schema) with ts-json-schema-generator.
# The generated file is committed, so CI needs no npm; run this only to move to a newer Grafana schema
# (then bump SCHEMA_VERSION in include/fleet_grafana/panels.py to the package's defaultDashboard.schemaVersion).
#
#   bash scripts/grafana_schema/generate.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$work/"
cd "$work"
npm install --no-audit --no-fund --silent
npx ts-json-schema-generator \
  --path node_modules/@grafana/schema/dist/types/raw/dashboard/x/types.gen.d.ts \
  --type Dashboard --no-type-check --additional-properties \
  > "$repo/tests/data/grafana/dashboard.schema.json"
grep -o 'schemaVersion: [0-9]*' node_modules/@grafana/schema/dist/esm/raw/dashboard/x/types.gen.mjs
