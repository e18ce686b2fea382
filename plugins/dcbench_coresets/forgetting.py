"""forgetting: per class, the examples forgotten most often while training on the whole data."""

from __future__ import annotations

import torch

from dcbench import CondenserSpec, TrainSet
from dcbench_coresets.trained import WholeDataSelection


def most_forgotten(counts: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Positions of the ``k`` largest ``counts`` (infinite first). Equal counts are common (most
    examples are never forgotten), so ties follow a random permutation drawn from ``generator``:
    the same generator state gives the same choice, and no position is favoured."""
    order = torch.randperm(len(counts), generator=generator)
    ranked = torch.sort(counts.cpu()[order], descending=True, stable=True).indices
    return order[ranked[:k]]


class Forgetting(WholeDataSelection):
    """Forgetting events (Toneva et al., 2019) of ``net`` trained on the whole data for ``epochs``:
    the times an example went from classified correctly in its training step of one epoch to
    incorrectly in the next. An example never classified correctly counts as forgotten infinitely
    often, so the never-learned come first. Ties are broken by the cell's seeded generator."""

    spec = CondenserSpec(
        name="forgetting", kind="selection", version=1, needs_network=False, deterministic=True,
        description="per class, the most-forgotten examples while training a whole-data network "
                    "(the paper's 'Forgetting')",
        details=("whole_data_run", "never_learned"),
    )

    def select(self, train: TrainSet, *, ipc, generator, device, model_factory, report) -> torch.Tensor:
        run = self.whole_data(train, generator=generator, device=device, report=report)
        counts = run.forgetting_counts()
        chosen = []
        for c in range(train.spec.classes):
            pool = train.class_indices(c).cpu()
            chosen.append(pool[most_forgotten(counts[pool], ipc, generator)])
            self.class_done(report, train, c)
        indices = torch.cat(chosen)
        self.details = {"whole_data_run": run.key, "never_learned": int(torch.isinf(counts[indices]).sum())}
        return indices
