"""timm backbones as the ``timm:`` name space: ``timm:resnet18``, ``timm:efficientnet_b0``, …

Every model of ``timm.list_models()`` is a network here without being registered one by one: the
registry hands the part after ``timm:`` to :data:`namespace`. A name stands for the paper's two
stage variants (docs/settings.md, "Stage variants"): the synthesis variant is timm's model as built,
whose BatchNorm layers dcbench fills with statistics of real images and freezes; the
classification variant has every BatchNorm swapped for instance norm (timm's fused norm-activation
layers keep their activation). Models are built with ``pretrained=False`` and the data set's
channels, classes and, where the model takes it, image size.

Small images need care: which models work at 28 and 32 px, and how, is decided by a probe
(:mod:`dcbench_timm.fit`) that refuses a model with the reason, or builds it dilated
(``output_stride``), instead of ever training a net whose output ignores its input.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from torch import nn

from dcbench import Architecture, ArchSpec, RegistryError, UserError, batchnorm_to_instancenorm, unknown_message
from dcbench_timm.fit import ADJUSTMENTS, Fit, create, fit

PREFIX = "timm"
NORMS = ("batch", "instance")


@dataclass(frozen=True)
class TimmSpec(ArchSpec):
    """An ArchSpec whose refusal also asks the probe whether the model works at the input shape."""

    model: str = ""

    def refusal(self, *, in_chans: int, img_size: int) -> str | None:
        return super().refusal(in_chans=in_chans, img_size=img_size) or fit(self.model, in_chans, img_size).refusal


def build(*, in_chans: int, num_classes: int, img_size: int, model: str, norm: str = "instance") -> nn.Module:
    """One stage variant of a timm model: ``norm="batch"`` as timm builds it, ``"instance"`` with every
    BatchNorm replaced by instance norm. Built with the adjustment the probe chose for this input."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, not {norm!r}")
    chosen = fit(model, in_chans, img_size)
    if chosen.refusal:
        raise UserError(f"{PREFIX}:{model} cannot take {in_chans}×{img_size}×{img_size} images: {chosen.refusal}")
    net = create(model, in_chans=in_chans, num_classes=num_classes, img_size=img_size, **chosen.kwargs)
    return batchnorm_to_instancenorm(net) if norm == "instance" else net


class TimmNamespace:
    """What the registry asks of an architecture name space: ``names(pattern)`` and ``get(model)``."""

    prefix = PREFIX

    def names(self, pattern: str) -> list[str]:
        import timm

        return timm.list_models(pattern)

    def get(self, model: str) -> Architecture:
        return _architecture(model)


@cache
def _architecture(model: str) -> Architecture:
    import timm

    if not timm.is_model(model):
        raise RegistryError(unknown_message("architecture", f"{PREFIX}:{model}",
                                            [f"{PREFIX}:{name}" for name in timm.list_models()]))
    spec = TimmSpec(
        family=f"{PREFIX}:{model}", version=1, sizes=None, min_size=1, channels=(1, 3), model=model,
        stages={"synthesis": {"norm": "batch"}, "classification": {"norm": "instance"}},
        batchnorm=("synthesis",), embedding=True,  # the input of get_classifier(): timm's pooled features
        description=f"timm {model}, untrained; synthesis with BatchNorm, classification with instance norm",
    )
    return Architecture(build, spec, {"model": model})


namespace = TimmNamespace()

__all__ = ["ADJUSTMENTS", "Fit", "TimmNamespace", "TimmSpec", "build", "create", "fit", "namespace"]
