"""The data sets torchvision knows, read through its own dataset classes so that users who are
online can download them and everyone else can point ``--data-root`` at files they already have.

Where the files live under the data root (torchvision's own layout inside each folder):

=============  ==================================================================
mnist          ``<root>/MNIST/raw/`` (the four IDX files, uncompressed)
fashion_mnist  ``<root>/FashionMNIST/raw/`` (same; copied from Debian's package if installed)
svhn           ``<root>/svhn/train_32x32.mat``, ``test_32x32.mat``
cifar10        ``<root>/cifar10/cifar-10-batches-py/``
cifar100       ``<root>/cifar100/cifar-100-python/``
usps           ``<root>/usps/usps.bz2``, ``usps.t.bz2``
=============  ==================================================================
"""

from __future__ import annotations

import contextlib
import pickle
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from dcbench import DataError, Dataset, DatasetSpec, RawData

from . import fashion_mnist_files

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
USPS_URL = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"

# urllib waits forever by default, so a network that silently drops packets would hang a download
# for good; this bounds each stalled read or connect, not the length of the download.
DOWNLOAD_STALL_TIMEOUT_S = 60.0

# What torchvision raises for missing, corrupted, unparsable or unfetchable files: "Dataset not
# found" is a RuntimeError, network failures are OSErrors (URLError included), a truncated pickle
# or bz2 stream an EOFError, a foreign file a ValueError, KeyError or UnpicklingError.
_FILE_ERRORS = (RuntimeError, OSError, EOFError, ValueError, KeyError, pickle.UnpicklingError)

_DIGIT_NAMES = tuple(str(d) for d in range(10))

MNIST_SPEC = DatasetSpec(
    name="mnist", channels=1, size=28, classes=10, mean=(0.1307,), std=(0.3081,), version=1,
    class_names=_DIGIT_NAMES,
)
FASHION_MNIST_SPEC = DatasetSpec(
    name="fashion_mnist", channels=1, size=28, classes=10, mean=(0.2861,), std=(0.3530,), version=1,
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"),
)
SVHN_SPEC = DatasetSpec(
    name="svhn", channels=3, size=32, classes=10, mean=(0.4377, 0.4438, 0.4728), std=(0.1980, 0.2010, 0.1970),
    version=1, class_names=_DIGIT_NAMES,
)
CIFAR10_SPEC = DatasetSpec(
    name="cifar10", channels=3, size=32, classes=10, mean=(0.4914, 0.4822, 0.4465),
    # The widely used constant rather than the true std (docs/settings.md), for comparable numbers.
    std=(0.2023, 0.1994, 0.2010),
    version=1,
    class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
)
CIFAR100_SPEC = DatasetSpec(
    name="cifar100", channels=3, size=32, classes=100, mean=(0.5071, 0.4866, 0.4409), std=(0.2673, 0.2564, 0.2762),
    version=1,
    # The fine label names in the order of the archive's meta file (alphabetical), so the spec
    # stays static and needs no files.
    class_names=(
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger",
        "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ),
)
USPS_SPEC = DatasetSpec(
    name="usps", channels=1, size=16, classes=10, mean=None, std=None,  # computed from the training split
    version=1, class_names=_DIGIT_NAMES,
)


def load_mnist(root: Path, download: bool) -> RawData:
    from torchvision.datasets import MNIST  # torchvision costs over a second to import

    root = Path(root)
    where = root / "MNIST" / "raw"
    fetch = f"put the four files from {MNIST_URL}, gunzipped, into {where}"
    return _idx_set(MNIST_SPEC, MNIST, root, where, fetch, download)


def load_fashion_mnist(root: Path, download: bool) -> RawData:
    from torchvision.datasets import FashionMNIST

    root = Path(root)
    if fashion_mnist_files.copy_system_files(root):
        download = False  # the files are all there now; nothing to fetch
    where = fashion_mnist_files.raw_dir(root)
    fetch = (f"put the four files from {FASHION_MNIST_URL}, gunzipped, into {where}, or "
             f"apt-get install {fashion_mnist_files.PACKAGE} (read from {fashion_mnist_files.SYSTEM_DIR})")
    return _idx_set(FASHION_MNIST_SPEC, FashionMNIST, root, where, fetch, download)


def load_svhn(root: Path, download: bool) -> RawData:
    from torchvision.datasets import SVHN

    where = Path(root) / "svhn"
    fetch = f"put train_32x32.mat and test_32x32.mat from {SVHN_URL} into {where}"
    train, test = _open_splits(
        "svhn", lambda train, dl: SVHN(where, split="train" if train else "test", download=dl), where, fetch, download,
    )
    # torchvision already turned the .mat's (H, W, C, N) into (N, C, H, W) and label 10 into digit 0.
    return _checked(SVHN_SPEC, where, RawData(
        _images(train.data, "NCHW"), _labels(train.labels), _images(test.data, "NCHW"), _labels(test.labels),
    ))


def load_cifar10(root: Path, download: bool) -> RawData:
    from torchvision.datasets import CIFAR10

    return _cifar(CIFAR10_SPEC, CIFAR10, Path(root), CIFAR10_URL, download)


def load_cifar100(root: Path, download: bool) -> RawData:
    from torchvision.datasets import CIFAR100

    return _cifar(CIFAR100_SPEC, CIFAR100, Path(root), CIFAR100_URL, download)


def load_usps(root: Path, download: bool) -> RawData:
    from torchvision.datasets import USPS

    where = Path(root) / "usps"
    fetch = f"put usps.bz2 and usps.t.bz2 from {USPS_URL} into {where}"
    train, test = _open_splits(
        "usps", lambda train, dl: USPS(where, train=train, download=dl), where, fetch, download,
    )
    # torchvision maps the files' [-1, 1] floats to uint8 the way its PIL-based __getitem__ sees them.
    return _checked(USPS_SPEC, where, RawData(
        _images(train.data, "NHW"), _labels(train.targets), _images(test.data, "NHW"), _labels(test.targets),
    ))


def _idx_set(spec: DatasetSpec, cls: type, root: Path, where: Path, fetch: str, download: bool) -> RawData:
    train, test = _open_splits(
        spec.name, lambda train, dl: cls(root, train=train, download=dl), where, fetch, download,
    )
    return _checked(spec, where, RawData(
        _images(train.data, "NHW"), _labels(train.targets), _images(test.data, "NHW"), _labels(test.targets),
    ))


def _cifar(spec: DatasetSpec, cls: type, root: Path, url: str, download: bool) -> RawData:
    home = root / spec.name
    where = home / cls.base_folder  # the folder the archive unpacks to
    fetch = f"extract {url} into {home}"
    train, test = _open_splits(
        spec.name, lambda train, dl: cls(home, train=train, download=dl), where, fetch, download,
    )
    return _checked(spec, where, RawData(
        _images(train.data, "NHWC"), _labels(train.targets), _images(test.data, "NHWC"), _labels(test.targets),
    ))


def _open_splits(name: str, make: Callable[[bool, bool], Any], where: Path, fetch: str,
                 download: bool) -> tuple[Any, Any]:
    """Both splits of a torchvision data set; ``make(train, download)`` builds one."""
    try:
        with _bounded_stalls() if download else contextlib.nullcontext():
            return make(True, download), make(False, download)
    except _FILE_ERRORS as e:
        raise DataError(_explain(name, e, where, fetch, download)) from e


@contextlib.contextmanager
def _bounded_stalls() -> Iterator[None]:
    previous = socket.getdefaulttimeout()
    if previous is None:  # a timeout the user set is theirs to keep
        socket.setdefaulttimeout(DOWNLOAD_STALL_TIMEOUT_S)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _explain(name: str, error: BaseException, where: Path, fetch: str, download: bool) -> str:
    """One line for the CLI: what failed, where, and how to get the files."""
    reason = " ".join(str(error).split()) or type(error).__name__
    if len(reason) > 300:  # torchvision lists every mirror it tried, each with its error
        reason = reason[:297] + "..."
    if download:
        return f"could not download {name} into {where}: {reason}; {fetch} instead"
    text = str(error)
    if isinstance(error, FileNotFoundError) or "not found" in text:
        # torchvision's own text suggests download=True, a Python argument, so it is left out.
        state = "not found or corrupted" if "corrupted" in text else "not found"
        return f"{name} {state} in {where}; rerun with --download when online, or {fetch}"
    return f"could not read {name} from {where}: {reason}; replace the files ({fetch}) or rerun with --download"


def _images(data: Any, layout: str) -> torch.Tensor:
    """uint8 pixels as float32 in [0, 1], (N, C, H, W): exactly what ToTensor() makes of each image."""
    pixels = torch.as_tensor(data)
    if layout == "NHW":
        pixels = pixels.unsqueeze(1)
    elif layout == "NHWC":
        pixels = pixels.permute(0, 3, 1, 2)
    # Made contiguous while still uint8: a quarter of the bytes to move.
    return pixels.contiguous().to(torch.float32).div_(255)


def _labels(targets: Any) -> torch.Tensor:
    return torch.as_tensor(targets, dtype=torch.int64)


def _checked(spec: DatasetSpec, where: Path, raw: RawData) -> RawData:
    """Files of another data set under the right names would otherwise fail much later, and obscurely."""
    expected = (spec.channels, spec.size, spec.size)
    for split, images, labels in (("train", raw.train_images, raw.train_labels),
                                  ("test", raw.test_images, raw.test_labels)):
        if len(labels) == 0 or tuple(images.shape[1:]) != expected or len(images) != len(labels):
            raise DataError(
                f"{spec.name}: the {split} files in {where} hold {len(labels)} labels for images of shape "
                f"{tuple(images.shape)}, expected (N, {', '.join(map(str, expected))}) with N > 0; replace them"
            )
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= spec.classes:
            raise DataError(
                f"{spec.name}: the {split} files in {where} have labels {low}..{high}, expected 0..{spec.classes - 1}; "
                f"replace them"
            )
    return raw


mnist = Dataset(MNIST_SPEC, load_mnist)
fashion_mnist = Dataset(FASHION_MNIST_SPEC, load_fashion_mnist)
svhn = Dataset(SVHN_SPEC, load_svhn)
cifar10 = Dataset(CIFAR10_SPEC, load_cifar10)
cifar100 = Dataset(CIFAR100_SPEC, load_cifar100)
usps = Dataset(USPS_SPEC, load_usps)
