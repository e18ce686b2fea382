"""Condensed-set artifacts: content addressing, tamper detection, no unpickling, ids, image grids."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as save_tensors

from dcbench.artifacts import (
    SUFFIX,
    Artifact,
    artifacts_dir,
    image_grid,
    load_artifact,
    resolve,
    save_artifact,
    write_png,
)
from dcbench.condenser import CondensedSet
from dcbench.errors import ArtifactError, UserError

METADATA = {"condenser": "random", "ipc": 3, "seed": 0, "normalisation": {"mean": [0.5], "std": [0.25]}}

# safetensors keeps ``__metadata__`` in a Rust HashMap: with more than one metadata key their order in
# the file header (and so the file's SHA-256) changes at random from one save to the next. The
# determinism tests below therefore save many times, so a 50% chance of a new id cannot slip by.


def _condensed(seed: int = 0, *, classes: int = 10, ipc: int = 3, size: int = 8) -> CondensedSet:
    gen = torch.Generator().manual_seed(seed)
    n = classes * ipc
    return CondensedSet(
        images=torch.randn(n, 1, size, size, generator=gen),
        labels=torch.arange(classes).repeat_interleave(ipc),
        indices=torch.randperm(1000, generator=gen)[:n],
        extras={"lrs": torch.rand(5, generator=gen, dtype=torch.float64)},
    )


def _assert_same_set(a: CondensedSet, b: CondensedSet) -> None:
    assert torch.equal(a.images, b.images) and a.images.dtype == b.images.dtype == torch.float32
    assert torch.equal(a.labels, b.labels) and b.labels.dtype == torch.int64
    assert (a.indices is None) == (b.indices is None)
    if a.indices is not None:
        assert torch.equal(a.indices, b.indices)
    assert set(a.extras) == set(b.extras)
    for name in a.extras:
        assert torch.equal(a.extras[name], b.extras[name]) and a.extras[name].dtype == b.extras[name].dtype


def _all_artifacts(results: Path) -> list[Path]:
    return sorted(artifacts_dir(results).rglob("*" + SUFFIX))


def _place(data: bytes, results: Path) -> str:
    """Put ``data`` in the store under its own SHA-256, as if it had been saved there."""
    artifact_id = hashlib.sha256(data).hexdigest()
    path = artifacts_dir(results) / artifact_id[:2] / (artifact_id + SUFFIX)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return artifact_id


def _header_length(data: bytes) -> int:
    return struct.unpack("<Q", data[:8])[0]


# ---------------------------------------------------------------------------------------------
# Round trip


def test_round_trip_by_id_prefix_and_path(tmp_path: Path) -> None:
    condensed = _condensed()
    artifact_id, path = save_artifact(condensed, METADATA, tmp_path)
    assert artifact_id == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(artifact_id) == 64
    assert path == artifacts_dir(tmp_path) / artifact_id[:2] / (artifact_id + SUFFIX)
    assert path.parent.parent == tmp_path / "artifacts"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    for ref in (artifact_id, artifact_id[:8], artifact_id.upper(), path, str(path)):
        loaded = load_artifact(ref, tmp_path)
        assert loaded.id == artifact_id and loaded.path == path
        assert loaded.metadata == METADATA
        _assert_same_set(condensed, loaded.condensed)


def test_round_trip_without_indices_and_extras(tmp_path: Path) -> None:
    condensed = CondensedSet(images=torch.rand(4, 3, 5, 5), labels=torch.tensor([0, 1, 0, 1]))
    artifact_id, _ = save_artifact(condensed, {}, tmp_path)
    loaded = load_artifact(artifact_id, tmp_path).condensed
    assert loaded.indices is None and loaded.extras == {}
    _assert_same_set(condensed, loaded)


def test_save_detaches_and_converts(tmp_path: Path) -> None:
    images = torch.rand(2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    condensed = CondensedSet(images=images * 1, labels=torch.tensor([0, 1], dtype=torch.int32))
    artifact_id, _ = save_artifact(condensed, {}, tmp_path)
    loaded = load_artifact(artifact_id, tmp_path).condensed
    assert loaded.images.dtype == torch.float32 and not loaded.images.requires_grad
    assert loaded.labels.dtype == torch.int64
    assert torch.equal(loaded.images, images.detach().float())


# ---------------------------------------------------------------------------------------------
# Content addressing


def test_different_metadata_or_tensors_give_different_ids(tmp_path: Path) -> None:
    base, _ = save_artifact(_condensed(), METADATA, tmp_path)
    other_meta, _ = save_artifact(_condensed(), {**METADATA, "seed": 1}, tmp_path)
    other_set, _ = save_artifact(_condensed(seed=1), METADATA, tmp_path)
    assert len({base, other_meta, other_set}) == 3
    assert len(_all_artifacts(tmp_path)) == 3


def test_same_set_saved_twice_gives_same_id_and_one_file(tmp_path: Path) -> None:
    ids = {save_artifact(_condensed(), METADATA, tmp_path)[0] for _ in range(16)}
    assert len(ids) == 1
    assert len(_all_artifacts(tmp_path)) == 1


def test_same_set_saved_twice_holds_the_same_content(tmp_path: Path) -> None:
    first = load_artifact(save_artifact(_condensed(), METADATA, tmp_path)[0], tmp_path)
    second = load_artifact(save_artifact(_condensed(), dict(reversed(METADATA.items())), tmp_path)[0], tmp_path)
    assert first.metadata == second.metadata
    _assert_same_set(first.condensed, second.condensed)


# ---------------------------------------------------------------------------------------------
# Tampering and foreign files


def test_flipped_byte_in_tensor_data_is_detected(tmp_path: Path) -> None:
    artifact_id, path = save_artifact(_condensed(), METADATA, tmp_path)
    data = bytearray(path.read_bytes())
    data_start = 8 + _header_length(data)
    assert data_start < len(data)
    data[data_start + (len(data) - data_start) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="corrupted or was modified"):
        load_artifact(artifact_id, tmp_path)
    with pytest.raises(ArtifactError, match="corrupted or was modified"):
        load_artifact(path, tmp_path)


def test_flipped_byte_in_metadata_is_detected(tmp_path: Path) -> None:
    artifact_id, path = save_artifact(_condensed(), METADATA, tmp_path)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"random", b"randon", 1))
    with pytest.raises(ArtifactError, match="corrupted or was modified"):
        load_artifact(artifact_id, tmp_path)


def test_truncated_file_is_detected(tmp_path: Path) -> None:
    artifact_id, path = save_artifact(_condensed(), METADATA, tmp_path)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ArtifactError, match="corrupted or was modified"):
        load_artifact(artifact_id, tmp_path)


def test_renamed_file_is_refused(tmp_path: Path) -> None:
    artifact_id, path = save_artifact(_condensed(), METADATA, tmp_path)
    other_id = "".join("0123456789abcdef"[(int(c, 16) + 1) % 16] for c in artifact_id)
    other = artifacts_dir(tmp_path) / other_id[:2] / (other_id + SUFFIX)
    other.parent.mkdir(parents=True, exist_ok=True)
    path.rename(other)
    with pytest.raises(ArtifactError, match="checksum does not match"):
        load_artifact(other_id, tmp_path)
    with pytest.raises(ArtifactError, match="corrupted or was modified"):
        load_artifact(other, tmp_path)
    with pytest.raises(ArtifactError):
        load_artifact(artifact_id, tmp_path)  # gone from its own name


def test_loading_never_unpickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    condensed = _condensed()
    artifact_id, _ = save_artifact(condensed, METADATA, tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("an artifact load must not unpickle")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded = load_artifact(artifact_id, tmp_path)
    _assert_same_set(condensed, loaded.condensed)
    assert loaded.metadata == METADATA


def _raw_safetensors(header: object, payload: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + payload


def _dcbench_header(results: Path) -> dict[str, str]:
    """The ``__metadata__`` a real artifact carries, so a malformed file gets past the format check."""
    _, path = save_artifact(_condensed(classes=2, ipc=1, size=2), METADATA, results)
    data = path.read_bytes()
    return json.loads(data[8:8 + _header_length(data)])["__metadata__"]


_PLAIN = {"images": torch.zeros(2, 1, 2, 2), "labels": torch.zeros(2, dtype=torch.long)}
FOREIGN = {  # name: bytes from the dcbench ``__metadata__`` of a real artifact
    "safetensors without metadata": lambda meta: save_tensors(_PLAIN),
    "safetensors with other metadata": lambda meta: save_tensors(_PLAIN, metadata={"framework": "pt"}),
    "safetensors of another format": lambda meta: save_tensors(_PLAIN, metadata={"format": "2", "dcbench": "{}"}),
    "random bytes": lambda meta: hashlib.sha512(b"dcbench").digest() * 16,
    "pickle": lambda meta: pickle.dumps({"images": [1, 2, 3]}),
    "too short": lambda meta: b"abc",
    "empty": lambda meta: b"",
    "header length past the end": lambda meta: struct.pack("<Q", 10**6) + b"{}",
}
_IMAGES_AT_0_16 = {"dtype": "F32", "shape": [1, 1, 2, 2], "data_offsets": [0, 16]}
FOREIGN_BUGGY = {
    "header is a JSON list": pytest.param(lambda meta: _raw_safetensors([])),
    "metadata is a string": pytest.param(lambda meta: _raw_safetensors({"__metadata__": "x"})),
    "dcbench metadata, no images": pytest.param(
        lambda meta: save_tensors({"labels": torch.zeros(2, dtype=torch.long)}, metadata=meta)),
    "dcbench metadata, images not 4-d": pytest.param(
        lambda meta: save_tensors({"images": torch.zeros(2, 4), "labels": torch.zeros(2, dtype=torch.long)},
                                  metadata=meta)),
    "dcbench metadata, offsets past the data": pytest.param(
        lambda meta: _raw_safetensors({"__metadata__": meta, "images": _IMAGES_AT_0_16})),
}


@pytest.mark.parametrize("make", [*FOREIGN.values(), *FOREIGN_BUGGY.values()], ids=[*FOREIGN, *FOREIGN_BUGGY])
def test_foreign_file_under_its_own_checksum_is_refused(tmp_path: Path, make) -> None:
    artifact_id = _place(make(_dcbench_header(tmp_path / "real")), tmp_path)
    with pytest.raises(ArtifactError, match="not a dcbench artifact") as info:
        load_artifact(artifact_id, tmp_path)
    assert isinstance(info.value, UserError)


def test_foreign_file_check_is_not_vacuous(tmp_path: Path) -> None:
    """The malformed files above differ from a loadable one only in what they say they are about."""
    meta = _dcbench_header(tmp_path / "real")
    artifact_id = _place(save_tensors(_PLAIN, metadata=meta), tmp_path)
    assert load_artifact(artifact_id, tmp_path).metadata == METADATA


# ---------------------------------------------------------------------------------------------
# Resolving ids


@pytest.mark.parametrize("ref", ["abcde", "a", "", "zzzzzzzz", "abcdefg-", "12345x78"])
def test_short_or_non_hex_ids_are_refused(tmp_path: Path, ref: str) -> None:
    save_artifact(_condensed(), METADATA, tmp_path)
    with pytest.raises(ArtifactError, match="neither an artifact file nor an artifact id"):
        resolve(ref, tmp_path)


def test_unknown_id_and_missing_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no artifact with id"):
        resolve("abcdef12", tmp_path)  # no artifacts folder at all
    artifact_id, _ = save_artifact(_condensed(), METADATA, tmp_path)
    missing = "f" * 64 if not artifact_id.startswith("f") else "0" * 64
    with pytest.raises(ArtifactError, match="no artifact with id"):
        resolve(missing, tmp_path)
    with pytest.raises(ArtifactError, match="no artifact file"):
        resolve(str(tmp_path / ("0" * 64 + SUFFIX)), tmp_path)


def test_ids_in_the_same_folder_resolve_by_unique_prefix(tmp_path: Path) -> None:
    by_folder: dict[str, str] = {}
    for seed in range(200):  # 256 folders: a shared two-digit prefix comes within a few dozen sets
        artifact_id, _ = save_artifact(_condensed(seed, classes=2, ipc=1, size=2), {}, tmp_path)
        if artifact_id[:2] in by_folder:
            pair = (by_folder[artifact_id[:2]], artifact_id)
            break
        by_folder[artifact_id[:2]] = artifact_id
    else:
        pytest.fail("no two ids shared a folder")
    first, second = pair
    assert resolve(first, tmp_path).parent == resolve(second, tmp_path).parent
    assert first[:6] != second[:6]
    assert resolve(first[:6], tmp_path).name == first + SUFFIX
    assert resolve(second[:6], tmp_path).name == second + SUFFIX


def test_ambiguous_prefix_is_refused(tmp_path: Path) -> None:
    artifact_id, path = save_artifact(_condensed(), METADATA, tmp_path)
    # a second file whose name shares the first 10 digits (a real collision would need ~16M sets)
    twin_id = artifact_id[:10] + ("0" if artifact_id[10] != "0" else "1") + artifact_id[11:]
    shutil.copy(path, path.with_name(twin_id + SUFFIX))
    for prefix in (artifact_id[:6], artifact_id[:8], artifact_id[:10]):
        with pytest.raises(ArtifactError, match="matches 2 artifacts"):
            resolve(prefix, tmp_path)
    assert resolve(artifact_id[:11], tmp_path) == path
    assert resolve(artifact_id, tmp_path) == path
    assert load_artifact(artifact_id[:11], tmp_path).id == artifact_id


# ---------------------------------------------------------------------------------------------
# The same seed makes the same artifact


def _synth(results: Path, seed: int) -> str:
    from dcbench.cells import SynthCell, Workspace, run_synth

    ws = Workspace(results=results, data_root=results / "data", device=torch.device("cpu"))
    row = run_synth(ws, SynthCell(condenser="random", dataset="digits", ipc=2, seed=seed, profile="smoke").bind())
    assert row.status == "done", row.error
    return row.artifact


def test_same_seed_same_condensed_set_other_seed_another(tmp_path: Path) -> None:
    first = load_artifact(_synth(tmp_path / "a", 0), tmp_path / "a")
    second = load_artifact(_synth(tmp_path / "b", 0), tmp_path / "b")
    other = load_artifact(_synth(tmp_path / "c", 1), tmp_path / "c")
    _assert_same_set(first.condensed, second.condensed)
    assert first.metadata == second.metadata
    assert first.metadata["seed"] == 0 and other.metadata["seed"] == 1
    assert other.id not in (first.id, second.id)
    assert not torch.equal(first.condensed.indices, other.condensed.indices)


def test_same_seed_gives_the_same_artifact_id(tmp_path: Path) -> None:
    ids = {_synth(tmp_path / str(i), 0) for i in range(16)}
    assert len(ids) == 1


# ---------------------------------------------------------------------------------------------
# Image grids


def _artifact(condensed: CondensedSet, mean: list[float], std: list[float], classes: int,
              options: dict | None = None) -> Artifact:
    meta = {"normalisation": {"mean": mean, "std": std}, "dataset_spec": {"classes": classes},
            "options": options or {}}
    return Artifact("0" * 64, Path("unused"), condensed, meta)


def test_image_grid_and_png_layout(tmp_path: Path) -> None:
    from PIL import Image

    classes, ipc, size, pad, scale = 10, 3, 8, 2, 4
    gen = torch.Generator().manual_seed(0)
    raw = torch.rand(classes * ipc, 1, size, size, generator=gen)  # pixel values in [0, 1]
    labels = torch.arange(classes).repeat(ipc)  # interleaved: the grid must group them by class
    mean, std = [0.5], [0.25]
    condensed = CondensedSet(images=(raw - mean[0]) / std[0], labels=labels)

    grid = image_grid(_artifact(condensed, mean, std, classes))
    tile = size * scale
    height, width = classes * (tile + pad) + pad, ipc * (tile + pad) + pad
    assert grid.shape == (3, height, width)
    assert float(grid.min()) >= 0.0 and float(grid.max()) <= 1.0
    for c in range(classes):
        for j, index in enumerate(torch.nonzero(labels == c).flatten().tolist()):
            y, x = pad + c * (tile + pad), pad + j * (tile + pad)
            expected = raw[index, 0].repeat_interleave(scale, 0).repeat_interleave(scale, 1)
            assert torch.allclose(grid[0, y:y + tile, x:x + tile], expected, atol=1e-6), (c, j)
        assert bool((grid[:, c * (tile + pad):c * (tile + pad) + pad] == 1.0).all())  # padding between rows

    png = write_png(grid, tmp_path / "grids" / "set.png")
    assert png.is_file()
    with Image.open(png) as image:
        assert image.size == (width, height)
        pixels = torch.from_numpy(np.array(image.convert("L"))).float() / 255
    assert torch.allclose(pixels, grid[0], atol=1 / 255 + 1e-6)


def test_image_grid_clamps_and_pads_short_classes() -> None:
    mean, std = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
    images = torch.full((3, 3, 32, 32), 5.0)  # de-normalised 3.0: clamped to 1
    images[1] = -5.0  # de-normalised -2.0: clamped to 0
    condensed = CondensedSet(images=images, labels=torch.tensor([0, 0, 1]))
    grid = image_grid(_artifact(condensed, mean, std, classes=2))
    assert grid.shape == (3, 2 * 34 + 2, 2 * 34 + 2)  # 32 px images are not upscaled
    assert float(grid.min()) == 0.0 and float(grid.max()) == 1.0
    assert bool((grid[:, 2:34, 2:34] == 1.0).all())
    assert bool((grid[:, 2:34, 36:68] == 0.0).all())
    assert bool((grid[:, 36:68, 36:68] == 1.0).all())  # class 1 has one image: a blank white tile


def test_image_grid_stretches_whitened_images_each_to_the_full_range() -> None:
    images = torch.stack([torch.linspace(-3, 5, 64).view(1, 8, 8), torch.linspace(0.1, 0.2, 64).view(1, 8, 8)])
    grid = image_grid(_artifact(CondensedSet(images=images, labels=torch.tensor([0, 1])), [0.5], [0.25], 2,
                                options={"zca": 0.1}))
    tile = 8 * 4
    for row in range(2):
        y = 2 + row * (tile + 2)
        block = grid[0, y:y + tile, 2:2 + tile]
        assert float(block.min()) == 0.0 and abs(float(block.max()) - 1.0) < 1e-6, row


def test_a_set_given_as_a_file_from_elsewhere_is_evaluated_and_kept(tmp_path: Path) -> None:
    """``dcbench eval PATH.safetensors``: the file may come from another results folder; its cells find
    it by id, so the set is copied in (its bytes, hence its id) before they run."""
    from dcbench import Bench

    made = Bench(tmp_path / "a", tmp_path / "data", device="cpu").synthesize("random", ipc=1)
    source = next((tmp_path / "a" / "artifacts").rglob(f"{made.artifact}.safetensors"))
    elsewhere = tmp_path / "sent" / source.name  # named by its checksum, as every artifact
    elsewhere.parent.mkdir()
    shutil.copy(source, elsewhere)
    other = Bench(tmp_path / "b", tmp_path / "data", device="cpu")
    [evaluation] = other.evaluate(str(elsewhere), cls="mlp", evals=1)
    assert evaluation.done and evaluation.artifact == made.artifact
    kept = other.artifact(made.artifact)
    assert kept.path.is_relative_to(tmp_path / "b") and kept.path.read_bytes() == source.read_bytes()
