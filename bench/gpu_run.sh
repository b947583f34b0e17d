#!/usr/bin/env bash
# One GPU session's measuring, in one call. Not a test.
#
# Prepare here, once (project venv active, from the repo root):
#   echo /.gpu-kit/ >> .git/info/exclude
#   (the GPU host has no network: put wheels of what its Python lacks, e.g. rapidfuzz and
#   pytest-timeout, in .gpu-kit/whl with `pip download --only-binary :all: -d .gpu-kit/whl ...`)
#   python -m driftmon.scoring.engine.cli export --fp16 .gpu-kit/models   # adds SHA256SUMS
# Try it here on the CPU with tiny sizes:
#   bash bench/gpu_run.sh --device cpu --n 4 --size 256
# On the GPU host (run tool, carry .gpu-kit, timeout ~540 s):
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu-kit/whl/*.whl \
#     && export PYTHONPATH=/tmp/site:$PWD; bash bench/gpu_run.sh
#
# Prints: the GPU equivalence and peak-memory tests, bench/ocr_engine.py at 512² and 1024²
# (readtext vs engine, same run), the detector in fp32 vs fp16 and the recogniser in fp16
# (agreement), and CRAFT alone eager vs torch.compile / CUDA graphs.
set -uo pipefail
cd "$(dirname "$0")/.."

device=cuda
n=128
sizes="512 1024"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --size) sizes=$2; shift 2 ;;
    *) echo "usage: $0 [--device cuda|cpu] [--n N] [--size S]" >&2; exit 2 ;;
  esac
done

models=${OCR_TEST_MODEL_DIR:-.gpu-kit/models}
model_args=()
if [ -f "$models/SHA256SUMS" ] || [ -f "$models/craft_mlt_25k.pth" ]; then
  export OCR_TEST_MODEL_DIR=$models
  model_args=(--model-dir "$models")
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python3 --version
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
[ "$device" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
status=0
step() { echo; echo "== $*"; "$@" || { echo "!! failed ($?): $*"; status=1; }; }

step timeout 300 python3 -m pytest -q -p no:cacheprovider -rs tests/gpu/test_ocr_engine_gpu.py

for size in $sizes; do
  count=$n
  [ "$size" -ge 1024 ] && count=$(( n / 2 ))
  batch=32
  [ "$size" -ge 1024 ] && batch=16
  step timeout 300 python3 bench/ocr_engine.py --device "$device" --n "$count" --size "$size" \
    --batch "$batch" "${model_args[@]}"
done

first=${sizes%% *}
if [ "$device" = cuda ]; then
  step timeout 200 python3 bench/ocr_engine.py --device cuda --n "$n" --size "$first" \
    --detector-dtype fp32 "${model_args[@]}"
  step timeout 200 python3 bench/ocr_engine.py --device cuda --n "$n" --size "$first" \
    --recognizer-dtype fp16 "${model_args[@]}"
  step timeout 120 python3 bench/craft_forward.py --device cuda --size "$first" --batch 16 "${model_args[@]}"
  step timeout 240 python3 bench/craft_forward.py --device cuda --size "$first" --batch 16 \
    --compile reduce-overhead "${model_args[@]}"
else
  step timeout 300 python3 bench/craft_forward.py --device cpu --size "$first" --batch 2 --dtype fp32 \
    --iters 2 "${model_args[@]}"
fi
exit $status
