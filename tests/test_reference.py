"""Whole-data runs: cached once, shared by baselines and the whole-data column, never trusted blindly."""

from __future__ import annotations

import pytest
import torch
from helpers import evaluate

from dcbench import reference
from dcbench.cells import EvalCell, cache_dir, eval_seed
from dcbench.condenser import CondensedSet, condensed_set_problem
from dcbench.data import load_dataset
from dcbench.errors import UserError
from dcbench.reference import forgetting_counts, use_cache, whole_data_run

CPU = torch.device("cpu")


@pytest.fixture
def digits(tmp_path):
    return load_dataset("digits", root=tmp_path / "data")


def _run(digits, **kw):
    return whole_data_run(digits.train, net=kw.pop("net", "convnet"), epochs=kw.pop("epochs", 1),
                          seed=kw.pop("seed", 0), device=CPU, **kw)


def _files(root):
    return sorted((root / "whole_data").glob("*.safetensors"))


@pytest.mark.parametrize("net", ["convnet", "convnet_bn"])  # BatchNorm: a 0-d buffer (num_batches_tracked)
def test_a_run_is_cached_and_reloaded_identically(digits, tmp_path, net):
    with use_cache(tmp_path / "cache"):
        first = _run(digits, net=net)
        again = _run(digits, net=net)
    assert not first.cached and again.cached and again.key == first.key
    assert torch.equal(first.correct, again.correct) and first.correct.shape == (1, len(digits.train))
    for (name, a), b in zip(first.model.state_dict().items(), again.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert len(_files(tmp_path / "cache")) == 1


def test_the_key_separates_what_changes_the_run(digits, tmp_path):
    with use_cache(tmp_path / "cache"):
        keys = {_run(digits).key, _run(digits, seed=1).key, _run(digits, epochs=2).key, _run(digits, net="mlp").key}
    assert len(keys) == 4 and len(_files(tmp_path / "cache")) == 4


def test_same_seed_trains_the_same_run_without_a_cache(digits):
    a, b = _run(digits), _run(digits)
    assert not a.cached and not b.cached
    assert torch.equal(a.correct, b.correct)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_cache_file_is_rebuilt_not_used(digits, tmp_path, damage):
    with use_cache(tmp_path / "cache"):
        first = _run(digits)
        [path] = _files(tmp_path / "cache")
        data = bytearray(path.read_bytes())
        if damage == "truncate":
            data = data[: len(data) // 2]
        else:
            data[-100] ^= 0xFF  # inside the tensors: only the checksum can tell
        path.write_bytes(bytes(data))
        rebuilt = _run(digits)
        assert not rebuilt.cached and torch.equal(rebuilt.correct, first.correct)
        assert _run(digits).cached  # and the rebuilt file is good again


def test_a_file_from_another_cache_format_is_rebuilt(digits, tmp_path, monkeypatch):
    root = tmp_path / "cache"
    with use_cache(root):
        monkeypatch.setattr(reference, "CACHE_FORMAT", 0)
        old = _run(digits)
        monkeypatch.setattr(reference, "CACHE_FORMAT", 1)
        current_key = _run(digits).key
        # Put the old-format file where the current key lives: its header still says format 0.
        (root / "whole_data" / f"{old.key}.safetensors").replace(root / "whole_data" / f"{current_key}.safetensors")
        assert not _run(digits).cached


def test_features_are_the_classifier_input(digits):
    run = _run(digits)
    images = digits.train.images[:7]
    with torch.no_grad():
        expected = run.model.embed(images)
    assert torch.allclose(run.features(images, batch_size=3), expected)
    assert run.features(images).shape == (7, run.model.embed_dim)


def test_forgetting_counts_from_a_history():
    correct = torch.tensor([[1, 0, 1, 0],
                            [0, 0, 1, 1],
                            [1, 0, 0, 1],
                            [0, 0, 1, 1]], dtype=torch.bool)
    counts = forgetting_counts(correct)
    # example 0: 1→0 twice; 1: never learned; 2: one 1→0; 3: learned late, never forgotten
    assert counts.tolist() == [2.0, float("inf"), 1.0, 0.0]


def test_whole_data_evaluation_reads_the_run_of_its_seed(workspace):
    """eval --whole --seed s reuses the whole-data run a selection cell of seed s trained."""
    data = load_dataset("digits", root=workspace.data_root)
    with use_cache(cache_dir(workspace)):
        run = whole_data_run(data.train, net="convnet", epochs=2, seed=0, device=CPU)  # smoke: 2 epochs
    cell = EvalCell(cls_net="convnet", eval_index=0, seed=eval_seed(0, None, "convnet", 0), profile="smoke",
                    dataset="digits")
    assert cell.seed == 0
    row = evaluate(workspace, cell)
    assert row.status == "done" and row.train_s == pytest.approx(run.wall_s)
    with torch.no_grad():
        expected = (run.model(data.test.images).argmax(1) == data.test.labels).float().mean().item()
    assert row.accuracy == pytest.approx(expected)


def test_selection_output_must_be_distinct_real_training_images(digits):
    train = digits.train
    good = torch.cat([train.class_indices(c)[:2] for c in range(train.spec.classes)])  # 2 per class

    def problem(indices, images=None, labels=None):
        condensed = CondensedSet(images=train.images[good] if images is None else images,
                                 labels=train.labels[good] if labels is None else labels, indices=indices)
        return condensed_set_problem(condensed, train, ipc=2, kind="selection") or ""

    def changed(**positions):
        indices = good.clone()
        for position, value in positions.items():
            indices[int(position[1:])] = value
        return indices

    assert problem(good) == ""
    assert "twice" in problem(changed(p1=good[0]), images=train.images[changed(p1=good[0])])
    assert "out of range" in problem(changed(p3=len(train)))
    assert "images differ" in problem(good, images=train.images[good] + 1)
    assert "labels differ" in problem(changed(p0=good[2], p2=good[0]))  # class 0 and 1 swapped, labels kept
    assert "indices" in problem(None)


def test_a_network_that_cannot_take_the_data_is_refused_up_front(digits):
    with pytest.raises(UserError, match="lenet cannot be trained on digits"):
        _run(digits, net="lenet")
