"""dataset_distillation: Dataset Distillation (Wang, Zhu, Torralba, Efros), the random-init variant.

Learns ``ipc`` steps of one image per class and a learning rate per unrolled step such that a
Xavier-initialised network trained by those T = ipc × epochs SGD steps does well on real data
(docs/settings.md, "Dataset distillation"). The set carries its schedule (dcbench.schedule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from dcbench import (
    CondensedSet,
    CondenserBase,
    CondenserSpec,
    LearnedSchedule,
    check_ipc,
    estimate_bn_statistics,
    has_batchnorm,
    xavier_init,
)
from dcbench_dd.unroll import distillation_loss, inverse_softplus

# The original budget: 400 passes over the training set, one real batch per outer step.
PAPER_EPOCHS = 400


class NonFiniteLoss(RuntimeError):
    """The distillation loss or its hypergradient became NaN or infinite: the cell fails."""


class DatasetDistillation(CondenserBase):
    spec = CondenserSpec(
        name="dataset_distillation", kind="synthesis", version=1, needs_network=True, deterministic=True,
        description="learn images and per-step learning rates by back-propagating through unrolled training "
                    "of Xavier-initialised nets (Wang et al.'s DD)",
        iteration_field="iterations", extras=LearnedSchedule.EXTRAS,
        details=("iterations_run", "steps", "unrolled_steps", "distill_lr", "decay_every", "real_batch", "final_loss",
                 "init"),
    )

    @dataclass(frozen=True)
    class Config:
        # Outer steps, each on a fresh net and one real batch. None: the original budget of 400 passes
        # over the training set, ceil(400·N / real_batch) (profiles with paper_budgets: paper). Others
        # use max(1000, 5 × profile.iterations), so smoke and cpu both get 1,000. The floor: with the ×0.5
        # decay every tenth of the run, Adam moves a raw rate by at most about 0.002 × iterations in
        # all, and shorter runs leave the rates near distill_lr (digits, 1 ipc, MLP: 14–16% after 500
        # steps, 65–70% after 1,000). 5 × K: an outer step costs about one 1-ipc GM iteration (digits,
        # convnet_d2: 0.8 s against 0.5–1.5 s on one shared core), far less than a 10-ipc one.
        iterations: int | None = None
        epochs: int = 3  # passes over the ipc steps: T = ipc × epochs unrolled SGD steps
        distill_lr: float | None = None  # initial learned rate; None: 0.02 for 1-channel data, 0.001 for 3
        lr: float = 0.01  # Adam on the images and the raw (pre-softplus) rates
        beta1: float = 0.5
        beta2: float = 0.999
        decay: float = 0.5  # Adam's rate is multiplied by this every decay_every outer steps
        decay_every: int | None = None  # None: iterations // 10 (the original's 40 of 400 epochs)
        real_batch: int = 1024  # real images per outer step: min(real_batch, N), without replacement
        # The synthesis net's BatchNorm statistics are re-estimated after the Xavier re-initialisation
        # (the factory estimated them for the weights it drew): real images per class for that.
        bn_images_per_class: int = 128

        def __post_init__(self) -> None:
            for name in ("epochs", "real_batch", "bn_images_per_class"):
                if getattr(self, name) < 1:
                    raise ValueError(f"{name} must be at least 1")
            for name in ("iterations", "decay_every"):
                if getattr(self, name) is not None and getattr(self, name) < 1:
                    raise ValueError(f"{name} must be at least 1")
            for name in ("distill_lr", "lr"):
                value = getattr(self, name)
                if value is not None and not (math.isfinite(value) and value > 0):
                    raise ValueError(f"{name} must be a positive number, not {value!r}")
            for name in ("beta1", "beta2"):
                if not 0 <= getattr(self, name) < 1:
                    raise ValueError(f"{name} must be in [0, 1)")
            if not 0 < self.decay <= 1:
                raise ValueError("decay must be in (0, 1]")

    @classmethod
    def profile_defaults(cls, profile) -> dict[str, Any]:
        return {"iterations": None if profile.paper_budgets else max(1000, 5 * profile.iterations)}

    def condense(self, train, *, ipc, generator, device, model_factory=None, report=None):
        cfg = self.config
        report = report or (lambda *a, **k: None)
        check_ipc(train, ipc)
        if model_factory is None:
            raise ValueError("dataset_distillation trains networks: pass model_factory")
        spec = train.spec
        classes, steps, n = spec.classes, ipc, len(train)
        unrolled = steps * cfg.epochs
        iterations = cfg.iterations or math.ceil(PAPER_EPOCHS * n / cfg.real_batch)
        decay_every = cfg.decay_every or max(1, iterations // 10)
        distill_lr = cfg.distill_lr if cfg.distill_lr is not None else (0.02 if spec.channels == 1 else 0.001)
        batch = min(cfg.real_batch, n)

        images = torch.randn(steps, classes, spec.channels, spec.size, spec.size, generator=generator)
        images = images.to(device).requires_grad_(True)
        raw_lrs = torch.full((unrolled,), inverse_softplus(distill_lr), device=device, requires_grad=True)
        step_labels = torch.arange(classes, device=device)
        step_order = [k % steps for k in range(unrolled)]
        optimizer = torch.optim.Adam([images, raw_lrs], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        decay = torch.optim.lr_scheduler.StepLR(optimizer, step_size=decay_every, gamma=cfg.decay)

        loss_value = math.nan
        for it in range(iterations):
            net = xavier_init(model_factory(generator), generator)
            if has_batchnorm(net):
                estimate_bn_statistics(net, self._bn_sample(train, cfg.bn_images_per_class, generator))
            params = {name: p.detach() for name, p in net.named_parameters()}
            buffers = dict(net.named_buffers())
            pick = torch.randperm(n, generator=generator)[:batch].to(train.images.device)
            loss = distillation_loss(net, params, buffers, images, step_labels, F.softplus(raw_lrs), step_order,
                                     train.images[pick], train.labels[pick])
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise NonFiniteLoss(f"distillation loss became {loss_value} at outer step {it + 1}; "
                                    "try a smaller lr or distill_lr")
            images.grad, raw_lrs.grad = torch.autograd.grad(loss, [images, raw_lrs])
            if not bool(torch.isfinite(images.grad).all() and torch.isfinite(raw_lrs.grad).all()):
                raise NonFiniteLoss(f"the hypergradient became NaN or infinite at outer step {it + 1}; "
                                    "try a smaller lr or distill_lr")
            optimizer.step()
            decay.step()
            report(it + 1, total=iterations, loss=loss_value)

        schedule = LearnedSchedule(
            lrs=F.softplus(raw_lrs).detach().float(),
            step_order=torch.tensor(step_order, dtype=torch.long, device=device),
            image_step=torch.arange(steps, device=device).repeat_interleave(classes),
        )
        self.details = {
            "iterations_run": iterations, "steps": steps, "unrolled_steps": unrolled, "distill_lr": distill_lr,
            "decay_every": decay_every, "real_batch": batch, "final_loss": loss_value,
            "init": "xavier_normal gain 1, zero biases (per outer step and at replay)",
        }
        return CondensedSet(images=images.detach().reshape(steps * classes, *images.shape[2:]),
                            labels=step_labels.repeat(steps), extras=schedule.to_extras())

    @staticmethod
    def _bn_sample(train, per_class: int, generator: torch.Generator) -> torch.Tensor:
        picks = []
        for c in range(train.spec.classes):
            pool = train.class_indices(c)
            picks.append(pool[torch.randperm(len(pool), generator=generator)[:per_class].to(pool.device)])
        return train.images[torch.cat(picks)]
