"""scikit-learn's 8 × 8 handwritten digits: a real data set that needs no files and no network."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from dcbench import Dataset, DatasetSpec, RawData

SPLIT_SEED = 0
TEST_FRACTION = 0.2

SPEC = DatasetSpec(
    name="digits",
    channels=1,
    size=8,
    classes=10,
    mean=None,  # no published constants: computed from the training split when served
    std=None,
    version=1,
    class_names=tuple(str(d) for d in range(10)),
)


def load(root: Path, download: bool) -> RawData:
    """The 1,797 images in [0, 1], split 80/20 with every class in the same proportion on both sides."""
    del root, download  # the images ship inside scikit-learn
    # Imported here: scikit-learn costs over a second to import, which `dcbench list` should not pay.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)  # pixels are counts 0–16
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=TEST_FRACTION, stratify=bunch.target, random_state=SPLIT_SEED,
    )
    # Sorted so the split is defined by membership alone and the images keep scikit-learn's order.
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    details = {
        "split": "stratified 80/20 (sklearn train_test_split)",
        "split_seed": SPLIT_SEED,
        "train": len(train_idx),
        "test": len(test_idx),
        # Should another scikit-learn version ever draw a different split, this changes with it, so
        # results on the two splits are never mistaken for one another.
        "split_sha256": hashlib.sha256(test_idx.astype("<i8").tobytes()).hexdigest()[:16],
    }
    train_t, test_t = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    return RawData(
        train_images=images[train_t].contiguous(),
        train_labels=labels[train_t],
        test_images=images[test_t].contiguous(),
        test_labels=labels[test_t],
        details=details,
    )


digits = Dataset(SPEC, load)
