"""gradient_matching: Dataset Condensation with Gradient Matching (Zhao, Mopuri, Bilen), Algorithm 1."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

import torch
import torch.nn.functional as F

from dcbench import (
    CondensedSet,
    CondenserBase,
    CondenserSpec,
    added_field,
    check_ipc,
    estimate_bn_statistics,
    has_batchnorm,
)
from dcbench_gm.distance import DISTANCES
from dcbench_gm.matching import IMPLEMENTATIONS, Siamese, default_implementation
from dcbench_gm.precision import PRECISIONS, precision_scope
from dcbench_gm.schedule import paper_schedule


class NonFiniteLoss(RuntimeError):
    """The matching loss became NaN or infinite: the set would be garbage, so the cell fails."""


class GradientMatching(CondenserBase):
    spec = CondenserSpec(
        name="gradient_matching", kind="synthesis", version=1, needs_network=True, deterministic=True,
        description="learn images whose training gradients match real ones, class by class (the paper's DC)",
        resumable=True, iteration_field="iterations", implementations=tuple(IMPLEMENTATIONS),
        details=("steps", "net_epochs", "lr_img", "implementation", "math", "iterations_run", "final_loss",
                 "bn_statistics"),
    )

    @dataclass(frozen=True)
    class Config:
        iterations: int = 1000  # K: outer iterations, each with a fresh network (profile's K)
        steps: int | None = None  # T: matching steps per network (None: the paper's rule for the ipc)
        net_epochs: int | None = None  # ς_θ: epochs on the synthetic set between steps (None: paper's rule)
        lr_img: float | None = None  # None: 0.1, or 0.01 when the synthesis net is an MLP (paper)
        img_momentum: float = 0.5
        lr_net: float = 0.01
        # The reference code's DC version trains the net without momentum (its first release used 0.5).
        net_momentum: float = 0.0
        net_batch: int = 256
        real_batch: int = 256  # real images per class per step: min(real_batch, class size)
        init: str = "noise"  # noise (paper) | real
        distance: str = "ours"  # ours (layer-wise, eq. 10) | mse | cos
        early_stop: bool = False  # stop when the loss stops falling (see docs/gradient-matching.md)
        early_stop_window: int = 50
        early_stop_tol: float = 0.01
        implementation: str = "auto"  # auto (loop on CPU, batched on CUDA) | loop | batched | compiled
        class_chunk: int = 10  # classes per vmap call in the batched path (bounds memory)
        precision: str = added_field("default")  # default | ieee | tf32 | bf16 (dcbench_gm/precision.py)
        bn_images_per_class: int = 32  # real images per class to re-estimate frozen BatchNorm statistics

        def __post_init__(self) -> None:
            choices = {"init": ("noise", "real"), "distance": tuple(DISTANCES),
                       "implementation": ("auto", *IMPLEMENTATIONS), "precision": PRECISIONS}
            for name, allowed in choices.items():
                if getattr(self, name) not in allowed:
                    raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
            for name in ("iterations", "net_batch", "real_batch", "class_chunk", "bn_images_per_class",
                         "early_stop_window"):
                if getattr(self, name) < 1:
                    raise ValueError(f"{name} must be at least 1")
            for name in ("steps", "net_epochs"):
                if getattr(self, name) is not None and getattr(self, name) < 1:
                    raise ValueError(f"{name} must be at least 1")

    @classmethod
    def profile_defaults(cls, profile) -> dict[str, Any]:
        return {"iterations": profile.iterations}

    def condense(self, train, *, ipc, generator, device, model_factory=None, report=None, checkpoint=None):
        cfg = self.config
        report = report or (lambda *a, **k: None)
        check_ipc(train, ipc)
        classes = train.spec.classes
        steps, net_epochs = paper_schedule(ipc)
        steps, net_epochs = cfg.steps or steps, cfg.net_epochs or net_epochs
        family = getattr(getattr(model_factory, "spec", None), "family", None)
        lr_img = cfg.lr_img if cfg.lr_img is not None else (0.01 if family == "mlp" else 0.1)
        implementation = default_implementation(device) if cfg.implementation == "auto" else cfg.implementation
        step_fn = IMPLEMENTATIONS[implementation]()
        distance = DISTANCES[cfg.distance]
        siamese, augment = self._siamese(generator), self._augment(generator)

        syn = self._initial_images(train, ipc, generator).to(device).requires_grad_(True)
        labels = torch.arange(classes, device=device).repeat_interleave(ipc)
        optimizer = torch.optim.SGD([syn], lr=lr_img, momentum=cfg.img_momentum)
        losses: list[float] = []
        started = time.perf_counter()
        real_seen = 0
        if state := checkpoint and checkpoint.load():  # a stopped run of this cell: go on from there
            with torch.no_grad():
                syn.copy_(state["images"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            losses = list(state["losses"])
        with precision_scope(cfg.precision, device) as precision:
            for k in range(len(losses), cfg.iterations):
                net = model_factory(generator)
                uses_bn = has_batchnorm(net)
                net_opt = torch.optim.SGD(net.parameters(), lr=cfg.lr_net, momentum=cfg.net_momentum)
                iteration_loss = 0.0
                for t in range(steps):
                    if uses_bn:
                        estimate_bn_statistics(net, self._sample(train, cfg.bn_images_per_class, generator, flat=True))
                    real = self._sample(train, cfg.real_batch, generator)
                    real_seen += sum(len(r) for r in real)
                    optimizer.zero_grad(set_to_none=True)
                    with precision.autocast():
                        loss = float(step_fn(net, syn, ipc, real, distance, class_chunk=cfg.class_chunk,
                                             siamese=siamese))
                    if not torch.isfinite(torch.tensor(loss)) or not bool(torch.isfinite(syn.grad).all()):
                        raise NonFiniteLoss(f"matching loss became {loss} at outer iteration {k + 1}, step {t + 1}; "
                                            "try a smaller lr_img")
                    optimizer.step()
                    iteration_loss += loss / classes
                    if t < steps - 1:
                        self._train_net(net, net_opt, syn.detach(), labels, net_epochs, cfg.net_batch, generator,
                                        precision.autocast, augment)
                losses.append(iteration_loss / steps)
                elapsed = time.perf_counter() - started
                report(k + 1, total=cfg.iterations, loss=losses[-1], images_per_s=real_seen / max(elapsed, 1e-9))
                if cfg.early_stop and self._converged(losses):
                    break
                if checkpoint and checkpoint.due() and k + 1 < cfg.iterations:
                    checkpoint.save({"images": syn.detach().cpu(), "optimizer": optimizer.state_dict(),
                                     "generator": generator.get_state(), "losses": losses})
        self.details = {
            "steps": steps, "net_epochs": net_epochs, "lr_img": lr_img, "implementation": implementation,
            "math": precision.math,
            "iterations_run": len(losses), "final_loss": losses[-1] if losses else None,
            "bn_statistics": "real, pooled over bn_images_per_class per class before each step, frozen",
        }
        return CondensedSet(images=syn.detach(), labels=labels)

    # hooks of the variants (dsa) ------------------------------------------------------------

    def _siamese(self, generator: torch.Generator) -> Siamese | None:
        """How each class's real and synthetic batch are transformed alike before matching (none here)."""
        return None

    def _augment(self, generator: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """How the synthetic images are transformed while the network trains on them (not at all here)."""
        return None

    # helpers -------------------------------------------------------------------------------

    def _initial_images(self, train, ipc: int, generator: torch.Generator) -> torch.Tensor:
        spec = train.spec
        if self.config.init == "noise":
            return torch.randn(spec.classes * ipc, spec.channels, spec.size, spec.size, generator=generator)
        picks = [train.class_indices(c).cpu()[torch.randperm(len(train.class_indices(c)), generator=generator)[:ipc]]
                 for c in range(spec.classes)]
        return train.images[torch.cat(picks).to(train.images.device)].detach().cpu().clone()

    @staticmethod
    def _sample(train, per_class: int, generator: torch.Generator, flat: bool = False):
        batches = []
        for c in range(train.spec.classes):
            pool = train.class_indices(c)
            pick = torch.randperm(len(pool), generator=generator)[:min(per_class, len(pool))]
            batches.append(train.images[pool[pick.to(pool.device)]])
        return torch.cat(batches) if flat else batches

    @staticmethod
    def _train_net(net, optimizer, images, labels, epochs: int, batch: int, generator: torch.Generator,
                   autocast: Callable[[], ContextManager] = contextlib.nullcontext,
                   augment: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        for _ in range(epochs):
            order = torch.randperm(len(images), generator=generator).to(images.device)
            for start in range(0, len(images), batch):
                idx = order[start:start + batch]
                x = images[idx] if augment is None else augment(images[idx])
                with autocast():  # the forward only: each batch must see the weights the last step left
                    loss = F.cross_entropy(net(x), labels[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

    def _converged(self, losses: list[float]) -> bool:
        """Converged when the mean loss of the last window is not ``early_stop_tol`` (relative)
        below the mean of the window before it."""
        w = self.config.early_stop_window
        if len(losses) < 2 * w:
            return False
        recent, before = sum(losses[-w:]) / w, sum(losses[-2 * w:-w]) / w
        return recent > (1 - self.config.early_stop_tol) * before
