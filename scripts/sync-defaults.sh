#!/usr/bin/env bash
# Copy the shipped rule files and probe set into the package's embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f driftmon/defaults/rules/*.yaml
for f in rules/*.yaml; do
  case "$f" in *.test.yaml|rules/probes.yaml|rules/gate.yaml) continue ;; esac
  cp "$f" driftmon/defaults/rules/
done
cp rules/probes.yaml driftmon/defaults/probes.yaml
cp rules/gate.yaml driftmon/defaults/gate.yaml
