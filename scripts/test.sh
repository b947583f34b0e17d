#!/usr/bin/env bash
# Install everything (system packages, venv) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m ruff check driftmon tests bench client
.venv/bin/python -m mypy driftmon
.venv/bin/python -m pytest --durations=25 "$@"
