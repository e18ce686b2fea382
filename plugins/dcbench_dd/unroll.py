"""Dataset distillation's inner loop as pure functions: T unrolled SGD steps and the loss after them.

The weights are plain tensors passed to ``torch.func.functional_call``, and every step keeps its
graph (``create_graph=True``), so the loss on real data is differentiable in the synthetic images,
the learning rates and the initial weights: back-propagating it is the hypergradient of the paper
(computed by autograd rather than the reference code's hand-written backward pass; same value).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

Tensors = Mapping[str, torch.Tensor]


def inverse_softplus(y: float) -> float:
    """x with softplus(x) = y > 0, written so that large y neither overflows nor loses precision."""
    return y + math.log(-math.expm1(-y))


def unroll(model: nn.Module, params: Tensors, buffers: Tensors, step_images: torch.Tensor, step_labels: torch.Tensor,
           lrs: torch.Tensor, step_order: Sequence[int]) -> dict[str, torch.Tensor]:
    """The weights after ``len(step_order)`` SGD steps from ``params``; step k descends the mean
    cross-entropy of ``step_images[step_order[k]]`` (labels ``step_labels``) with rate ``lrs[k]``.

    ``buffers`` (e.g. frozen BatchNorm statistics) are passed through unchanged, and ``model`` is
    used in whatever mode it is in.
    """
    names = list(params)
    # autograd.grad needs every weight in the graph, also where the caller does not differentiate
    # with respect to the initial ones.
    current = {n: p if p.requires_grad else p.detach().requires_grad_(True) for n, p in params.items()}
    for k, s in enumerate(step_order):
        logits = functional_call(model, {**current, **buffers}, (step_images[s],))
        loss = F.cross_entropy(logits, step_labels)
        grads = torch.autograd.grad(loss, [current[n] for n in names], create_graph=True, allow_unused=True,
                                    materialize_grads=True)
        current = {n: current[n] - lrs[k] * g for n, g in zip(names, grads, strict=True)}
    return current


def distillation_loss(model: nn.Module, params: Tensors, buffers: Tensors, step_images: torch.Tensor,
                      step_labels: torch.Tensor, lrs: torch.Tensor, step_order: Sequence[int],
                      real_images: torch.Tensor, real_labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on a real batch of the weights :func:`unroll` ends with, graph kept throughout."""
    final = unroll(model, params, buffers, step_images, step_labels, lrs, step_order)
    return F.cross_entropy(functional_call(model, {**final, **buffers}, (real_images,)), real_labels)
