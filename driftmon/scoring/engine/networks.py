"""EasyOCR's networks (its own classes) built from state dicts and prepared for inference."""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval

#: english_g2's network shape (EasyOCR's `generation2` parameters)
RECOGNIZER_SHAPE = {"input_channel": 1, "output_channel": 256, "hidden_size": 256}

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def fold_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """Fold every BatchNorm that directly follows a Conv2d in a Sequential into the conv.

    Inference only: it saves a pass over each activation and changes outputs by ~1e-7.
    """
    for child in module.children():
        if isinstance(child, torch.nn.Sequential):
            layers = list(child)
            for i, (conv, norm) in enumerate(itertools.pairwise(layers)):
                if isinstance(conv, torch.nn.Conv2d) and isinstance(norm, torch.nn.BatchNorm2d):
                    child[i] = fuse_conv_bn_eval(conv, norm)
                    child[i + 1] = torch.nn.Identity()
        fold_batchnorm(child)
    return module


def craft(state: dict[str, torch.Tensor], device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """EasyOCR's CRAFT with these weights, BatchNorm folded, channels-last, in `dtype`."""
    from easyocr.craft import CRAFT

    net = CRAFT()
    net.load_state_dict(state)
    net = fold_batchnorm(net.eval()).to(device=device, dtype=dtype)
    return net.to(memory_format=torch.channels_last)


class Recognizer:
    """EasyOCR's generation-2 recogniser, run as its `Model.forward` in two steps.

    Quantised (CPU, as readtext): LSTM and Linear layers int8 with dynamic scales, which are
    taken over each call's whole input, so the sequence layers see one crop per call; the
    convolutions, most of the work, still run batched and in readtext's layout, which keeps
    readtext's numbers to ~1e-7 (channels-last or folded BatchNorm would shift the int8
    rounding and with it confidences by up to 0.25). Not quantised (CUDA): BatchNorm folded,
    channels-last, one call for the batch.
    """

    def __init__(self, net: Any, quantized: bool) -> None:
        self.net = net
        self.quantized = quantized

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if not self.quantized:
            x = x.contiguous(memory_format=torch.channels_last)
        features = self.net.FeatureExtraction(x)
        visual = self.net.AdaptiveAvgPool(features.permute(0, 3, 1, 2)).squeeze(3)
        if not self.quantized:
            return self._sequence(visual)
        return torch.cat([self._sequence(visual[row : row + 1]) for row in range(len(visual))])

    def _sequence(self, visual: torch.Tensor) -> torch.Tensor:
        contextual = self.net.SequenceModeling(visual)
        logits: torch.Tensor = self.net.Prediction(contextual.contiguous())
        return logits


def recognizer(
    state: dict[str, torch.Tensor],
    num_class: int,
    device: torch.device,
    dtype: torch.dtype,
    quantize: bool,
) -> Recognizer:
    """The recogniser with these weights: int8-quantised as readtext does (`quantize`, CPU),
    or in `dtype` on `device` with BatchNorm folded and channels-last."""
    from easyocr.model.vgg_model import Model

    net = Model(num_class=num_class, **RECOGNIZER_SHAPE)
    net.load_state_dict(state)
    net.eval()
    if quantize:
        with warnings.catch_warnings():
            # torch 2.x deprecates torch.ao.quantization (for torchao); readtext still uses it
            warnings.filterwarnings("ignore", "torch.ao.quantization", DeprecationWarning)
            quantized = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
                net, dtype=torch.qint8
            )
        return Recognizer(quantized, quantized=True)
    fold_batchnorm(net.FeatureExtraction)
    net = net.to(device=device, dtype=dtype)
    net.FeatureExtraction.to(memory_format=torch.channels_last)
    return Recognizer(net, quantized=False)
