"""toy_mean: every condensed image is its class's mean training image plus a little seeded noise."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dcbench import CondensedSet, CondenserBase, CondenserSpec, check_ipc


class ToyMean(CondenserBase):
    spec = CondenserSpec(name="toy_mean", kind="synthesis", version=1, needs_network=False, deterministic=True,
                         description="ipc noisy copies of each class's mean image (a toy)",
                         details=("class_sizes",))  # the one hook it uses: what it records

    @dataclass(frozen=True)
    class Config:
        noise: float = 0.1  # standard deviation of the noise added to the class mean

        def __post_init__(self) -> None:
            if self.noise < 0:
                raise ValueError("noise must be non-negative")

    def condense(self, train, *, ipc, generator, device, model_factory=None, report=None):
        check_ipc(train, ipc)
        classes = train.spec.classes
        images = []
        for c in range(classes):
            mean = train.images[train.class_indices(c)].mean(0, keepdim=True)
            noise = torch.randn((ipc, *mean.shape[1:]), generator=generator)  # the generator lives on the CPU
            images.append(mean + self.config.noise * noise.to(mean.device))
            if report is not None:
                report(c + 1, total=classes)
        labels = torch.arange(classes, device=train.labels.device).repeat_interleave(ipc)
        self.details = {"class_sizes": [len(train.class_indices(c)) for c in range(classes)]}  # images averaged
        return CondensedSet(images=torch.cat(images), labels=labels)
