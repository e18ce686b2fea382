"""random: ``ipc`` training images per class drawn uniformly without replacement."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dcbench import CondenserSpec, SelectionCondenser, TrainSet


class RandomCondenser(SelectionCondenser):
    spec = CondenserSpec(
        name="random", kind="selection", version=1, needs_network=False, deterministic=True,
        description="ipc real images per class drawn uniformly (the paper's 'Random' column)",
    )

    @dataclass(frozen=True)
    class Config:
        pass

    def select(self, train: TrainSet, *, ipc, generator, device, model_factory, report) -> torch.Tensor:
        chosen = []
        for c in range(train.spec.classes):
            pool = train.class_indices(c)
            chosen.append(pool[torch.randperm(len(pool), generator=generator)[:ipc]])
            report(c + 1, total=train.spec.classes)
        return torch.cat(chosen)
