"""Whether a timm model can take an image size, and the adjustment that makes it take it.

timm's models are built for 224 px. At the 28–32 px of the paper's data sets many of them either
fail outright (a pooling or a convolution meets a map smaller than its kernel) or, worse, run and
mean nothing: once BatchNorm is swapped for instance norm in the classification stage, a feature
map that has shrunk to 1×1 is normalised to its bias, so every input gives the same output. A
grid must never report such a network's accuracy, so each (model, channels, size) is probed once:
the classification variant is built and run on two random images, and it must give finite
features that differ between them. If the plain model fails, timm's own dilation is tried
(``output_stride`` 16, then 8), which keeps every parameter and only stops downsampling early;
the first setting that passes is the one the factory builds with, and when none does, the reason
becomes the model's refusal for that input.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Mapping

import torch
from torch import nn

from dcbench import batchnorm_to_instancenorm

# Tried in order; the first that passes the probe is used. Dilation leaves the parameters (and so
# what is learned) unchanged and only keeps the late feature maps larger.
ADJUSTMENTS: tuple[Mapping[str, Any], ...] = ({}, {"output_stride": 16}, {"output_stride": 8})

# Pooled features whose difference between the two probe images (standard normal noise) is under
# MIN_SENSITIVITY of their magnitude, or under MIN_SPREAD at all, are taken as constant. Measured in
# float64: working backbones differ by 8–100% of a magnitude of 0.2–5 (efficientnet_b0 at output
# stride 16 is the lowest seen, about 8%). Degenerate ones give rounding noise: features of 1e-13
# that differ by as much (resnet18, regnetx_002 on 1×1 maps, where ReLU of the normalised map is
# zero), or of 1e-85 (efficientnet_b0), or differences of 7e-4 of the magnitude (mobilenetv3 on 2×2
# maps, where instance norm, hard-swish and average pooling leave only the norm's epsilon to depend
# on the input).
MIN_SENSITIVITY = 1e-2
MIN_SPREAD = 1e-6

PROBE_CLASSES = 10
PROBE_SEED = 0


@dataclass(frozen=True)
class Fit:
    """How to build a model for one input shape: extra timm keyword arguments, or why it cannot."""

    kwargs: Mapping[str, Any] = field(default_factory=dict)
    refusal: str | None = None


def create(model: str, *, in_chans: int, num_classes: int, img_size: int, **extra: Any) -> nn.Module:
    """``timm.create_model`` without pretrained weights, with ``img_size`` for the models that take it
    (ViTs and the others whose position embeddings or windows depend on the input size).

    timm's model functions take ``**kwargs`` and hand them to the model class, so the only way to know
    whether a model takes ``img_size`` is to try; a class without it raises before allocating anything.
    """
    import timm

    kwargs = {"pretrained": False, "in_chans": in_chans, "num_classes": num_classes, **extra}
    if model not in _NO_IMG_SIZE:
        try:
            return timm.create_model(model, img_size=img_size, **kwargs)
        except TypeError as exc:
            if not _rejects_argument(exc, "img_size"):
                raise
            _NO_IMG_SIZE.add(model)
    return timm.create_model(model, **kwargs)


_NO_IMG_SIZE: set[str] = set()


def _rejects_argument(exc: Exception, name: str) -> bool:
    return isinstance(exc, TypeError) and f"unexpected keyword argument '{name}'" in str(exc)


@cache
def fit(model: str, in_chans: int, img_size: int) -> Fit:
    """The first adjustment under which ``model``'s classification variant works at this input shape.

    Cached per process: the grid asks once per network and data set before anything runs, and the
    factory asks again (for free) every time it builds.
    """
    first_problem = None
    for extra in ADJUSTMENTS:
        with torch.random.fork_rng(devices=[]):  # the probe must not move the caller's RNG state
            torch.default_generator.manual_seed(PROBE_SEED)  # not torch.manual_seed: it reseeds CUDA too
            try:
                net = create(model, in_chans=in_chans, num_classes=PROBE_CLASSES, img_size=img_size, **extra)
            except Exception as exc:  # noqa: BLE001 - a model that cannot be built for this input
                if _rejects_argument(exc, "output_stride"):
                    return Fit(refusal=f"{first_problem}, and timm's {model} takes no output_stride to keep its "
                                       "feature maps larger")
                problem = f"timm cannot build it for {_shape(in_chans, img_size)} input{_settings(extra)} " \
                          f"({_one_line(exc)})"
            else:
                problem = _probe(net, in_chans, img_size)
        if problem is None:
            return Fit(kwargs=dict(extra))
        first_problem = first_problem or problem
    return Fit(refusal=f"{first_problem}, and output_stride 16 or 8 does not fix it")


def _probe(net: nn.Module, in_chans: int, img_size: int) -> str | None:
    """Why the classification variant of ``net`` is useless on this input shape, or None."""
    shape = _shape(in_chans, img_size)
    net = batchnorm_to_instancenorm(net).eval().double()
    images = torch.randn(2, in_chans, img_size, img_size, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(PROBE_SEED))
    try:
        with torch.no_grad():
            maps, features, logits = _forward(net, images)
    except Exception as exc:  # noqa: BLE001 - any failure of the forward pass is the refusal's reason
        return f"it cannot take {shape} input ({_one_line(exc)})"
    if logits.shape != (2, PROBE_CLASSES) or not bool(torch.isfinite(logits).all()):
        return f"it gives no finite (N, classes) logits for {shape} input (got shape {tuple(logits.shape)})"
    features = features.flatten(1)
    spread = float((features[0] - features[1]).abs().max())
    scale = float(features.abs().max())
    if spread > max(MIN_SENSITIVITY * scale, MIN_SPREAD):
        return None
    last = "×".join(map(str, maps.shape[1:]))
    why = "instance norm of a 1×1 map returns its bias" if maps.ndim == 4 and maps.shape[-2:] == (1, 1) else \
        "instance norm leaves its features almost independent of the input"
    return f"at {shape} its instance-norm variant gives the same output for every input " \
           f"(last feature map {last}: {why})"


def _forward(net: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Last feature map, pooled features and logits, through timm's forward_features/forward_head split."""
    head = getattr(net, "forward_head", None)
    if callable(getattr(net, "forward_features", None)) and callable(head) and \
            "pre_logits" in inspect.signature(head).parameters:
        maps = net.forward_features(images)
        return maps, head(maps, pre_logits=True), head(maps)
    logits = net(images)
    return logits, logits, logits


def _settings(extra: Mapping[str, Any]) -> str:
    return "".join(f" with {k}={v}" for k, v in extra.items())


def _shape(in_chans: int, img_size: int) -> str:
    return f"{in_chans}×{img_size}×{img_size}"


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
