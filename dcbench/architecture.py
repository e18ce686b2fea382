"""The architecture contract, stage variants, and the BatchNorm helpers every stage needs.

A network name stands for two stage variants (docs/settings.md, "Synthesis-stage networks"): ``vgg11``
synthesises with BatchNorm whose statistics come from real data and are then frozen, and
classifies with instance norm because batch statistics of a few condensed images are
unreliable. ``ArchSpec.stages`` says, per stage, which keyword arguments the factory gets.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Mapping

import torch
from torch import nn

Stage = Literal["synthesis", "classification"]
STAGES: tuple[Stage, ...] = ("synthesis", "classification")


@dataclass(frozen=True)
class ArchSpec:
    """What the grid must know about a network before building it.

    ``sizes`` lists the square image sides it accepts (None: any side of at least ``min_size``);
    ``channels`` the input channel counts. ``stages`` maps a stage to the factory keyword arguments
    that make its variant; ``batchnorm`` names the stages whose variant keeps BatchNorm.
    ``variant_of`` marks explicit variants (``convnet_d4``), which ``all`` leaves out.
    ``embedding`` declares that the network provides an embedding (:func:`embedding`): the input of
    its linear classifier, flattened to (N, D); condensers that match embeddings (distribution
    matching) are given only networks that declare it.
    """

    family: str
    version: int = 1
    sizes: tuple[int, ...] | None = None
    min_size: int = 1
    channels: tuple[int, ...] = (1, 3)
    stages: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    batchnorm: tuple[str, ...] = ()
    variant_of: str | None = None
    description: str = ""
    embedding: bool = False

    def refusal(self, *, in_chans: int, img_size: int) -> str | None:
        """Why this network cannot take (in_chans, img_size) input, or None if it can."""
        if in_chans not in self.channels:
            return f"takes {'/'.join(map(str, self.channels))}-channel input, not {in_chans}"
        if self.sizes is not None and img_size not in self.sizes:
            return f"takes {'/'.join(f'{s}px' for s in self.sizes)} images, not {img_size}px"
        if img_size < self.min_size:
            return f"needs images of at least {self.min_size}px, not {img_size}px"
        return None


@dataclass(frozen=True)
class Architecture:
    """A network factory ``(*, in_chans, num_classes, img_size, **kw) -> nn.Module`` and its spec."""

    factory: Callable[..., nn.Module]
    spec: ArchSpec
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, *, in_chans: int, num_classes: int, img_size: int, stage: Stage = "classification",
                 **overrides: Any) -> nn.Module:
        kwargs = {**self.kwargs, **self.spec.stages.get(stage, {}), **overrides}
        return self.factory(in_chans=in_chans, num_classes=num_classes, img_size=img_size, **kwargs)

    def variant(self, *, family_suffix: str = "", description: str = "", sizes=..., min_size=...,
                batchnorm=..., stages=..., **kwargs: Any) -> "Architecture":
        """An explicit variant (``convnet_d4``): same factory, fixed extra keyword arguments."""
        changes: dict[str, Any] = {"variant_of": self.spec.family, "description": description}
        for name, value in (("sizes", sizes), ("min_size", min_size), ("batchnorm", batchnorm),
                            ("stages", stages)):
            if value is not ...:
                changes[name] = value
        return Architecture(self.factory, dataclasses.replace(self.spec, **changes), {**self.kwargs, **kwargs})


def seeded_init(generator: torch.Generator) -> contextlib.AbstractContextManager:
    """Run a block (typically a network's construction) with global RNG seeded from ``generator``.

    PyTorch initialises parameters from the global RNG; forking it keeps callers' state intact and
    makes the network a pure function of ``generator``.
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return _forked_seed(seed)


@contextlib.contextmanager
def _forked_seed(seed: int) -> Iterator[None]:
    # Nets are built on the CPU. torch.manual_seed would also reseed every CUDA device's global
    # generator, which fork_rng(devices=[]) does not restore: seed the CPU generator alone.
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


# --- BatchNorm helpers -------------------------------------------------------------------------

class InstanceNorm(nn.GroupNorm):
    """Instance norm as the paper defines it: GroupNorm with one group per channel, affine."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, channels, affine=True)


def batchnorm_to_instancenorm(module: nn.Module) -> nn.Module:
    """Replace every 2-D BatchNorm in ``module`` (in place) by :class:`InstanceNorm`.

    Works on any module tree. Layers that fuse BatchNorm with an activation (timm's
    ``BatchNormAct2d``) keep their activation and drop-path: the norm is swapped, the rest stays.
    """
    for name, child in list(module.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and child.num_features:
            replacement: nn.Module = InstanceNorm(child.num_features)
            act = getattr(child, "act", None)
            drop = getattr(child, "drop", None)
            if isinstance(act, nn.Module) or isinstance(drop, nn.Module):
                replacement = nn.Sequential(replacement, drop or nn.Identity(), act or nn.Identity())
            setattr(module, name, replacement)
        else:
            batchnorm_to_instancenorm(child)
    return module


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


@torch.no_grad()
def estimate_bn_statistics(model: nn.Module, images: torch.Tensor, *, batch_size: int = 256) -> nn.Module:
    """Set every BatchNorm's running mean/variance to the pooled statistics of its inputs over
    all of ``images``, then freeze the BatchNorm layers (eval mode), as the synthesis stage needs.

    The moments (count, sum, sum of squares) are accumulated across batches, so the result is the
    exact mean and unbiased variance over the whole sample whatever the batching or class order.
    (One forward pass at the default momentum 0.1, the reference code's way, moves the statistics
    only 10% of the way; ``momentum=None`` averages per-batch variances and misses the spread
    between batches.) As in training, deeper layers see inputs normalised with batch statistics.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    moments: dict[nn.Module, list] = {m: [0, 0.0, 0.0] for m in bns}

    def accumulate(module: nn.Module, args: tuple) -> None:
        x = args[0].detach().double().transpose(0, 1).reshape(module.num_features, -1)
        acc = moments[module]
        acc[0] += x.shape[1]
        acc[1] = acc[1] + x.sum(1)
        acc[2] = acc[2] + (x * x).sum(1)

    hooks = [m.register_forward_pre_hook(accumulate) for m in bns]
    was_training = model.training
    model.train()
    try:
        for start in range(0, images.shape[0], batch_size):
            model(images[start:start + batch_size])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    for m, (n, total, squares) in moments.items():
        mean = total / n
        var = (squares - n * mean * mean) / max(n - 1, 1)
        m.running_mean.copy_(mean.to(m.running_mean.dtype))
        m.running_var.copy_(var.clamp_min(0).to(m.running_var.dtype))
        if m.num_batches_tracked is not None:
            m.num_batches_tracked.fill_(1)
    freeze_batchnorm(model)
    return model


def freeze_batchnorm(model: nn.Module) -> nn.Module:
    """Put BatchNorm layers in eval mode so forward passes use (and never update) running stats."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model


def _classifier(model: nn.Module) -> nn.Linear:
    """The linear layer whose input is ``model``'s embedding: ``get_classifier()`` where the model
    has one (timm), else its last ``nn.Linear``. The one lookup :func:`embedding` and
    :func:`penultimate_features` share."""
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if isinstance(head, nn.Linear):
        return head
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError(f"{type(model).__name__} has no linear classifier to take an embedding from")
    return linears[-1]


def embedding(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The embedding of ``images``: the input of ``model``'s classifier (:func:`_classifier`),
    flattened to (N, D).

    Differentiable: one forward pass as ``model`` is (its mode and ``requires_grad`` flags are left
    alone, nothing runs under ``no_grad``), so gradients flow back to ``images`` and, unless frozen,
    to the parameters. BatchNorm layers in training mode normalise with the statistics of this
    batch, as in any forward pass. ``images`` must be on the model's device.
    """
    head = _classifier(model)
    captured: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
    try:
        model(images)
    finally:
        hook.remove()
    if len(captured) != 1:
        raise TypeError(f"{type(model).__name__} called its classifier {len(captured)} times in one forward pass; "
                        "its embedding is ambiguous")
    return captured[0].flatten(1)


@torch.no_grad()
def penultimate_features(model: nn.Module, images: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """The embedding (:func:`embedding`) of each image without gradients, for features of a trained
    network: the model is put in eval mode and run on its own device in batches; the features come
    back on the images' device."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([embedding(model, images[start:start + batch_size].to(device))
                      for start in range(0, images.shape[0], batch_size)]).to(images.device)
