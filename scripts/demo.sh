#!/usr/bin/env bash
# Install everything, then run `driftmon demo`: a synthetic generator, the daemon, a model swap.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/driftmon demo "$@"
