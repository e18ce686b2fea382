"""domain_adaptation: few-shot adaptation by fine-tuning a source-trained net on a condensed target set.

The grid's data set is the *target*; ``source`` names the data set the net is first trained on,
whole, served as the target is (e.g. MNIST at 32 × 32 RGB for SVHN). That source net is a cached
whole-data run (seed: the evaluation's), shared by every condenser and by the baseline, "no
adaptation": the source net tested on the target's test split as it is. With a set, a copy of the
source net is fine-tuned on the target set alone and tested on the target's test split.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dcbench import Context, Outcome, ProtocolBase, ProtocolSpec, UserError, View, dataset_spec, evaluate_accuracy


class DomainAdaptation(ProtocolBase):
    spec = ProtocolSpec(
        name="domain_adaptation", version=1, metric="target accuracy",
        description="a net trained on the whole source data, fine-tuned on the condensed target set",
        columns=("source_accuracy",), baseline="no adaptation")

    @dataclass(frozen=True)
    class Config:
        source: str = ""  # the source data set (required), served with the grid's --size/--channels
        source_epochs: int = 0  # the source net's epochs; 0 = the profile's whole-data epochs
        iterations: int = 500  # fine-tuning steps
        lr: float = 0.01
        lower_after: int = 300  # steps after which the rate is lowered
        lower_to: float = 0.001
        batch_size: int = 256  # a set of fewer images is one batch

        def __post_init__(self) -> None:
            if self.iterations < 1 or self.batch_size < 1 or self.source_epochs < 0:
                raise ValueError("iterations and batch_size must be at least 1, source_epochs at least 0")

    def views(self, dataset, options) -> list[View]:
        if not self.config.source:
            raise UserError("protocol domain_adaptation needs its source data set: --set protocol.source=NAME")
        source, target = dataset_spec(self.config.source), dataset_spec(dataset)
        if source.classes != target.classes:
            raise UserError(f"source {source.name} has {source.classes} classes and target {target.name} "
                            f"{target.classes}: domain adaptation needs one label space")
        return [View(dataset, options)]

    def reads(self, dataset, options) -> list[View]:
        return [View(self.config.source, options)]

    def run(self, context: Context) -> Outcome:
        cfg = self.config
        target = context.load(context.views[0])
        source = context.load(View(cfg.source, context.views[0].options))
        run = context.whole_data_run(source.train, epochs=cfg.source_epochs or None, seed=context.seed,
                                     test=source.test)
        net = copy.deepcopy(run.model)
        metrics = {"source_accuracy": 100 * run.test_accuracy}
        if context.sets:
            self._finetune(net, context.sets[0].images, context.sets[0].labels,
                           torch.Generator().manual_seed(context.seed))
        return Outcome(100 * evaluate_accuracy(net, target.test.to(context.device)), metrics)

    def _finetune(self, net, images, labels, gen) -> None:
        cfg = self.config
        optimizer = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=5e-4)
        net.train()
        for step in range(cfg.iterations):
            if step == cfg.lower_after:
                for group in optimizer.param_groups:
                    group["lr"] = cfg.lower_to
            idx = torch.randperm(len(images), generator=gen)[:cfg.batch_size].to(images.device)
            loss = F.cross_entropy(net(images[idx]), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
