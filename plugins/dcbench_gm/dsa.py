"""dsa: Dataset Condensation with Differentiable Siamese Augmentation (Zhao & Bilen, ICML 2021).

Gradient matching in which, at every matching step, each class's real and synthetic batch pass
through the same random augmentation (one draw for both, so their gradients stay comparable),
and the network's training on the synthetic set between steps augments every image on its own:
both as the authors' code does. It lives beside gradient matching because it is that method with
two hooks filled in; sharing the loop, not copying it, keeps the two from drifting apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from dcbench import DSA_STRATEGY, CondenserSpec, dsa_augment, siamese_augment
from dcbench_gm.condenser import GradientMatching
from dcbench_gm.matching import IMPLEMENTATIONS, Siamese

NO_AUGMENTATION = "none"


class SiameseAugmentedMatching(GradientMatching):
    spec = CondenserSpec(
        name="dsa", kind="synthesis", version=1, needs_network=True, deterministic=True,
        description="gradient matching through one shared random augmentation of real and synthetic images (DSA)",
        resumable=True, iteration_field="iterations", implementations=tuple(IMPLEMENTATIONS),
        details=(*GradientMatching.spec.details, "dsa_strategy"), recipe="dsa",
    )

    @dataclass(frozen=True)
    class Config(GradientMatching.Config):
        init: str = "real"  # the authors' README runs DSA from real images (DC's default is noise)
        # groups of transforms, one picked per call: color, crop, cutout, flip, scale, rotate; or "none",
        # which (as the authors' flag does) leaves gradient matching from real images
        dsa_strategy: str = DSA_STRATEGY

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.dsa_strategy == NO_AUGMENTATION:
                return
            try:
                dsa_augment(torch.zeros(1, 1, 4, 4), self.dsa_strategy, torch.Generator())
            except ValueError as exc:
                raise ValueError(f"dsa_strategy: {exc}") from None

    def condense(self, train, *, ipc, generator, device, model_factory=None, report=None, checkpoint=None):
        condensed = super().condense(train, ipc=ipc, generator=generator, device=device, model_factory=model_factory,
                                     report=report, checkpoint=checkpoint)
        self.details["dsa_strategy"] = self.config.dsa_strategy
        return condensed

    def _siamese(self, generator: torch.Generator) -> Siamese | None:
        strategy = self.config.dsa_strategy
        if strategy == NO_AUGMENTATION:
            return None

        def both(real: torch.Tensor, syn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            real, syn = siamese_augment([real, syn], strategy, generator)
            return real, syn

        return both

    def _augment(self, generator: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor] | None:
        if self.config.dsa_strategy == NO_AUGMENTATION:
            return None
        return lambda images: dsa_augment(images, self.config.dsa_strategy, generator)
