"""CRAFT forward alone (not a test): eager against torch.compile, to decide whether compiling pays.

    python bench/craft_forward.py [--device cpu|cuda] [--size S] [--batch B] [--dtype fp16]
                                  [--compile none|default|reduce-overhead] [--iters N]

Builds the engine's detector network (BatchNorm folded, channels-last) from EasyOCR's weights
(or --model-dir), runs random batches of S×S and prints images/s, the largest difference of
the heat maps from eager fp32, and the compile time. `reduce-overhead` uses CUDA graphs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from driftmon.scoring.engine import networks
from driftmon.scoring.engine.weights import load_state_dict, locate_weights
from driftmon.scoring.ocr import default_model_dir


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--dtype", choices=tuple(networks.DTYPES), default="fp16")
    parser.add_argument("--compile", choices=("none", "default", "reduce-overhead"), default="none")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    state = load_state_dict(locate_weights(args.model_dir or default_model_dir(), verify=False).detector)
    dtype = networks.DTYPES[args.dtype]
    net = networks.craft(state, device, dtype)
    reference = networks.craft(state, device, torch.float32)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device).contiguous(
        memory_format=torch.channels_last
    )
    run = net if args.compile == "none" else torch.compile(net, mode=args.compile)
    with torch.inference_mode():
        start = time.perf_counter()
        for _ in range(3):
            out = run(x.to(dtype))[0]
        sync(device)
        warm = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(args.iters):
            out = run(x.to(dtype))[0]
        sync(device)
        elapsed = time.perf_counter() - start
        gap = (out.float() - reference(x)[0]).abs().max().item()
    rate = args.iters * args.batch / elapsed
    print(
        f"craft {args.size}² batch {args.batch} {args.dtype} compile={args.compile}: "
        f"{rate:.1f} images/s, max |Δ heat map| vs fp32 eager {gap:.4f}, warm-up {warm:.1f} s"
    )


if __name__ == "__main__":
    main()
