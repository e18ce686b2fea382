"""toy_nearest: a protocol that classifies the test split by the nearest class mean of the set's images."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dcbench import Outcome, ProtocolBase, ProtocolSpec, evaluate_accuracy


class ToyNearest(ProtocolBase):
    spec = ProtocolSpec(name="toy_nearest", version=1, metric="nearest-mean accuracy",
                        description="test images take the class of the nearest mean of the set's images (a toy)",
                        columns=("classes",), baseline="untrained net")

    @dataclass(frozen=True)
    class Config:
        p: float = 2.0  # the norm of the distance

        def __post_init__(self) -> None:
            if self.p <= 0:
                raise ValueError("p must be positive")

    def run(self, context):
        data = context.load(context.views[0])
        test = data.test
        classes = data.spec.classes
        if not context.sets:  # the baseline: a fresh network of the grid's --cls, never trained
            net = context.network(classes, torch.Generator().manual_seed(context.seed))
            return Outcome(100 * evaluate_accuracy(net, test.to(context.device)), {"classes": classes})
        images, labels = context.sets[0].images.cpu(), context.sets[0].labels.cpu()
        means = torch.stack([images[labels == c].mean(0) for c in range(classes)]).flatten(1)
        distance = torch.cdist(test.images.flatten(1), means, p=self.config.p)
        accuracy = (distance.argmin(1) == test.labels).float().mean().item()
        return Outcome(100 * accuracy, {"classes": classes})
