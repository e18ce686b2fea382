"""Fashion-MNIST from Debian's package ``dataset-fashion-mnist``, for machines that cannot download.

The package installs the four IDX files gzipped. torchvision reads them uncompressed from
``<root>/FashionMNIST/raw/``, and its download step would not accept the Debian ``.gz`` files
either (their checksums differ from the ones torchvision pins), so they are gunzipped there.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from dcbench import DataError, write_atomically

# Where the package puts the files; a module constant so tests can point it at a fake folder.
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
PACKAGE = "dataset-fashion-mnist"
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def raw_dir(root: Path) -> Path:
    """Where torchvision's FashionMNIST looks for the uncompressed files."""
    return root / "FashionMNIST" / "raw"


def copy_system_files(root: Path) -> bool:
    """Gunzip the system copy into the data root when the root lacks the files; True if it did.

    Only ever reads from :data:`SYSTEM_DIR`. Each file is written to a temporary name and renamed,
    so an interrupted copy never leaves a truncated file that torchvision would take as complete
    (it checks that the files exist, not what is in them).
    """
    target = raw_dir(root)
    missing = [name for name in FILES if not (target / name).is_file()]
    system_dir = SYSTEM_DIR
    if not missing or not all((system_dir / f"{name}.gz").is_file() for name in missing):
        return False
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name in missing:
            _gunzip_atomically(system_dir / f"{name}.gz", target / name)
    except (OSError, EOFError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise DataError(
            f"could not copy fashion_mnist from {system_dir} into {target}: {reason}; "
            f"fix that, or put the four files, gunzipped, into {target} yourself"
        ) from e
    return True


def _gunzip_atomically(source: Path, destination: Path) -> None:
    def gunzip(tmp: Path) -> None:
        with open(tmp, "wb") as dst, gzip.open(source, "rb") as src:
            shutil.copyfileobj(src, dst, length=1 << 20)

    write_atomically(destination, gunzip)
