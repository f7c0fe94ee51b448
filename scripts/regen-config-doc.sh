#!/usr/bin/env bash
# Rewrite the option table in docs/configuration.md from `curfew config doc`
# (the part between the BEGIN/END markers); tests/integration/test_docs.py
# fails when the two differ.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CURFEW_BIN:-$ROOT/build/curfew}
DOC=$ROOT/docs/configuration.md
table=$(mktemp)
trap 'rm -f "$table"' EXIT
"$BIN" config doc > "$table"
awk -v t="$table" '
    /<!-- BEGIN curfew config doc -->/ { print; while ((getline l < t) > 0) print l; skip = 1; next }
    /<!-- END curfew config doc -->/ { skip = 0 }
    !skip' "$DOC" > "$DOC.new"
mv "$DOC.new" "$DOC"
