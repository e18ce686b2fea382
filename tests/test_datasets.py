"""dcbench_vision's data sets, offline.

Every torchvision-backed loader reads a handful of images written here in that data set's own file
format, so the real torchvision reading code runs; only the MD5 checks torchvision makes of the
SVHN and CIFAR files are bypassed (real checksums cannot match made-up files).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import pickle
import struct
import urllib.error
import urllib.request
from pathlib import Path

import dcbench_vision
import numpy as np
import pytest
import scipy.io
import torch
from dcbench_vision import fashion_mnist_files

from dcbench import DataError, Dataset, DatasetSpec
from dcbench.dataset import DatasetOptions, serve

N_TRAIN, N_TEST = 6, 4
IDX_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


# ---------------------------------------------------------------------------------------------
# Tiny data in each data set's on-disk format


def _pixels(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random uint8 images whose first image holds the extremes, so 0 → 0.0 and 255 → 1.0 are checked."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)
    pixels.reshape(n, -1)[0, :2] = (0, 255)
    return pixels


def _labels(n: int, classes: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, classes, size=n).astype(np.int64)


def _idx_bytes(array: np.ndarray) -> bytes:
    """IDX: 0x0000, type 0x08 (uint8), the number of dimensions, then big-endian sizes and the data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _idx_data(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {split: (_pixels(n, (28, 28), seed + i), _labels(n, 10, seed + 10 + i))
            for i, (split, n) in enumerate((("train", N_TRAIN), ("test", N_TEST)))}


def _write_idx(folder: Path, data: dict[str, tuple[np.ndarray, np.ndarray]], *, gz: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in data.items():
        for kind, array in (("images", images), ("labels", labels)):
            content = _idx_bytes(array)
            name = IDX_NAMES[(split, kind)]
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(content))
            else:
                (folder / name).write_bytes(content)


def _as_float(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.astype(np.float32) / np.float32(255))


def _check_raw(raw, spec: DatasetSpec, expected: dict[str, tuple[torch.Tensor, np.ndarray]]) -> None:
    """Shapes, dtypes, range, and the very values written, for both splits."""
    for split, (images, labels) in (("train", (raw.train_images, raw.train_labels)),
                                    ("test", (raw.test_images, raw.test_labels))):
        want_images, want_labels = expected[split]
        n = len(want_labels)
        assert images.shape == (n, spec.channels, spec.size, spec.size), split
        assert images.dtype == torch.float32 and labels.dtype == torch.int64
        assert images.is_contiguous()
        assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
        torch.testing.assert_close(images, want_images, rtol=0, atol=0)
        assert labels.tolist() == [int(v) for v in want_labels]


@pytest.fixture
def no_system_fashion_mnist(tmp_path, monkeypatch):
    """An empty stand-in for Debian's folder, so no test depends on what this machine has installed."""
    empty = tmp_path / "no-debian-copy"
    empty.mkdir()
    monkeypatch.setattr(fashion_mnist_files, "SYSTEM_DIR", empty)
    return empty


@pytest.fixture
def md5_not_checked(monkeypatch):
    """torchvision's SVHN and CIFAR accept a file only if its MD5 is the real data set's; files made
    here cannot have it. Only that comparison is switched off: the files must still exist."""
    import torchvision.datasets.cifar
    import torchvision.datasets.svhn

    def exists(fpath, md5=None):
        return Path(fpath).is_file()

    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", exists)
    monkeypatch.setattr(torchvision.datasets.svhn, "check_integrity", exists)


@pytest.fixture
def offline(monkeypatch):
    """No network, deterministically and at once, whatever the machine running the tests has."""
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# ---------------------------------------------------------------------------------------------
# The exports


def test_exports_are_dataset_plugins_with_static_specs():
    expected = {
        "digits": (1, 8, 10, None, None),
        "mnist": (1, 28, 10, (0.1307,), (0.3081,)),
        "fashion_mnist": (1, 28, 10, (0.2861,), (0.3530,)),
        "svhn": (3, 32, 10, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
        "cifar10": (3, 32, 10, (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
        "cifar100": (3, 32, 100, (0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762)),
        "usps": (1, 16, 10, None, None),
        "generated": (1, 28, 10, None, None),
        "generated_inverted": (1, 28, 10, None, None),
    }
    assert sorted(dcbench_vision.__all__) == sorted(expected)
    for name, (channels, size, classes, mean, std) in expected.items():
        plugin = getattr(dcbench_vision, name)
        assert isinstance(plugin, Dataset)
        spec = plugin.spec
        assert (spec.name, spec.channels, spec.size, spec.classes, spec.mean, spec.std, spec.version) == (
            name, channels, size, classes, mean, std, 1)
        assert len(spec.class_names) == classes and len(set(spec.class_names)) == classes
        assert spec.options == {} and spec.details == {}
    assert dcbench_vision.cifar100.spec.class_names[:3] == ("apple", "aquarium_fish", "baby")
    assert dcbench_vision.cifar100.spec.class_names[-1] == "worm"


# ---------------------------------------------------------------------------------------------
# digits


@pytest.fixture(scope="module")
def digits_raw():
    return dcbench_vision.digits.load(Path("/nonexistent/never/read"), download=False)


def test_digits_are_the_real_8x8_images_in_a_stratified_split(digits_raw):
    raw = digits_raw
    assert len(raw.train_labels) + len(raw.test_labels) == 1797
    assert raw.train_images.shape[1:] == (1, 8, 8) and raw.test_images.shape[1:] == (1, 8, 8)
    assert raw.train_images.dtype == torch.float32 and raw.train_labels.dtype == torch.int64
    assert float(raw.train_images.min()) == 0.0 and float(raw.train_images.max()) == 1.0
    train_counts = torch.bincount(raw.train_labels, minlength=10)
    test_counts = torch.bincount(raw.test_labels, minlength=10)
    assert bool((train_counts > 0).all()) and bool((test_counts > 0).all())
    # Stratified 80/20: every class's share of the test split is within one image of 20 %.
    total = train_counts + test_counts
    assert bool(((test_counts - 0.2 * total).abs() <= 1).all())
    assert raw.details["split_seed"] == 0
    assert (raw.details["train"], raw.details["test"]) == (len(raw.train_labels), len(raw.test_labels))


def test_digits_split_is_the_same_on_every_call(digits_raw):
    again = dcbench_vision.digits.load(Path("/elsewhere"), download=True)
    assert torch.equal(again.train_images, digits_raw.train_images)
    assert torch.equal(again.test_labels, digits_raw.test_labels)
    assert again.details == digits_raw.details


def test_digits_train_and_test_are_disjoint(digits_raw):
    train = {hashlib.sha1(img.numpy().tobytes()).digest() for img in digits_raw.train_images}
    test = [hashlib.sha1(img.numpy().tobytes()).digest() for img in digits_raw.test_images]
    # load_digits has a few exact duplicate images, so overlap by content is only nearly zero.
    assert sum(h in train for h in test) <= 5


def test_serving_digits_at_32x32_rgb(digits_raw):
    served = serve(dcbench_vision.digits, digits_raw, DatasetOptions(size=32, channels=3))
    assert served.train.images.shape == (len(digits_raw.train_labels), 3, 32, 32)
    assert served.test.images.shape == (len(digits_raw.test_labels), 3, 32, 32)
    spec = served.spec
    assert spec.options == {"size": 32, "channels": 3}
    assert (spec.size, spec.channels) == (32, 3)
    assert len(spec.mean) == 3 and len(spec.std) == 3
    assert spec.details["split_seed"] == 0
    # Normalised with the training split's own statistics: mean ≈ 0 and std ≈ 1 per channel.
    flat = served.train.images.transpose(0, 1).reshape(3, -1)
    assert torch.allclose(flat.mean(1), torch.zeros(3), atol=1e-3)
    assert torch.allclose(flat.std(1), torch.ones(3), atol=1e-3)


# ---------------------------------------------------------------------------------------------
# MNIST and Fashion-MNIST


def _idx_expected(data):
    return {split: (_as_float(images).unsqueeze(1), labels) for split, (images, labels) in data.items()}


def test_mnist_reads_idx_files(tmp_path):
    data = _idx_data(seed=1)
    _write_idx(tmp_path / "MNIST" / "raw", data)
    raw = dcbench_vision.mnist.load(tmp_path, download=False)
    _check_raw(raw, dcbench_vision.mnist.spec, _idx_expected(data))
    assert float(raw.train_images[0, 0, 0, 1]) == 1.0 and float(raw.train_images[0, 0, 0, 0]) == 0.0


def test_fashion_mnist_reads_idx_files_in_the_data_root(tmp_path, no_system_fashion_mnist):
    data = _idx_data(seed=2)
    _write_idx(tmp_path / "FashionMNIST" / "raw", data)
    raw = dcbench_vision.fashion_mnist.load(tmp_path, download=False)
    _check_raw(raw, dcbench_vision.fashion_mnist.spec, _idx_expected(data))


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_fashion_mnist_from_the_debian_package_folder(tmp_path, monkeypatch):
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    data = _idx_data(seed=3)
    _write_idx(system, data, gz=True)
    monkeypatch.setattr(fashion_mnist_files, "SYSTEM_DIR", system)
    before = _snapshot(system)
    root = tmp_path / "data"

    raw = dcbench_vision.fashion_mnist.load(root, download=False)

    _check_raw(raw, dcbench_vision.fashion_mnist.spec, _idx_expected(data))
    copied = root / "FashionMNIST" / "raw"
    # Exactly the four uncompressed files: no temporary file left behind, nothing else written.
    assert sorted(p.name for p in copied.iterdir()) == sorted(IDX_NAMES.values())
    for (split, kind), name in IDX_NAMES.items():
        images, labels = data[split]
        assert (copied / name).read_bytes() == _idx_bytes(images if kind == "images" else labels)
    assert _snapshot(system) == before

    # Once copied the root has the data: the system folder is no longer needed.
    monkeypatch.setattr(fashion_mnist_files, "SYSTEM_DIR", tmp_path / "gone")
    again = dcbench_vision.fashion_mnist.load(root, download=False)
    assert torch.equal(again.train_images, raw.train_images)


def test_fashion_mnist_from_debian_never_downloads(tmp_path, monkeypatch):
    system = tmp_path / "system"
    _write_idx(system, _idx_data(seed=4), gz=True)
    monkeypatch.setattr(fashion_mnist_files, "SYSTEM_DIR", system)

    def no_network(*args, **kwargs):
        raise AssertionError("tried the network although the files were at hand")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    raw = dcbench_vision.fashion_mnist.load(tmp_path / "data", download=True)
    assert raw.train_images.shape == (N_TRAIN, 1, 28, 28)


def test_fashion_mnist_broken_debian_copy_is_a_data_error_and_leaves_no_partial_file(tmp_path, monkeypatch):
    system = tmp_path / "system"
    _write_idx(system, _idx_data(seed=8), gz=True)
    truncated = system / "train-images-idx3-ubyte.gz"
    truncated.write_bytes(truncated.read_bytes()[:-20])
    monkeypatch.setattr(fashion_mnist_files, "SYSTEM_DIR", system)
    root = tmp_path / "data"
    with pytest.raises(DataError) as caught:
        dcbench_vision.fashion_mnist.load(root, download=False)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("could not copy fashion_mnist from")
    assert "train-images-idx3-ubyte" not in {p.name for p in (root / "FashionMNIST" / "raw").iterdir()}
    assert not list((root / "FashionMNIST" / "raw").glob(".*part"))


def test_fashion_mnist_missing_everywhere_names_the_debian_package(tmp_path, no_system_fashion_mnist):
    with pytest.raises(DataError) as caught:
        dcbench_vision.fashion_mnist.load(tmp_path, download=False)
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path / "FashionMNIST" / "raw") in message
    assert "apt-get install dataset-fashion-mnist" in message and str(no_system_fashion_mnist) in message


# ---------------------------------------------------------------------------------------------
# SVHN, CIFAR-10/100, USPS


def test_svhn_reads_mat_files_and_maps_label_10_to_digit_0(tmp_path, md5_not_checked):
    folder = tmp_path / "svhn"
    folder.mkdir()
    expected = {}
    for i, (split, n) in enumerate((("train", N_TRAIN), ("test", N_TEST))):
        images = _pixels(n, (3, 32, 32), seed=20 + i)  # (N, C, H, W)
        digits = _labels(n, 10, seed=30 + i)
        digits[0] = 0
        # The .mat stores (H, W, C, N) and calls digit 0 "10".
        mat_labels = np.where(digits == 0, 10, digits).astype(np.uint8).reshape(n, 1)
        scipy.io.savemat(folder / f"{split}_32x32.mat", {"X": images.transpose(2, 3, 1, 0), "y": mat_labels})
        expected[split] = (_as_float(images), digits)
    raw = dcbench_vision.svhn.load(tmp_path, download=False)
    _check_raw(raw, dcbench_vision.svhn.spec, expected)
    assert int(raw.train_labels[0]) == 0


def _pickle(path: Path, obj) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=2))


def _cifar_split(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return _pixels(n, (3, 32, 32), seed), _labels(n, classes, seed + 100)


def test_cifar10_reads_pickled_batches(tmp_path, md5_not_checked):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = [_cifar_split(2, 10, seed=40 + b) for b in range(5)]  # torchvision reads all five
    for b, (images, labels) in enumerate(batches, start=1):
        _pickle(folder / f"data_batch_{b}", {"data": images.reshape(len(images), -1), "labels": labels.tolist()})
    test_images, test_labels = _cifar_split(N_TEST, 10, seed=50)
    _pickle(folder / "test_batch", {"data": test_images.reshape(N_TEST, -1), "labels": test_labels.tolist()})
    _pickle(folder / "batches.meta", {"label_names": list(dcbench_vision.cifar10.spec.class_names)})

    raw = dcbench_vision.cifar10.load(tmp_path, download=False)

    train_images = np.concatenate([images for images, _ in batches])
    train_labels = np.concatenate([labels for _, labels in batches])
    _check_raw(raw, dcbench_vision.cifar10.spec, {
        "train": (_as_float(train_images), train_labels), "test": (_as_float(test_images), test_labels),
    })


def test_cifar100_reads_fine_labels(tmp_path, md5_not_checked):
    folder = tmp_path / "cifar100" / "cifar-100-python"
    folder.mkdir(parents=True)
    expected = {}
    for split, n, seed in (("train", N_TRAIN, 60), ("test", N_TEST, 61)):
        images, fine = _cifar_split(n, 100, seed)
        fine[0] = 99  # the top of the range, which only CIFAR-100 has
        _pickle(folder / split, {"data": images.reshape(n, -1), "fine_labels": fine.tolist(),
                                 "coarse_labels": (fine // 5).tolist()})
        expected[split] = (_as_float(images), fine)
    _pickle(folder / "meta", {"fine_label_names": list(dcbench_vision.cifar100.spec.class_names),
                              "coarse_label_names": [f"super{i}" for i in range(20)]})
    raw = dcbench_vision.cifar100.load(tmp_path, download=False)
    _check_raw(raw, dcbench_vision.cifar100.spec, expected)


def test_usps_reads_bz2_libsvm_files(tmp_path):
    folder = tmp_path / "usps"
    folder.mkdir()
    expected = {}
    for split, n, seed, filename in (("train", N_TRAIN, 70, "usps.bz2"), ("test", N_TEST, 71, "usps.t.bz2")):
        rng = np.random.default_rng(seed)
        # Values that survive the text round trip exactly; torchvision then truncates (v + 1) / 2 * 255.
        values = rng.choice(np.array([-1.0, 0.0, 1.0, -0.5, 0.5], dtype=np.float32), size=(n, 256))
        values[0, :2] = (-1.0, 1.0)
        digits = _labels(n, 10, seed + 100)
        lines = [f"{d + 1} " + " ".join(f"{j + 1}:{v:g}" for j, v in enumerate(row))
                 for d, row in zip(digits, values, strict=True)]  # libsvm labels digits 0..9 as 1..10
        (folder / filename).write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
        pixels = ((values + 1) / 2 * 255).astype(np.uint8).reshape(n, 1, 16, 16)
        expected[split] = (_as_float(pixels), digits)
    raw = dcbench_vision.usps.load(tmp_path, download=False)
    _check_raw(raw, dcbench_vision.usps.spec, expected)
    assert float(raw.train_images[0, 0, 0, 0]) == 0.0 and float(raw.train_images[0, 0, 0, 1]) == 1.0


def test_files_of_the_wrong_shape_are_a_data_error(tmp_path):
    data = _idx_data(seed=5)
    data["train"] = (_pixels(N_TRAIN, (20, 20), seed=6), data["train"][1])
    _write_idx(tmp_path / "MNIST" / "raw", data)
    with pytest.raises(DataError, match=r"mnist: the train files .* expected \(N, 1, 28, 28\)"):
        dcbench_vision.mnist.load(tmp_path, download=False)


def test_unreadable_files_are_a_one_line_data_error(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    _write_idx(folder, _idx_data(seed=7))
    (folder / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03not an idx file")
    with pytest.raises(DataError) as caught:
        dcbench_vision.mnist.load(tmp_path, download=False)
    assert "\n" not in str(caught.value) and "mnist" in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Missing files: one line naming the data set, where it looked and how to get the files

WHERE = {
    "mnist": ("MNIST", "raw"),
    "fashion_mnist": ("FashionMNIST", "raw"),
    "svhn": ("svhn",),
    "cifar10": ("cifar10", "cifar-10-batches-py"),
    "cifar100": ("cifar100", "cifar-100-python"),
    "usps": ("usps",),
}


@pytest.mark.parametrize("name", sorted(WHERE))
def test_missing_files_without_download(name, tmp_path, no_system_fashion_mnist):
    with pytest.raises(DataError) as caught:
        getattr(dcbench_vision, name).load(tmp_path, download=False)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{name} not found")
    assert str(tmp_path.joinpath(*WHERE[name])) in message
    assert "--download" in message and "http" in message


@pytest.mark.parametrize("name", sorted(WHERE))
def test_download_without_network(name, tmp_path, no_system_fashion_mnist, offline):
    with pytest.raises(DataError) as caught:
        getattr(dcbench_vision, name).load(tmp_path, download=True)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"could not download {name} into {tmp_path.joinpath(*WHERE[name])}")
    assert "network disabled in tests" in message and message.endswith("instead")
