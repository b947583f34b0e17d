#!/usr/bin/env bash
# Mutation testing of the pure cores, outside CI (slow: minutes per module on 2 cores).
#
#   bash bench/mutation.sh [module ...]     default: all of the cores below
#
# mutmut (PyPI; 2.x, whose CLI takes the paths) goes into its own venv under .mutation/ so the
# project's venv is untouched. mutmut rewrites the module it mutates in place, so everything runs
# in a copy of the working tree (.mutation/tree-<module>, the project's .venv linked in): the checkout
# itself is never mutated. For each module it runs the unit tests that cover it and prints
# mutmut's results; the kill rate is killed / (total - equivalent survivors you have reviewed).
# `mutmut show N` (in .mutation/tree-<module>) prints a mutant.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

declare -A TESTS=(
  [driftmon/scoring/text.py]="tests/unit/test_text_metrics.py tests/unit/test_text_accents.py tests/unit/test_reading_order.py"
  [driftmon/pipeline.py]="tests/unit/test_queue_accounting.py tests/unit/test_server.py tests/unit/test_pipeline_listeners.py"
  [driftmon/images/decode.py]="tests/unit/test_images.py tests/unit/test_images_edges.py"
  [driftmon/sources/bounds.py]="tests/unit/test_bounds_core.py tests/unit/test_json_depth_scan.py"
  [driftmon/rules/engine.py]="tests/unit/test_rules_engine.py tests/unit/test_rules_evaluate.py"
)
modules=("$@")
[ ${#modules[@]} -eq 0 ] && modules=("${!TESTS[@]}")

if [ ! -x .mutation/venv/bin/mutmut ]; then
  python3 -m venv --system-site-packages .mutation/venv
  .mutation/venv/bin/pip install -q "mutmut>=2.4,<3"
fi
for module in "${modules[@]}"; do
  tests="${TESTS[$module]}"
  name=$(echo "$module" | tr / _)
  echo "== $module  ($tests)"
  # a tree per module, so several modules can run at once
  cd "$ROOT" && rm -rf ".mutation/tree-$name" && mkdir -p ".mutation/tree-$name"
  tar -C "$ROOT" --exclude=./.venv --exclude=./.git --exclude=./.mutation --exclude='*.egg-info' \
    --exclude=__pycache__ --exclude=./.hypothesis --exclude=./.mypy_cache -cf - . | tar -C ".mutation/tree-$name" -xf -
  ln -s "$ROOT/.venv" ".mutation/tree-$name/.venv"
  cd ".mutation/tree-$name"
  export PYTHONPATH="$PWD"
  "$ROOT/.mutation/venv/bin/mutmut" run --paths-to-mutate "$module" \
    --runner ".venv/bin/python -m pytest -x -q -p no:cacheprovider $tests" --no-progress || true
  "$ROOT/.mutation/venv/bin/mutmut" results | sed -n '1,60p'
  "$ROOT/.mutation/venv/bin/mutmut" junitxml > "$ROOT/.mutation/$name.xml" || true
done
