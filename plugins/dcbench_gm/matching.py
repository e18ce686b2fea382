"""One matching step: per-class gradients on real and synthetic images, their distance, and the
image gradient of that distance. Three implementations with equal results (to rounding):

- ``loop``: one class at a time. Fastest eager path on CPU (vmap was 1.7× slower there, docs/performance.md) and
  memory bounded by one class; the image gradient is accumulated class by class.
- ``batched``: classes in chunks through ``torch.func.vmap`` over per-class ``grad`` — a few large
  kernels instead of many small launches, which is what a GPU needs. Real batches of unequal size
  are padded and masked by per-example weights; chunks bound memory for many classes.
- ``compiled``: ``loop`` with its real half (a forward and backward over up to 256 real images per
  class, most of an iteration at small ipc) fused by ``torch.compile``. The synthetic half needs a
  double backward, which compiled graphs do not support, so it stays eager. Not bit-identical to
  ``loop`` and it costs a compilation (tens of seconds on CPU) per condensation, so it is opt-in.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

Distance = Callable[..., torch.Tensor]
#: ``siamese(real, syn) -> (real, syn)``: one class's real and synthetic batch transformed alike
#: (DSA's augmentation, one draw for both), inside the graph so that the images' gradient flows through.
Siamese = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def loop_step(net: nn.Module, syn: torch.Tensor, ipc: int, real: Sequence[torch.Tensor], distance: Distance,
              real_gradients: RealGradients | None = None, siamese: Siamese | None = None,
              **_: object) -> torch.Tensor:
    """Accumulates d(loss)/d(syn) into ``syn.grad``; returns the summed loss (detached)."""
    params = [p for p in net.parameters() if p.requires_grad]
    real_gradients = real_gradients or eager_real_gradients
    total = torch.zeros((), device=syn.device)
    for c, images in enumerate(real):
        target = torch.full((images.shape[0],), c, device=syn.device, dtype=torch.long)
        mine = syn[c * ipc:(c + 1) * ipc]
        if siamese is not None:
            images, mine = siamese(images, mine)
        g_real = real_gradients(net, params, images, target)
        g_syn = torch.autograd.grad(F.cross_entropy(net(mine), target[:1].expand(ipc)), params, create_graph=True)
        loss = distance(g_syn, g_real)
        torch.autograd.backward(loss, inputs=[syn])  # the images only: never the network
        total += loss.detach()
    return total


RealGradients = Callable[[nn.Module, list, torch.Tensor, torch.Tensor], list]


def eager_real_gradients(net: nn.Module, params: list, images: torch.Tensor, target: torch.Tensor) -> list:
    return [g.detach() for g in torch.autograd.grad(F.cross_entropy(net(images), target), params)]


class CompiledLoop:
    """``loop_step`` whose real gradients come from one compiled graph per condensation.

    Every outer iteration builds a fresh network, and a graph traced through a module is only valid
    for that module. So the graph is traced through the first network (the template) with its
    tensors as inputs, and later networks, built by the same factory with the same structure, are
    run through it with their own tensors: one compilation, not one per iteration. The traced graph
    specialises on the real batch size, so a class smaller than ``real_batch`` (a data set with
    unequal classes) costs one more compilation, with a dynamic batch size, which then serves all.

    Dynamo caches graphs per code object, which every instance shares, and past its recompile limit
    (8) it runs the function eagerly with no more than a warning. A worker that condenses with
    several networks in turn would reach it and report ``compiled`` for eager runs, so each
    condensation starts from an empty cache (inductor's on-disk cache still makes recompiling cheap).
    """

    def __init__(self) -> None:
        torch._dynamo.reset()
        self._template: nn.Module | None = None
        self._grad: Callable | None = None

    def __call__(self, net: nn.Module, syn: torch.Tensor, ipc: int, real: Sequence[torch.Tensor],
                 distance: Distance, siamese: Siamese | None = None, **_: object) -> torch.Tensor:
        return loop_step(net, syn, ipc, real, distance, real_gradients=self._real_gradients, siamese=siamese)

    def _real_gradients(self, net: nn.Module, params: list, images: torch.Tensor, target: torch.Tensor) -> list:
        if self._template is None:
            template = self._template = net

            def loss(trained: dict, fixed: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                return F.cross_entropy(functional_call(template, (trained, fixed), (x,)), y)

            self._grad = torch.compile(grad(loss))
        for mine, theirs in zip(self._template.modules(), net.modules(), strict=True):
            mine.training = theirs.training  # e.g. frozen BatchNorm in eval mode: the graph must run as the net does
        trained = {n: p.detach() for n, p in net.named_parameters() if p.requires_grad}
        fixed = {**{n: p.detach() for n, p in net.named_parameters() if not p.requires_grad},
                 **dict(net.named_buffers())}
        gradients = self._grad(trained, fixed, images, target)
        return [gradients[n] for n in trained]


def batched_step(net: nn.Module, syn: torch.Tensor, ipc: int, real: Sequence[torch.Tensor], distance: Distance,
                 class_chunk: int = 10, siamese: Siamese | None = None, **_: object) -> torch.Tensor:
    names = [n for n, p in net.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in net.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in net.named_parameters() if not p.requires_grad}
    buffers = dict(net.named_buffers())

    def weighted_ce(p: dict, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = functional_call(net, ({**p, **frozen}, buffers), (x,))
        return (F.cross_entropy(out, y, reduction="none") * w).sum() / w.sum()

    per_class = vmap(grad(weighted_ce), in_dims=(None, 0, 0, 0))
    total = torch.zeros((), device=syn.device)
    for start in range(0, len(real), class_chunk):
        classes = range(start, min(start + class_chunk, len(real)))
        pairs = [(real[c], syn[c * ipc:(c + 1) * ipc]) for c in classes]
        if siamese is not None:  # each class its own draw, as the loop draws them, in class order
            pairs = [siamese(images, mine) for images, mine in pairs]
        x, y, w = _padded([images.detach() for images, _ in pairs], list(classes))
        with torch.no_grad():  # real gradients are constants: no graph outside grad()
            g_real = per_class(params, x, y, w)
        mine = torch.stack([m for _, m in pairs])
        y_syn = torch.tensor(list(classes), device=syn.device).repeat_interleave(ipc).view(len(classes), ipc)
        g_syn = per_class(params, mine, y_syn, torch.ones(len(classes), ipc, device=syn.device))
        loss = distance([g_syn[n] for n in names], [g_real[n] for n in names], lead=1).sum()
        torch.autograd.backward(loss, inputs=[syn])
        total += loss.detach()
    return total


def _padded(batches: list[torch.Tensor], labels: list[int]):
    """Stack unequal per-class batches to (k, B, …) with 0/1 weights marking the real examples."""
    size = max(b.shape[0] for b in batches)
    device = batches[0].device
    x = torch.zeros(len(batches), size, *batches[0].shape[1:], device=device, dtype=batches[0].dtype)
    w = torch.zeros(len(batches), size, device=device)
    for i, b in enumerate(batches):
        x[i, :b.shape[0]] = b
        w[i, :b.shape[0]] = 1
    y = torch.tensor(labels, device=device).view(-1, 1).expand(-1, size)
    return x, y, w


# Each condensation gets its own step function from these factories (``compiled`` keeps state).
IMPLEMENTATIONS: dict[str, Callable[[], Callable[..., torch.Tensor]]] = {
    "loop": lambda: loop_step, "batched": lambda: batched_step, "compiled": CompiledLoop}


def default_implementation(device: torch.device) -> str:
    return "batched" if device.type == "cuda" else "loop"
