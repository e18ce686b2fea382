"""continual: condensed sets as the rehearsal memory of an incremental learner (E2E-style).

Tasks arrive in order. Each stage trains the one shared classifier on the new task's training
split together with the memory of the tasks before it, optionally distilling the previous stage's
outputs on the classes seen before (knowledge distillation, KD); from the second stage on, a short
balanced fine-tuning on the memory of every task so far follows (the new task's own set included).
After each stage the network is tested on every task seen so far: the stage's number is the mean of
their accuracies. The memory of a task is the condensed set the condenser under test made of that
task's training data alone, so no task's memory knows of later tasks.

Two kinds of sequence (docs/protocols.md): ``sequence`` names data sets that share one label space
(the paper's SVHN, MNIST, USPS at 32 × 32 RGB: each data set is a task); left empty, the grid's data
set is split by class into ``tasks`` tasks (class-incremental: each task brings new classes, and the
classifier predicts among the classes seen so far).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dcbench import Context, DatasetOptions, Outcome, ProtocolBase, ProtocolSpec, UserError, View, dataset_spec

# The paper's stage budgets (5,000 training and 500 balanced fine-tuning iterations), which other
# profiles scale by their share of the paper's 1,000 condensation iterations.
PAPER_TRAIN_ITERATIONS, PAPER_FINETUNE_ITERATIONS, PAPER_ITERATIONS = 5000, 500, 1000


class Continual(ProtocolBase):
    spec = ProtocolSpec(
        name="continual", version=1, metric="last-stage accuracy",
        description="tasks in order, each learned with a rehearsal memory of the earlier tasks' condensed sets",
        columns=("stage_1", "stage_2", "stage_3", "stage_4", "stage_5"), baseline="no memory")

    @dataclass(frozen=True)
    class Config:
        sequence: str = ""  # data sets in order, comma-separated (one label space); "" = split --dataset by class
        tasks: int = 5  # tasks of a class split (the classes dealt out in order, as evenly as they go)
        kd: bool = True  # distil the previous stage's outputs on the classes it had seen
        kd_weight: float = 1.0
        temperature: float = 2.0
        train_iterations: int = PAPER_TRAIN_ITERATIONS  # per stage
        finetune_iterations: int = PAPER_FINETUNE_ITERATIONS  # per stage after the first
        lr: float = 0.01
        finetune_lr: float = 0.001
        batch_size: int = 256
        test_per_task: int = 2000  # test images sampled per task (all of them when it has fewer)

        def __post_init__(self) -> None:
            # one spelling per sequence, so that "svhn, mnist" and "svhn,mnist" are the same key
            object.__setattr__(self, "sequence", ",".join(n.strip() for n in self.sequence.split(",") if n.strip()))
            for name in ("tasks", "train_iterations", "batch_size", "test_per_task"):
                if getattr(self, name) < 1:
                    raise ValueError(f"{name} must be at least 1")
            if self.finetune_iterations < 0 or self.kd_weight < 0 or self.temperature <= 0:
                raise ValueError("finetune_iterations and kd_weight must be ≥ 0, temperature > 0")

    @classmethod
    def profile_defaults(cls, profile):
        # Only training on the new task's data costs much; the balanced fine-tuning runs on the memory
        # alone and keeps its paper budget under every profile.
        if profile.paper_budgets:
            return {}
        return {"train_iterations": max(1, round(PAPER_TRAIN_ITERATIONS * profile.iterations / PAPER_ITERATIONS))}

    def views(self, dataset: str, options: DatasetOptions) -> list[View]:
        if self.config.sequence:
            names = [name.strip() for name in self.config.sequence.split(",") if name.strip()]
            if len(names) < 2:
                raise UserError("protocol.sequence needs two or more data sets, e.g. svhn,mnist,usps")
            return [View(name, options) for name in names]
        return [View(dataset, DatasetOptions(options.size, options.channels, options.zca, classes))
                for classes in self._split(dataset)]

    def _split(self, dataset: str) -> list[tuple[int, ...]]:
        classes = dataset_spec(dataset).classes
        tasks = self.config.tasks
        if not 2 <= tasks <= classes:
            raise UserError(f"protocol.tasks must be 2 … {classes} for {dataset}, got {tasks}")
        bounds = [round(t * classes / tasks) for t in range(tasks + 1)]
        return [tuple(range(bounds[t], bounds[t + 1])) for t in range(tasks)]

    def run(self, context: Context) -> Outcome:
        cfg = self.config
        device = context.device
        gen = torch.Generator().manual_seed(context.seed)
        stages = [context.load(view) for view in context.views]
        # each task's labels in the shared label space: a class split's own classes, else the same ones
        spaces = [list(view.options.classes) if view.options.classes else list(range(data.spec.classes))
                  for view, data in zip(context.views, stages, strict=True)]
        classes = max(max(space) for space in spaces) + 1
        to_global = [torch.tensor(space, device=device) for space in spaces]
        tests = [_sample(data.test, cfg.test_per_task, gen) for data in stages]
        memory = [(s.images, to_global[t][s.labels]) for t, s in enumerate(context.sets)]
        net = context.network(classes, gen)
        previous, seen = None, []
        accuracies, per_task = [], []
        for t, data in enumerate(stages):
            images = torch.cat([data.train.images.to(device), *(m[0] for m in memory[:t])])
            labels = torch.cat([to_global[t][data.train.labels.to(device)], *(m[1] for m in memory[:t])])
            self._train(net, previous, seen, images, labels, cfg.train_iterations, cfg.lr, gen)
            if t > 0 and memory and cfg.finetune_iterations:
                images = torch.cat([m[0] for m in memory[:t + 1]])
                labels = torch.cat([m[1] for m in memory[:t + 1]])
                self._train(net, previous, seen, images, labels, cfg.finetune_iterations, cfg.finetune_lr, gen)
            seen = sorted(set(seen) | set(spaces[t]))
            scores = [_accuracy(net, images, to_global[i][labels], seen) for i, (images, labels) in
                      enumerate(tests[:t + 1])]
            per_task.append([100 * score for score in scores])
            accuracies.append(100 * sum(scores) / len(scores))
            context.report(t + 1, total=len(stages), mean_accuracy=accuracies[-1])
            previous = copy.deepcopy(net).eval()
            for parameter in previous.parameters():
                parameter.requires_grad_(False)
        metrics = {f"stage_{t + 1}": value for t, value in enumerate(accuracies)}
        metrics["per_task"] = per_task
        return Outcome(accuracies[-1], metrics)

    def _train(self, net, previous, seen, images, labels, iterations, lr, gen) -> None:
        """SGD (momentum 0.9, weight decay 5e-4, as every dcbench recipe) on mini-batches drawn without
        replacement, a fresh order per pass; cross-entropy, plus KD on the classes ``previous`` saw."""
        cfg = self.config
        optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
        distil = cfg.kd and previous is not None and cfg.kd_weight > 0
        old = torch.tensor(seen, device=images.device)
        batch = min(cfg.batch_size, len(images))
        order, at = torch.randperm(len(images), generator=gen).to(images.device), 0
        net.train()
        for _ in range(iterations):
            if at + batch > len(order):
                order, at = torch.randperm(len(images), generator=gen).to(images.device), 0
            idx = order[at:at + batch]
            at += batch
            logits = net(images[idx])
            loss = F.cross_entropy(logits, labels[idx])
            if distil:
                with torch.no_grad():
                    target = F.softmax(previous(images[idx])[:, old] / cfg.temperature, dim=1)
                student = F.log_softmax(logits[:, old] / cfg.temperature, dim=1)
                loss = loss + cfg.kd_weight * -(target * student).sum(1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def _sample(split, count: int, gen: torch.Generator):
    """``count`` test images drawn without replacement (all of them when there are fewer)."""
    if len(split) <= count:
        return split.images, split.labels
    chosen = torch.randperm(len(split), generator=gen)[:count]
    return split.images[chosen], split.labels[chosen]


@torch.no_grad()
def _accuracy(net, images: torch.Tensor, labels: torch.Tensor, seen: list[int], batch_size: int = 1024) -> float:
    """Top-1 accuracy among the classes seen so far (the only ones a class-incremental learner may answer)."""
    net.eval()
    device = next(net.parameters()).device
    allowed = torch.tensor(seen, device=device)
    correct = 0
    for start in range(0, len(images), batch_size):
        x, y = images[start:start + batch_size].to(device), labels[start:start + batch_size].to(device)
        correct += int((allowed[net(x)[:, allowed].argmax(1)] == y).sum())
    return correct / len(images)
