"""distribution_matching: Dataset Condensation with Distribution Matching (Zhao & Bilen, WACV 2023).

Each outer iteration draws a freshly initialised network, freezes its parameters and, for every
class, compares the mean embedding (the input of the classifier, ``dcbench.embedding``) of a batch
of real images with the mean embedding of that class's synthetic images, both passed through one
shared (Siamese) DSA draw. The loss is the sum over classes of the squared L2 distance between the
two means, the real one held fixed; one SGD step on the images follows. No network is trained.

Defaults follow the authors' code, github.com/VICO-UoE/DatasetCondensation, ``main_DM.py``
(line numbers of that file as published; "L23" is its line 23), and the paper.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from dcbench import (
    DSA_STRATEGY,
    CondensedSet,
    CondenserBase,
    CondenserSpec,
    check_ipc,
    embedding,
    has_batchnorm,
    siamese_augment,
)

#: The paper's budget: 20,000 iterations (main_DM.py L23, ``--Iteration``; the paper's experimental settings).
PAPER_ITERATIONS = 20_000

NO_AUGMENTATION = "none"
BATCHNORM = ("batch", "frozen")


class NonFiniteLoss(RuntimeError):
    """The matching loss became NaN or infinite: the set would be garbage, so the cell fails."""


class DistributionMatching(CondenserBase):
    spec = CondenserSpec(
        name="distribution_matching", kind="synthesis", version=1, needs_network=True, deterministic=True,
        description="learn images whose mean embedding in random networks matches the real images', "
                    "class by class (DM)",
        resumable=True, iteration_field="iterations", recipe="dsa", needs_embedding=True,
        details=("iterations_run", "final_loss", "dsa_strategy", "batchnorm", "embed_dim", "real_per_class"),
    )

    @dataclass(frozen=True)
    class Config:
        # Outer iterations, one fresh network and one image step each. main_DM.py L23: 20,000 (its loop,
        # L106, runs Iteration + 1 steps; here exactly `iterations`). Profiles scale it: profile_defaults.
        iterations: int = PAPER_ITERATIONS
        lr_img: float = 1.0  # SGD step size on the images: main_DM.py L24 (--lr_img 1.0)
        img_momentum: float = 0.5  # SGD momentum on the images: main_DM.py L102 (fixed there)
        # Real images per class per iteration, min(real_batch, class size): main_DM.py L26 (--batch_real
        # 256), drawn without replacement (L82, a permutation's first n).
        real_batch: int = 256
        init: str = "real"  # real (main_DM.py L28, L93-96: random real images of the class) | noise (N(0, 1))
        # DSA strategy, one shared draw per class for its real and synthetic batch (main_DM.py L29, L155-158);
        # "none" turns augmentation off (L38).
        dsa_strategy: str = DSA_STRATEGY
        # Networks with BatchNorm: "batch" as main_DM.py L140 and L165-187 (train mode: every BatchNorm
        # normalises with the statistics of the batch, and all classes' real images make one batch, all
        # synthetic images another); "frozen" keeps the real statistics the synthesis factory estimated.
        batchnorm: str = "batch"

        def __post_init__(self) -> None:
            for name, allowed in (("init", ("real", "noise")), ("batchnorm", BATCHNORM)):
                if getattr(self, name) not in allowed:
                    raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
            if self.iterations < 1 or self.real_batch < 1:
                raise ValueError("iterations and real_batch must be at least 1")
            if not self.lr_img > 0 or not 0 <= self.img_momentum < 1:
                raise ValueError("need lr_img > 0 and 0 <= img_momentum < 1")
            if self.dsa_strategy != NO_AUGMENTATION:
                try:
                    siamese_augment([torch.zeros(1, 1, 8, 8)], self.dsa_strategy, torch.Generator())
                except ValueError as exc:
                    raise ValueError(f"dsa_strategy: {exc} (or 'none')") from None

    @classmethod
    def profile_defaults(cls, profile) -> dict[str, Any]:
        # Profiles with paper_budgets (paper): the paper's 20,000. Others: half the profile's K (cpu 200 ->
        # 100, smoke 20 -> 10), a budget for time, not a scaled paper budget: an iteration is a first-order
        # pass (about 0.4x gradient matching's at 1 ipc on fashion_mnist), so the cpu cell takes minutes
        # where gradient matching's takes an hour, and its set already beats the paper's DC number there
        # (docs/dsa-dm.md, "Measured"). On digits one iteration takes 0.1 s (ConvNet), 0.06 s (ConvNet-2).
        return {"iterations": PAPER_ITERATIONS if profile.paper_budgets else max(1, profile.iterations // 2)}

    def condense(self, train, *, ipc, generator, device, model_factory=None, report=None, checkpoint=None):
        cfg = self.config
        report = report or (lambda *a, **k: None)
        check_ipc(train, ipc)
        classes = train.spec.classes
        pools = [train.class_indices(c) for c in range(classes)]
        real_sizes = [min(cfg.real_batch, len(pool)) for pool in pools]
        augmented = cfg.dsa_strategy != NO_AUGMENTATION

        syn = self._initial_images(train, pools, ipc, generator).to(device).requires_grad_(True)
        labels = torch.arange(classes, device=device).repeat_interleave(ipc)
        optimizer = torch.optim.SGD([syn], lr=cfg.lr_img, momentum=cfg.img_momentum)
        done, loss_per_class, embed_dim, bn = 0, None, None, "no BatchNorm in the network"
        if state := checkpoint and checkpoint.load():  # a stopped run of this cell: go on from there
            with torch.no_grad():
                syn.copy_(state["images"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            done, loss_per_class = int(state["iteration"]), float(state["loss"])
        started, real_seen = time.perf_counter(), 0
        for k in range(done, cfg.iterations):
            net = model_factory(generator)  # fresh random weights (main_DM.py L139)
            net.requires_grad_(False)  # parameters frozen (L141-142): gradients go to the images only
            together = has_batchnorm(net) and cfg.batchnorm == "batch"
            if has_batchnorm(net):
                bn = self._batchnorm_mode(net)
            real_parts, syn_parts = [], []
            for c, pool in enumerate(pools):
                pick = torch.randperm(len(pool), generator=generator)[:real_sizes[c]]
                real, fake = train.images[pool[pick.to(pool.device)]], syn[c * ipc:(c + 1) * ipc]
                if augmented:  # one draw for both, per class (L155-158)
                    real, fake = siamese_augment([real, fake], cfg.dsa_strategy, generator)
                real_parts.append(real)
                syn_parts.append(fake)
            # BatchNorm in batch mode normalises over all classes at once, as main_DM.py does (L181-185); every
            # other network goes class by class (L151-161), which keeps memory at one class's real batch.
            with torch.no_grad():  # the real side is a fixed target (L160, L184: .detach())
                if together:
                    real_emb = embedding(net, torch.cat(real_parts)).split(real_sizes)
                else:
                    real_emb = [embedding(net, real) for real in real_parts]
                real_mean = torch.stack([e.mean(0) for e in real_emb])
            if together:
                syn_emb = embedding(net, torch.cat(syn_parts))
                syn_mean = syn_emb.view(classes, ipc, syn_emb.shape[1]).mean(1)
            else:
                syn_mean = torch.stack([embedding(net, fake).mean(0) for fake in syn_parts])
            embed_dim = syn_mean.shape[1]
            loss = ((real_mean - syn_mean) ** 2).sum()  # summed over classes and features (L163, L187)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            loss_per_class = loss.item() / classes  # what main_DM.py prints (L194-197)
            if not torch.isfinite(torch.tensor(loss_per_class)) or not bool(torch.isfinite(syn.grad).all()):
                raise NonFiniteLoss(f"distribution matching loss became {loss_per_class} at iteration {k + 1}; "
                                    "try a smaller lr_img")
            optimizer.step()
            real_seen += sum(real_sizes)
            elapsed = time.perf_counter() - started
            report(k + 1, total=cfg.iterations, loss=loss_per_class, images_per_s=real_seen / max(elapsed, 1e-9))
            if checkpoint and checkpoint.due() and k + 1 < cfg.iterations:
                checkpoint.save({"images": syn.detach().cpu(), "optimizer": optimizer.state_dict(),
                                 "generator": generator.get_state(), "iteration": k + 1, "loss": loss_per_class})
        self.details = {
            "iterations_run": cfg.iterations, "final_loss": loss_per_class,
            "dsa_strategy": cfg.dsa_strategy, "batchnorm": bn, "embed_dim": embed_dim,
            "real_per_class": min(real_sizes),
        }
        return CondensedSet(images=syn.detach(), labels=labels)

    def _batchnorm_mode(self, net: torch.nn.Module) -> str:
        if self.config.batchnorm == "batch":
            net.train()  # main_DM.py L140: BatchNorm uses each batch's statistics (they are never kept)
            return "batch statistics, all classes in one batch (main_DM.py)"
        return "real statistics estimated by the synthesis factory, frozen"

    def _initial_images(self, train, pools: list[torch.Tensor], ipc: int, generator: torch.Generator) -> torch.Tensor:
        spec = train.spec
        if self.config.init == "noise":  # main_DM.py L90: standard normal, in the normalised space
            return torch.randn(spec.classes * ipc, spec.channels, spec.size, spec.size, generator=generator)
        # main_DM.py L95-96: ipc distinct random real images of each class
        picks = [pool[torch.randperm(len(pool), generator=generator)[:ipc].to(pool.device)] for pool in pools]
        return train.images[torch.cat(picks)].detach().clone()
