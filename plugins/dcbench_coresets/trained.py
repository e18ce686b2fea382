"""What herding, k-center and forgetting share: a network trained on the whole training split.

The network is a hyperparameter (``net``, ``epochs``), not a synthesis net: the cell's seed names
the run, so the whole-data evaluation of that seed and all three baselines train it once between
them (``dcbench.whole_data_run`` caches it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from dcbench import Report, SelectionCondenser, TrainSet, WholeDataRun, whole_data_run


@dataclass(frozen=True)
class WholeDataConfig:
    net: str = "convnet"  # classification-stage network trained on the whole data
    epochs: int = 100  # its training epochs; profiles scale this to their whole_epochs

    def __post_init__(self) -> None:
        if not isinstance(self.net, str) or not self.net:
            raise ValueError(f"net must name a network, got {self.net!r}")
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")


class WholeDataSelection(SelectionCondenser):
    """A selection method that looks at a whole-data run of the cell's seed."""

    Config = WholeDataConfig

    @classmethod
    def profile_defaults(cls, profile):
        return {"epochs": profile.whole_epochs}

    def whole_data(self, train: TrainSet, *, generator: torch.Generator, device: torch.device,
                   report: Report) -> WholeDataRun:
        """The run, with its epochs reported as the first steps of ``epochs + classes``."""
        cfg = self.config
        total = cfg.epochs + train.spec.classes

        def progress(epoch: int, **metrics) -> None:
            report(epoch, **{**metrics, "total": total})

        return whole_data_run(train, net=cfg.net, epochs=cfg.epochs, seed=generator.initial_seed(), device=device,
                              report=progress)

    def class_done(self, report: Report, train: TrainSet, c: int) -> None:
        report(self.config.epochs + c + 1, total=self.config.epochs + train.spec.classes)


class FeatureSelection(WholeDataSelection):
    """Per class, a greedy choice among the class's penultimate features in the whole-data network."""

    greedy: Callable[[torch.Tensor, int], torch.Tensor]  # (features, ipc) -> positions within the class

    def select(self, train: TrainSet, *, ipc, generator, device, model_factory, report) -> torch.Tensor:
        run = self.whole_data(train, generator=generator, device=device, report=report)
        chosen = []
        for c in range(train.spec.classes):
            pool = train.class_indices(c)
            picks = self.greedy(run.features(train.images[pool]), ipc)
            chosen.append(pool.cpu()[picks])
            self.class_done(report, train, c)
        self.details = {"whole_data_run": run.key}
        return torch.cat(chosen)
