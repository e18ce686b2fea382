"""Condensed sets that come with their own training schedule, and replaying one.

Dataset distillation (Wang et al.) learns, together with its images, the learning rate of every
SGD step a freshly (Xavier-) initialised network takes on them, and the order of those steps. Its
sets are meant to be trained that way, not with the standard classification protocol, so dcbench
reports such a set under both: the learned schedule (:func:`train_with_schedule`) and the
standard protocol (:mod:`dcbench.recipe`), recording which one each result used.

A condenser hands its schedule over in :attr:`CondensedSet.extras` (see :class:`LearnedSchedule`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Mapping

import torch
import torch.nn.functional as F
from torch import nn

LR_SCHEDULE = "lr_schedule"
STEP_ORDER = "step_order"
IMAGE_STEP = "image_step"
_KEYS = (LR_SCHEDULE, STEP_ORDER, IMAGE_STEP)


@dataclass(frozen=True, eq=False)  # field-wise == on tensors would be ambiguous
class LearnedSchedule:
    """T plain SGD steps: step ``k`` trains on the images of step ``step_order[k]`` with rate ``lrs[k]``.

    ``image_step[i]`` is the step image ``i`` of the condensed set belongs to; steps are numbered
    0..S-1 and each has at least one image.
    """

    #: The names under which a set carries its schedule in ``CondensedSet.extras``.
    EXTRAS: ClassVar[tuple[str, ...]] = _KEYS

    lrs: torch.Tensor  # (T,) float
    step_order: torch.Tensor  # (T,) int64
    image_step: torch.Tensor  # (N,) int64

    def __post_init__(self) -> None:
        lrs, order, image_step = self.lrs, self.step_order, self.image_step
        if lrs.ndim != 1 or len(lrs) == 0 or not lrs.is_floating_point():
            raise ValueError(f"{LR_SCHEDULE} must be a non-empty 1-D float tensor, got {_describe(lrs)}")
        if not bool(torch.isfinite(lrs).all()):
            raise ValueError(f"{LR_SCHEDULE} contains NaN or infinite rates")
        for name, t in ((STEP_ORDER, order), (IMAGE_STEP, image_step)):
            if t.ndim != 1 or t.dtype != torch.int64:
                raise ValueError(f"{name} must be a 1-D int64 tensor, got {_describe(t)}")
        if order.shape != lrs.shape:
            raise ValueError(f"{STEP_ORDER} has {len(order)} entries but {LR_SCHEDULE} has {len(lrs)}")
        if len(image_step) == 0:
            raise ValueError(f"{IMAGE_STEP} is empty")
        steps = int(image_step.max()) + 1
        if int(image_step.min()) < 0 or bool((torch.bincount(image_step.cpu(), minlength=steps) == 0).any()):
            raise ValueError(f"{IMAGE_STEP} must number the steps 0..{steps - 1}, each with at least one image")
        if int(order.min()) < 0 or int(order.max()) >= steps:
            raise ValueError(f"{STEP_ORDER} names steps outside 0..{steps - 1}, the steps the images belong to")

    @property
    def steps(self) -> int:
        """S, the number of distinct image batches (T = len(lrs) unrolled steps go through them)."""
        return int(self.image_step.max()) + 1

    @classmethod
    def from_extras(cls, extras: Mapping[str, torch.Tensor]) -> "LearnedSchedule | None":
        """The schedule a condensed set carries, or None when it carries none (no ``lr_schedule``).

        Raises ValueError when only some of the three entries are there or they disagree.
        """
        present = [k for k in _KEYS if k in extras]
        if not present:
            return None
        if len(present) != len(_KEYS):
            missing = [k for k in _KEYS if k not in extras]
            raise ValueError(f"a learned schedule needs {', '.join(_KEYS)}; the extras lack {', '.join(missing)}")
        return cls(lrs=extras[LR_SCHEDULE], step_order=extras[STEP_ORDER], image_step=extras[IMAGE_STEP])

    def to_extras(self) -> dict[str, torch.Tensor]:
        return {LR_SCHEDULE: self.lrs, STEP_ORDER: self.step_order, IMAGE_STEP: self.image_step}


def _describe(t: torch.Tensor) -> str:
    return f"shape {tuple(t.shape)} of {t.dtype}"


@torch.no_grad()
def xavier_init(net: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-initialise ``net`` in place as dataset distillation does, drawing from ``generator`` only.

    Conv and linear weights: Xavier normal, gain 1; their biases zero; affine norm layers: weight
    1, bias 0. Other parameters keep the values they were built with. The weights are drawn on the
    generator's device and copied, so a CPU generator gives the same network on any device.
    """
    for m in net.modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            drawn = torch.empty(m.weight.shape, dtype=m.weight.dtype, device=generator.device)
            nn.init.xavier_normal_(drawn, gain=1.0, generator=generator)
            m.weight.copy_(drawn)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
            if getattr(m, "weight", None) is not None:
                m.weight.fill_(1.0)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
    return net


def train_with_schedule(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, schedule: LearnedSchedule, *,
                        generator: torch.Generator) -> nn.Module:
    """Xavier-initialise ``net`` from ``generator`` (the initialisation the schedule was learned for),
    then take the schedule's T plain SGD steps (no momentum, no weight decay) in train mode; returns
    ``net``. ``images``/``labels`` are the condensed set, on the net's device."""
    if images.shape[0] != schedule.image_step.shape[0] or labels.shape != schedule.image_step.shape:
        raise ValueError(f"the schedule assigns {len(schedule.image_step)} images to steps, "
                         f"the set has {images.shape[0]} images and {labels.shape[0]} labels")
    xavier_init(net, generator)
    net.train()
    image_step = schedule.image_step.to(images.device)
    batches = [torch.nonzero(image_step == s, as_tuple=True)[0] for s in range(schedule.steps)]
    params = [p for p in net.parameters() if p.requires_grad]
    for s, lr in zip(schedule.step_order.tolist(), schedule.lrs.tolist(), strict=True):
        idx = batches[s]
        loss = F.cross_entropy(net(images[idx]), labels[idx])
        grads = torch.autograd.grad(loss, params, allow_unused=True, materialize_grads=True)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.sub_(g, alpha=lr)
    return net
