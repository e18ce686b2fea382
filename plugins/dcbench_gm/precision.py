"""The arithmetic gradient matching synthesises in, chosen by ``Config.precision``.

- ``default``: torch's own defaults, whatever they are on the device (on CUDA: TF32 cuDNN
  convolutions, IEEE float32 matmuls; on CPU: IEEE float32). What every stored result used.
- ``ieee``: IEEE float32 convolutions and matmuls on CUDA (the paper's arithmetic, slowest there).
- ``tf32``: TensorFloat-32 convolutions and matmuls on CUDA (10-bit mantissa inputs, float32 sums).
- ``bf16``: every forward and backward of synthesis under bfloat16 autocast. Images, weights,
  optimiser state and the matching distance stay float32: autocast casts weights per op, so the
  parameter gradients that are matched arrive in float32.

TF32 is a CUDA feature: on CPU ``ieee`` and ``tf32`` compute what ``default`` does, and the result's
``details.math`` says so. The backend switches are process-wide, so they are set for one
condensation and put back after it.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

PRECISIONS = ("default", "ieee", "tf32", "bf16")


@contextlib.contextmanager
def precision_scope(precision: str, device: torch.device) -> Iterator[str]:
    """Run the body in ``precision`` on ``device``; yields what was in effect, for the record."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    # The boolean switches, not torch ≥ 2.9's per-operator ``fp32_precision`` strings: setting cuDNN
    # convolutions alone to "ieee" that way leaves them out of step with cuDNN RNNs, and
    # ``torch.backends.cudnn.allow_tf32``, which inductor still reads, then raises.
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = cudnn.allow_tf32, matmul.allow_tf32
    try:
        if device.type == "cuda" and precision in ("ieee", "tf32"):
            cudnn.allow_tf32 = matmul.allow_tf32 = precision == "tf32"
        if device.type == "cuda":
            math = (f"{'tf32' if cudnn.allow_tf32 else 'ieee'} convolutions, "
                    f"{'tf32' if matmul.allow_tf32 else 'ieee'} matmuls")
        else:
            math = "ieee float32"
        if precision == "bf16":
            with torch.autocast(device.type, dtype=torch.bfloat16):
                yield f"bfloat16 autocast ({math} outside it)"
        else:
            yield math
    finally:
        cudnn.allow_tf32, matmul.allow_tf32 = saved
