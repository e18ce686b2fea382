"""The gradient matching distance (paper eq. 10) and the ablation alternatives.

Every function takes two lists of per-layer gradients, optionally with a leading class dimension
(``lead=1``) so the class-batched path computes all classes' distances in one go.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

EPS = 1e-6  # added to the product of norms, as in the paper's implementation

Grads = Sequence[torch.Tensor]


def _rows(g: torch.Tensor, lead: int) -> torch.Tensor | None:
    """A layer's gradient as (…, out, rest) rows; None for 1-D tensors (biases, norm weights).

    conv (out, in, h, w) → (out, in·h·w); 3-D such as LayerNorm's [C, H, W] → (C, H·W);
    linear (out, in) as it is.
    """
    dims = g.dim() - lead
    if dims <= 1:
        return None
    return g.reshape(*g.shape[:lead + 1], -1)


def layerwise(syn: Grads, real: Grads, lead: int = 0) -> torch.Tensor:
    """Sum over layers and output rows of 1 − cos(syn row, real row). 1-D tensors add nothing."""
    total = None
    for gs, gr in zip(syn, real, strict=True):
        rs, rr = _rows(gs, lead), _rows(gr, lead)
        if rs is None:
            continue
        cos = (rs * rr).sum(-1) / (rs.norm(dim=-1) * rr.norm(dim=-1) + EPS)
        term = (1 - cos).sum(-1)
        total = term if total is None else total + term
    if total is None:  # a network of 1-D parameters only: nothing to match
        shape = syn[0].shape[:lead] if lead else ()
        return torch.zeros(shape, device=syn[0].device, dtype=syn[0].dtype)
    return total


def _flat(grads: Grads, lead: int) -> torch.Tensor:
    return torch.cat([g.reshape(*g.shape[:lead], -1) for g in grads], dim=-1)


def mse(syn: Grads, real: Grads, lead: int = 0) -> torch.Tensor:
    """Sum of squared differences of all gradients, concatenated."""
    return ((_flat(syn, lead) - _flat(real, lead)) ** 2).sum(-1)


def cosine(syn: Grads, real: Grads, lead: int = 0) -> torch.Tensor:
    """1 − one cosine between all gradients, concatenated."""
    s, r = _flat(syn, lead), _flat(real, lead)
    return 1 - (s * r).sum(-1) / (s.norm(dim=-1) * r.norm(dim=-1) + EPS)


DISTANCES: dict[str, Callable[..., torch.Tensor]] = {"ours": layerwise, "mse": mse, "cos": cosine}
