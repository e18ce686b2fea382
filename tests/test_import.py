"""Sets made elsewhere: `dcbench import` and `dcbench export`, their checks, ZCA serving, and imported
sets in evaluations, grids, leaderboards and published pages.

The round trips run on a random set of digits (2 per class) and on a made-up set with soft labels
and a learned step size; evaluations use one mlp at the smoke profile (about a second each).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import one_error_line, run_main
from safetensors.torch import save_file

from dcbench import Bench
from dcbench.classification import SOFT_LABELS
from dcbench.data import load_dataset
from dcbench.dataset import ZCA_REGULARISATION, Dataset, DatasetOptions, DatasetSpec, RawData, Whitening, serve
from dcbench.interchange.safe import load_pt

EXPORTS = {"dc": "set.pt", "mtt": "mtt", "tensors": "set.safetensors", "folder": "images"}


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, str, float]:
    """A results folder with a random digits set evaluated by one mlp: its id and that accuracy."""
    results = tmp_path_factory.mktemp("made") / "results"
    bench = Bench(results, results.parent / "data", device="cpu")
    artifact = bench.synthesize("random", ipc=2).artifact
    (evaluation,) = bench.evaluate(artifact, cls="mlp", evals=1)
    return results, artifact, evaluation.accuracy


def _bench(made, tmp_path: Path) -> Bench:
    import shutil

    results = tmp_path / "results"
    shutil.copytree(made[0], results)
    return Bench(results, made[0].parent / "data", device="cpu")


def _stored(bench: Bench) -> dict[str, str]:
    return {str(p.relative_to(bench.results)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(bench.results.rglob("*")) if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


# --- round trips ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["dc", "mtt", "tensors"])
def test_export_then_import_gives_the_same_tensors_and_the_same_accuracy(made, tmp_path: Path, fmt: str) -> None:
    bench = _bench(made, tmp_path)
    original = bench.artifact(made[1])
    done = bench.export(made[1], format=fmt, out=tmp_path / EXPORTS[fmt])
    assert done.normalization == "dataset"
    (record,) = bench.import_set(tmp_path / EXPORTS[fmt], dataset="digits", name="again")
    back = bench.artifact(record.artifact)
    assert torch.equal(back.condensed.images, original.condensed.images)  # bitwise
    assert torch.equal(back.condensed.labels, original.condensed.labels)
    assert back.metadata["same_as"] == original.id
    assert record.condenser == "import:again" and record.done
    (evaluation,) = bench.evaluate(record.artifact, cls="mlp", evals=1)
    assert evaluation.accuracy == made[2]  # the same nets (seeds) on the same tensors
    assert evaluation.condenser == "import:again" and evaluation.condenser_origin.startswith("imported: ")


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_tensors_files_of_every_kind_round_trip(made, tmp_path: Path, suffix: str) -> None:
    bench = _bench(made, tmp_path)
    bench.export(made[1], format="tensors", out=tmp_path / f"set{suffix}")
    (record,) = bench.import_set(tmp_path / f"set{suffix}", dataset="digits")
    assert torch.equal(bench.artifact(record.artifact).condensed.images, bench.artifact(made[1]).condensed.images)


def test_a_folder_of_images_round_trips_within_one_level_of_eight_bits(made, tmp_path: Path) -> None:
    bench = _bench(made, tmp_path)
    original = bench.artifact(made[1])
    done = bench.export(made[1], format="folder", out=tmp_path / "images")
    assert done.normalization == "unit" and any("8 bits" in note for note in done.notes)
    assert len(list((tmp_path / "images").glob("*/*.png"))) == 20
    (record,) = bench.import_set(tmp_path / "images", dataset="digits")
    back = bench.artifact(record.artifact)
    norm = original.metadata["normalisation"]
    mean, std = norm["mean"][0], norm["std"][0]
    pixels = lambda images: images * std + mean  # noqa: E731
    assert torch.equal(back.condensed.labels, original.condensed.labels)
    assert float((pixels(back.condensed.images) - pixels(original.condensed.images)).abs().max()) <= 1 / 255 + 1e-6
    assert back.metadata["config"]["normalization"] == "unit"


def test_soft_labels_and_a_learned_step_size_are_kept_and_change_the_recipe(made, tmp_path: Path) -> None:
    bench = _bench(made, tmp_path)
    original = bench.artifact(made[1]).condensed
    logits = torch.randn(len(original.labels), 10, generator=torch.Generator().manual_seed(0))
    logits[torch.arange(len(logits)), original.labels] += 5  # every class still has its images
    save_file({"images": original.images, "labels": logits, "lr": torch.tensor(0.02)},
              str(tmp_path / "soft.safetensors"))
    (record,) = bench.import_set(tmp_path / "soft.safetensors", dataset="digits", name="soft")
    imported = bench.artifact(record.artifact)
    assert imported.metadata["labels"] == "logits" and imported.metadata["set_lr"] == pytest.approx(0.02)
    assert torch.equal(imported.condensed.extras[SOFT_LABELS], logits)
    assert torch.equal(imported.condensed.labels, logits.argmax(1))
    (evaluation,) = bench.evaluate(record.artifact, cls="mlp", evals=1)
    assert evaluation.done and evaluation.recipe["lr"] == pytest.approx(0.02)

    for fmt, out in (("tensors", "soft2.pt"), ("mtt", "soft-mtt"), ("dc", "soft-dc.pt")):
        bench.export(record.artifact, format=fmt, out=tmp_path / out)
        (again,) = bench.import_set(tmp_path / out, dataset="digits", name="soft")
        back = bench.artifact(again.artifact)
        assert torch.equal(back.condensed.extras[SOFT_LABELS], logits), fmt
        assert back.metadata["labels"] == "logits", fmt
        assert back.metadata.get("set_lr") == (imported.metadata["set_lr"] if fmt != "dc" else None), fmt
    with pytest.raises(Exception, match="soft labels cannot be written as a folder"):
        bench.export(record.artifact, format="folder", out=tmp_path / "no")


def test_probabilities_are_told_from_logits(made, tmp_path: Path) -> None:
    bench = _bench(made, tmp_path)
    original = bench.artifact(made[1]).condensed
    probabilities = torch.nn.functional.one_hot(original.labels, 10).float() * 0.9 + 0.01
    torch.save({"images": original.images, "labels": probabilities}, tmp_path / "p.pt")
    (record,) = bench.import_set(tmp_path / "p.pt", dataset="digits")
    assert bench.artifact(record.artifact).metadata["labels"] == "probabilities"
    assert bench.evaluate(record.artifact, cls="mlp", evals=1)[0].done


def test_the_official_dc_result_file_gives_one_artifact_per_experiment(made, tmp_path: Path) -> None:
    """Built as the official code saves it: ``data`` pairs per experiment, ``accs_all_exps`` of numpy
    float64 accuracies (which torch's safe loader refuses unless those numpy globals are allowed)."""
    bench = _bench(made, tmp_path)
    original = bench.artifact(made[1]).condensed
    second = original.images + 0.1
    accs = {"ConvNet": [np.float64(0.61), np.float64(0.63), np.float64(0.62)]}
    torch.save({"data": [[original.images.clone(), original.labels.clone()], [second, original.labels.clone()]],
                "accs_all_exps": accs}, tmp_path / "res_DC_digits_ConvNet_2ipc.pt")
    records = bench.import_set(tmp_path / "res_DC_digits_ConvNet_2ipc.pt", dataset="digits", name="dc",
                               source="the authors' release")
    assert [r.seed for r in records] == [0, 1] and len({r.artifact for r in records}) == 2
    assert records[0].config["format"] == "dc"  # told from the content
    assert records[0].details["reported"]["accs_all_exps"] == {"ConvNet": [0.61, 0.63, 0.62]}
    assert "the authors' release" in records[0].condenser_origin
    assert torch.equal(bench.artifact(records[1].artifact).condensed.images, second)
    again = bench.import_set(tmp_path / "res_DC_digits_ConvNet_2ipc.pt", dataset="digits", name="dc",
                             source="the authors' release")
    assert [r.key for r in again] == [r.key for r in records]  # importing twice stores nothing new


def test_a_dc_file_written_under_numpy_1_loads_its_accuracies(tmp_path: Path) -> None:
    """numpy 1 pickled its scalars as ``numpy.core.multiarray.scalar``; numpy 2 says ``numpy._core``.
    The authors' released files are from numpy 1, so that old name is allowed too (and only it)."""
    buffer = io.BytesIO()
    torch.save({"data": [], "accs_all_exps": {"ConvNet": [np.float64(0.5)]}}, buffer,
               _use_new_zipfile_serialization=False)  # one flat pickle stream: the name can be rewritten
    written = buffer.getvalue().replace(b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar")
    assert b"cnumpy.core.multiarray\nscalar" in written
    (tmp_path / "old.pt").write_bytes(written)
    assert load_pt(tmp_path / "old.pt")["accs_all_exps"] == {"ConvNet": [0.5]}


def test_an_export_to_dc_carries_the_stored_accuracies(made, tmp_path: Path) -> None:
    bench = _bench(made, tmp_path)
    bench.export(made[1], format="dc", out=tmp_path / "set.pt")
    content = torch.load(tmp_path / "set.pt", weights_only=True)
    assert content["accs_all_exps"] == {"mlp": [made[2]]}
    assert content["dcbench"] == {"artifact": made[1]}


# --- ZCA -----------------------------------------------------------------------------------------

def _correlated(n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    mixing = torch.randn(16, 16, generator=gen)
    return (torch.randn(n, 16, generator=gen) @ mixing).sigmoid().view(n, 1, 4, 4)


def test_zca_serving_whitens_train_and_test_with_the_transform_fitted_on_train() -> None:
    factory = Dataset(DatasetSpec("toy", channels=1, size=4, classes=2), lambda root, download: None)
    raw = RawData(_correlated(4000, 0), torch.arange(4000) % 2, _correlated(500, 1), torch.arange(500) % 2)
    plain = serve(factory, raw, DatasetOptions())
    whitened = serve(factory, raw, DatasetOptions(zca=1e-6))
    flat = whitened.train.images.reshape(4000, -1).double()
    covariance = torch.cov(flat.T)
    assert torch.allclose(covariance, torch.eye(16, dtype=torch.float64), atol=1e-3)
    # as MTT: the pixels are whitened, not the normalised images (the regularisation is not scale-free)
    transform = Whitening.fit(raw.train_images, 1e-6)
    assert torch.allclose(whitened.test.images, transform(raw.test_images), atol=1e-5)
    assert not torch.allclose(whitened.test.images, plain.test.images, atol=0.1)
    assert whitened.spec.options == {"zca": 1e-6}
    regularised = serve(factory, raw, DatasetOptions(zca=0.1)).test.images
    assert torch.allclose(regularised, Whitening.fit(raw.train_images, 0.1)(raw.test_images), atol=1e-5)
    assert not torch.allclose(regularised, Whitening.fit(plain.train.images, 0.1)(plain.test.images), atol=0.05)


def test_a_zca_set_is_evaluated_on_the_whitened_test_split_and_the_mismatch_shows(tmp_path: Path, monkeypatch,
                                                                               capsys) -> None:
    bench = Bench(tmp_path / "results", tmp_path / "data", device="cpu")
    made = bench.synthesize("random", ipc=2, zca=True)
    assert bench.artifact(made.artifact).metadata["options"] == {"zca": ZCA_REGULARISATION}
    bench.export(made.artifact, format="tensors", out=tmp_path / "white.pt")
    (proper,) = bench.import_set(tmp_path / "white.pt", dataset="digits", normalization="zca", zca=True)
    # forced through the API: the whitened images declared as merely normalised, tested unwhitened
    (forced,) = bench.import_set(tmp_path / "white.pt", dataset="digits", normalization="dataset")
    right = [e.accuracy for e in bench.evaluate(proper.artifact, cls="convnet", evals=3)]
    wrong = [e.accuracy for e in bench.evaluate(forced.artifact, cls="convnet", evals=3)]
    assert right == [e.accuracy for e in bench.evaluate(made.artifact, cls="convnet", evals=3)]
    assert sum(right) / 3 - sum(wrong) / 3 > 0.05, (right, wrong)  # measured: 0.44 against 0.28

    args = ("--results", str(bench.results), "--data-root", str(bench.data_root))
    code, _, err = run_main(monkeypatch, capsys, "eval", proper.artifact, "--cls", "mlp", "--evals", "1", *args)
    one_error_line(code, err, "add --zca")
    code, _, err = run_main(monkeypatch, capsys, "import", str(tmp_path / "white.pt"), "--dataset", "digits",
                            "--normalization", "zca", *args)
    one_error_line(code, err, "add --zca")
    code, out, err = run_main(monkeypatch, capsys, "eval", proper.artifact, "--cls", "mlp", "--evals", "1", "--zca",
                              *args)
    assert code == 0, err


# --- what is refused -----------------------------------------------------------------------------

def _digits_set(made) -> tuple[torch.Tensor, torch.Tensor]:
    artifact = Bench(made[0]).artifact(made[1])
    return artifact.condensed.images.clone(), artifact.condensed.labels.clone()


def _bad_inputs(made, tmp_path: Path) -> list[tuple[list[str], str]]:
    images, labels = _digits_set(made)
    cases: list[tuple[list[str], str]] = []

    def tensors(name: str, **content) -> str:
        torch.save(content, tmp_path / name)
        return str(tmp_path / name)

    cases.append(([tensors("big.pt", images=torch.nn.functional.interpolate(images, size=16), labels=labels)],
                  "--size 16"))
    cases.append(([tensors("rgb.pt", images=images.expand(-1, 3, -1, -1), labels=labels)], "--channels 3"))
    cases.append(([tensors("range.pt", images=images, labels=labels + 5)], "labels must lie in 0..9"))
    cases.append(([tensors("missing.pt", images=images[labels != 3], labels=labels[labels != 3])],
                  "class(es) 3 have no image"))
    nan = images.clone()
    nan[0, 0, 0, 0] = float("nan")
    cases.append(([tensors("nan.pt", images=nan, labels=labels)], "NaN or infinite"))
    cases.append(([tensors("unit.pt", images=images, labels=labels), "--normalization", "unit"],
                  "impossible for --normalization unit"))
    cases.append(([tensors("bytes.pt", images=(images * 40 + 120).clamp(0, 255).round(), labels=labels)],
                  "impossible for --normalization dataset"))
    cases.append(([tensors("ints.pt", images=(images * 40).to(torch.uint8), labels=labels)], "not floats"))
    cases.append(([tensors("keys.pt", x=images, y=labels)], "--images-key"))
    cases.append(([tensors("count.pt", images=images, labels=labels[:-1])], "20 images but 19 labels"))
    (tmp_path / "notes.txt").write_text("hello")
    cases.append(([str(tmp_path / "notes.txt")], "cannot tell the format"))
    cases.append(([tensors("fmt.pt", images=images, labels=labels), "--format", "zip"], "unknown format 'zip'"))
    cases.append(([tensors("norm.pt", images=images, labels=labels), "--normalization", "raw"],
                  "--normalization raw"))
    Bench(made[0]).export(made[1], format="folder", out=tmp_path / "folder")
    cases.append(([str(tmp_path / "folder"), "--normalization", "dataset"], "its normalisation is unit"))
    (tmp_path / "mtt").mkdir()
    torch.save(images, tmp_path / "mtt" / "images_best.pt")
    cases.append(([str(tmp_path / "mtt")], "no labels_best.pt"))
    cases.append(([str(tmp_path / "nowhere.pt")], "no file or folder"))
    cases.append(([tensors("name.pt", images=images, labels=labels), "--name", "My Set"], "--name 'My Set'"))
    cases.append(([tensors("newline.pt", images=images, labels=labels), "--name", "set\n"], "--name 'set\\n'"))
    cases.append(([tensors("lr.pt", images=images, labels=labels, lr=torch.tensor(-0.01))], "not a positive number"))
    cases.append(([tensors("claim.pt", images=images, labels=labels, dcbench_artifact="../../etc")],
                  "not an artifact id"))
    (tmp_path / "noted").mkdir()
    torch.save(images, tmp_path / "noted" / "images_best.pt")
    torch.save(labels, tmp_path / "noted" / "labels_best.pt")
    (tmp_path / "noted" / "dcbench.json").write_text('{"exported_from": 42}')
    cases.append(([str(tmp_path / "noted")], "not an artifact id"))
    (tmp_path / "listed").mkdir()
    torch.save(images, tmp_path / "listed" / "images_best.pt")
    torch.save(labels, tmp_path / "listed" / "labels_best.pt")
    (tmp_path / "listed" / "dcbench.json").write_text('["not", "a", "note"]')
    cases.append(([str(tmp_path / "listed")], "not the note dcbench export writes"))
    cases.append(([str(tmp_path / "noted"), "--images-key", "x"], "drop them"))
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "0").mkdir()
    from PIL import Image
    Image.new("L", (8, 8)).save(tmp_path / "fake" / "0" / "a.png", format="gif")  # a GIF wearing a .png name
    cases.append(([str(tmp_path / "fake")], "not an image file PIL can read"))
    return cases


def test_every_bad_input_is_one_line_exit_2_and_stores_nothing(made, tmp_path: Path, monkeypatch, capsys) -> None:
    bench = _bench(made, tmp_path)
    before = _stored(bench)
    args = ("--dataset", "digits", "--results", str(bench.results), "--data-root", str(bench.data_root))
    for extra, phrase in _bad_inputs(made, tmp_path):
        code, out, err = run_main(monkeypatch, capsys, "import", *extra, *args)
        assert "Traceback" not in out
        one_error_line(code, err, phrase)
        assert _stored(bench) == before, phrase


class _Payload:
    """Unpickling this runs ``open(path, 'w')``: a file appears if anything unpickles it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


@pytest.mark.parametrize("where", ["tensors", "dc", "mtt"])
def test_a_file_crafted_to_run_code_when_unpickled_is_refused_without_running_it(made, tmp_path: Path, where: str,
                                                                               monkeypatch, capsys) -> None:
    images, labels = _digits_set(made)
    marker = tmp_path / "pwned"
    if where == "tensors":
        path = tmp_path / "evil.pt"
        torch.save({"images": images, "labels": labels, "extra": _Payload(marker)}, path)
    elif where == "dc":
        path = tmp_path / "evil.pt"
        torch.save({"data": [[images, labels]], "accs_all_exps": _Payload(marker)}, path)
    else:
        path = tmp_path / "evil"
        path.mkdir()
        torch.save(images, path / "images_best.pt")
        torch.save(_Payload(marker), path / "labels_best.pt")
    marker.unlink(missing_ok=True)  # torch.save opened nothing, but be sure the check starts clean
    code, _, err = run_main(monkeypatch, capsys, "import", str(path), "--dataset", "digits", "--results",
                            str(tmp_path / "results"), "--data-root", str(made[0].parent / "data"))
    one_error_line(code, err, "needs pickle", "never unpickles")
    assert not marker.exists()
    assert not (tmp_path / "results" / "artifacts").exists()


def test_an_npz_with_an_object_array_is_refused(made, tmp_path: Path, monkeypatch, capsys) -> None:
    images, labels = _digits_set(made)
    np.savez(tmp_path / "objects.npz", images=images.numpy(), labels=np.array([object()] * len(labels)))
    code, _, err = run_main(monkeypatch, capsys, "import", str(tmp_path / "objects.npz"), "--dataset", "digits",
                            "--results", str(tmp_path / "results"), "--data-root", str(made[0].parent / "data"))
    one_error_line(code, err, "needs pickle")


def test_export_refuses_to_overwrite_and_to_draw_whitened_pixels(made, tmp_path: Path) -> None:
    from dcbench.errors import InterchangeError

    bench = _bench(made, tmp_path)
    (tmp_path / "taken.pt").write_text("mine")
    with pytest.raises(InterchangeError, match="exists"):
        bench.export(made[1], format="dc", out=tmp_path / "taken.pt")
    assert (tmp_path / "taken.pt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InterchangeError, match="exists"):  # a file format is never written into a folder
        bench.export(made[1], format="tensors", out=tmp_path / "empty")
    assert bench.export(made[1], format="mtt", out=tmp_path / "empty").files  # a folder format fills an empty one
    white = bench.synthesize("random", ipc=2, zca=True).artifact
    with pytest.raises(InterchangeError, match="no pixels"):
        bench.export(white, format="folder", out=tmp_path / "white")


# --- first class: eval, grid, show, leaderboard, publish ----------------------------------------

def test_imported_sets_run_in_grids_and_show_as_imported(made, tmp_path: Path, monkeypatch, capsys) -> None:
    bench = _bench(made, tmp_path)
    bench.export(made[1], format="mtt", out=tmp_path / "mtt")
    args = ("--results", str(bench.results), "--data-root", str(bench.data_root))
    code, out, err = run_main(monkeypatch, capsys, "import", str(tmp_path / "mtt"), "--dataset", "digits", "--name",
                              "mtt", "--source", "MTT's release", *args)
    assert code == 0, err
    artifact = out.split("artifact ")[1].split()[0]
    code, out, err = run_main(monkeypatch, capsys, "grid", "--import", artifact[:10], "--cls", "mlp,convnet",
                              "--evals", "1", "--runner", "local", *args)
    assert code == 0, err
    assert "mtt (imported)" in out and "random" in out  # the stored random set's row is in the same table
    rows = [r for r in Bench(bench.results).leaderboard(dataset="digits").entries if r.method.imported]
    assert {r.cls_net for r in rows} == {"mlp", "convnet"} and all(r.condenser == "import:mtt" for r in rows)
    assert "MTT's release" in rows[0].provenance.condenser_origin

    code, out, err = run_main(monkeypatch, capsys, "show", artifact, "--png", str(tmp_path / "set.png"),
                              "--results", str(bench.results))
    assert code == 0 and "imported: MTT's release" in out and (tmp_path / "set.png").is_file()

    published = bench.publish(tmp_path / "site")
    entries = json.loads((tmp_path / "site" / "results.json").read_text())["records"]
    imported = [e for e in entries if e["imported"]]
    assert imported and all(e["image"] for e in imported) and published.missing_images == []
    assert "(imported)" in (tmp_path / "site" / "README.md").read_text()


def test_a_grid_of_imports_alone_runs_no_condenser(made, tmp_path: Path) -> None:
    bench = _bench(made, tmp_path)
    bench.export(made[1], format="tensors", out=tmp_path / "set.npz")
    (record,) = bench.import_set(tmp_path / "set.npz", dataset="digits")
    result = bench.grid(imports=[record.artifact], cls="mlp", evals=1, runner="local")
    assert result.complete and len(result.done) == 1 and result.done[0].condenser == "import:imported"
    assert result.ipcs == (2,)
    with_whole = bench.grid(imports=[record.artifact], cls="mlp", evals=1, runner="local", whole=True)
    assert with_whole.stored == 1 and [r.dataset for r in with_whole.done] == ["digits"]  # the whole-data row
    assert with_whole.done[0].artifact is None


def test_serving_options_given_to_eval_must_be_the_sets_own(made, tmp_path: Path) -> None:
    from dcbench.errors import UserError

    bench = _bench(made, tmp_path)
    with pytest.raises(UserError, match="--size 16"):
        bench.evaluate(made[1], cls="mlp", evals=1, size=16)
    assert bench.evaluate(made[1], cls="mlp", evals=1, size=8, channels=1, zca=False)[0].accuracy == made[2]


def test_fashion_like_data_import_reads_grey_arrays_without_a_channel_axis(made, tmp_path: Path) -> None:
    bench = _bench(made, tmp_path)
    images, labels = _digits_set(made)
    np.savez(tmp_path / "grey.npz", images=images[:, 0].numpy(), labels=labels.numpy())
    (record,) = bench.import_set(tmp_path / "grey.npz", dataset="digits")
    assert bench.artifact(record.artifact).condensed.images.shape == (20, 1, 8, 8)
    data = load_dataset("digits", root=bench.data_root)
    assert data.spec.channels == 1
