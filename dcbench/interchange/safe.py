"""Reading ``.pt`` files without unpickling: what a stranger's file may hold is data, never code.

``torch.load(weights_only=True)`` rebuilds tensors and plain containers only and refuses any other
global the pickle names. The one exception made is for the numpy scalars and dtypes the official
condensation code leaves in its result files (accuracies as ``numpy.float64``, named as numpy 1 or
numpy 2 pickles them): those globals, and no others, are allowed, since newer torch releases no
longer take them by default.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcbench.errors import InterchangeError


def _numpy_globals() -> list[Any]:
    core = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core
    # files written under numpy 1 name the scalar rebuilder by its old module: the same function
    found = [core.multiarray.scalar, (core.multiarray.scalar, "numpy.core.multiarray.scalar"), np.dtype]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25: one class per dtype
    if dtypes is not None:
        found += [dtypes.Float64DType, dtypes.Float32DType, dtypes.Int64DType]
    return found


def load_pt(path: Path) -> Any:
    """The objects of a ``.pt`` file, or one line saying why it is not taken."""
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = next((line.strip() for line in str(exc).splitlines() if "Unsupported global" in line), "")
        raise InterchangeError(
            f"{path} needs pickle to load ({detail or 'it holds objects other than tensors and plain containers'}); "
            "dcbench never unpickles a file: save the tensors alone (a dict of tensors, or .safetensors/.npz)"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise InterchangeError(f"{path} is not a file torch.save wrote ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
