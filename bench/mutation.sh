#!/usr/bin/env bash
# Mutation testing of the pure cores, outside CI (slow: minutes per module on 2 cores).
#
#   bash bench/mutation.sh [module ...]     default: all of the cores below
#
# mutmut (PyPI; 2.x, whose CLI takes the paths) goes into its own venv under .mutation/ so the
# project's venv is untouched. For each module it runs the unit tests that cover it and prints
# mutmut's results; the kill rate is killed / (total - equivalent survivors you have reviewed).
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A TESTS=(
  [driftmon/scoring/text.py]="tests/unit/test_text_metrics.py tests/unit/test_text_accents.py tests/unit/test_reading_order.py"
  [driftmon/pipeline.py]="tests/unit/test_queue_accounting.py tests/unit/test_server.py tests/unit/test_pipeline_listeners.py"
  [driftmon/images.py]="tests/unit/test_images.py tests/unit/test_door_bounds.py"
  [driftmon/sources/bounds.py]="tests/unit/test_door_bounds.py"
  [driftmon/rules/engine.py]="tests/unit/test_rules_engine.py tests/unit/test_rules_evaluate.py"
)
modules=("$@")
[ ${#modules[@]} -eq 0 ] && modules=("${!TESTS[@]}")

if [ ! -x .mutation/venv/bin/mutmut ]; then
  python3 -m venv --system-site-packages .mutation/venv
  .mutation/venv/bin/pip install -q "mutmut>=2.4,<3"
fi
export PYTHONPATH="$PWD"
for module in "${modules[@]}"; do
  tests="${TESTS[$module]}"
  echo "== $module  ($tests)"
  rm -f .mutmut-cache
  .mutation/venv/bin/mutmut run --paths-to-mutate "$module" \
    --runner ".venv/bin/python -m pytest -x -q -p no:cacheprovider $tests" --no-progress || true
  .mutation/venv/bin/mutmut results | sed -n '1,40p'
  .mutation/venv/bin/mutmut junitxml > ".mutation/$(echo "$module" | tr / _).xml" || true
done
