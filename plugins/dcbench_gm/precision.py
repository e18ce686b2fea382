"""The arithmetic gradient matching synthesises in, chosen by ``Config.precision``.

- ``default``: the process's settings as they are, which unless something changed them are torch's
  defaults (on CUDA: TF32 cuDNN convolutions, IEEE float32 matmuls; on CPU: IEEE float32). What
  every stored result used.
- ``ieee``: IEEE float32 convolutions and matmuls on CUDA (the paper's arithmetic, slowest there).
- ``tf32``: TensorFloat-32 convolutions and matmuls on CUDA (10-bit mantissa inputs, float32 sums).
- ``bf16``: the matching steps' and the network training's forward and backward passes under
  bfloat16 autocast. Images, weights, optimiser state, BatchNorm statistics and the matching
  distance stay float32: the matched parameter gradients arrive in float32.

TF32 is a CUDA feature: on CPU ``ieee`` and ``tf32`` compute what ``default`` does, and the result's
``details.math`` says so. The switches are process-wide, so they are set for one condensation and
put back after it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ContextManager, Iterator

import torch

PRECISIONS = ("default", "ieee", "tf32", "bf16")
_MATMUL = {"ieee": "highest", "tf32": "high"}  # torch.set_float32_matmul_precision's names


@dataclass(frozen=True)
class Precision:
    math: str  # what was in effect, for the result's details
    bf16: bool
    device_type: str

    def autocast(self) -> ContextManager:
        """A context for one stretch of passes during which the weights do not change.

        Autocast caches its low-precision copy of each weight until the outermost autocast block
        ends, and an in-place optimiser step does not invalidate it: one block around a whole
        condensation would run every pass after a network's first update with its initial weights
        (and keep every network alive). So callers open a block per matching step and per training
        batch's forward, never around an optimiser step."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=torch.bfloat16)


@contextlib.contextmanager
def precision_scope(precision: str, device: torch.device) -> Iterator[Precision]:
    """Set the float32 switches for ``precision`` on ``device`` for the body, then put them back."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    # Matmuls through torch's own getter and setter, convolutions through cuDNN's boolean: torch ≥ 2.9's
    # per-operator ``fp32_precision`` strings, set for convolutions alone, make the legacy readers
    # (which inductor still calls) raise.
    cudnn = torch.backends.cudnn
    saved = torch.get_float32_matmul_precision(), cudnn.allow_tf32
    try:
        if device.type == "cuda" and precision in _MATMUL:
            torch.set_float32_matmul_precision(_MATMUL[precision])
            cudnn.allow_tf32 = precision == "tf32"
        if device.type == "cuda":
            matmul = {"highest": "ieee", "high": "tf32"}.get(torch.get_float32_matmul_precision(), "bf16-internal")
            math = f"{'tf32' if cudnn.allow_tf32 else 'ieee'} convolutions, {matmul} matmuls"
        else:
            math = "ieee float32"
        bf16 = precision == "bf16"
        yield Precision(f"bfloat16 autocast ({math} outside it)" if bf16 else math, bf16, device.type)
    finally:
        torch.set_float32_matmul_precision(saved[0])
        cudnn.allow_tf32 = saved[1]
