"""k-center: per class, a greedy cover of the class in feature space."""

from __future__ import annotations

import torch

from dcbench import CondenserSpec, TrainSet
from dcbench_coresets.greedy import k_center
from dcbench_coresets.trained import WholeDataSelection


class KCenter(WholeDataSelection):
    """Features are the penultimate layer of ``net`` trained on the whole data (``epochs``). The
    first centre is the example closest to the class mean; ties go to the lowest training index
    (``greedy.k_center``)."""

    spec = CondenserSpec(
        name="k_center", kind="selection", version=1, needs_network=False, deterministic=True,
        description="per class, greedy k-center in the features of a whole-data network (the paper's 'K-Center')",
    )

    def select(self, train: TrainSet, *, ipc, generator, device, model_factory, report) -> torch.Tensor:
        run = self.whole_data(train, generator=generator, device=device, report=report)
        chosen = []
        for c in range(train.spec.classes):
            pool = train.class_indices(c)
            picks = k_center(run.features(train.images[pool]), ipc)
            chosen.append(pool.cpu()[picks])
            self.class_done(report, train, c)
        self.details = {"whole_data_run": run.key}
        return torch.cat(chosen)
