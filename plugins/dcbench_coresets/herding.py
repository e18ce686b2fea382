"""herding: per class, the examples whose running feature mean best tracks the class mean."""

from __future__ import annotations

import torch

from dcbench import CondenserSpec, TrainSet
from dcbench_coresets.greedy import herding
from dcbench_coresets.trained import WholeDataSelection


class Herding(WholeDataSelection):
    """Features are the penultimate layer of ``net`` trained on the whole data (``epochs``).
    Ties go to the lowest training index (``greedy.herding``)."""

    spec = CondenserSpec(
        name="herding", kind="selection", version=1, needs_network=False, deterministic=True,
        description="per class, greedy herding in the features of a whole-data network (the paper's 'Herding')",
    )

    def select(self, train: TrainSet, *, ipc, generator, device, model_factory, report) -> torch.Tensor:
        run = self.whole_data(train, generator=generator, device=device, report=report)
        chosen = []
        for c in range(train.spec.classes):
            pool = train.class_indices(c)
            picks = herding(run.features(train.images[pool]), ipc)
            chosen.append(pool.cpu()[picks])
            self.class_done(report, train, c)
        self.details = {"whole_data_run": run.key}
        return torch.cat(chosen)
