"""DSA (gradient matching through differentiable Siamese augmentation) and evaluation recipes: the
condenser passes the conformance checks and beats random; the ``dsa`` recipe is keyed, recorded,
chosen per condenser, asked for by grids, and never mixed with the seed paper's on a leaderboard."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
import yaml
from dcbench_gm.matching import batched_step, loop_step
from helpers import one_error_line, run_main

from dcbench import Bench
from dcbench.classification import Classification
from dcbench.recipe import DSA_RECIPE, Recipe
from dcbench.registry import get_registry
from dcbench.testing import conformance


def test_dsa_passes_the_conformance_checks() -> None:
    failed = [r for r in conformance("condenser", "dsa") if not r.passed]
    assert not failed, failed


def test_the_seed_papers_recipe_keeps_its_key_and_dsa_is_another() -> None:
    profile = get_registry().profile("paper")
    dc = Recipe.condensed(profile, {})
    assert "name" not in dc.to_json()  # results stored before recipes had names keep their keys
    assert dc.to_json() == {"kind": "condensed", "epochs": 301, "lr_drop_after": 152, "lr": 0.01, "momentum": 0.9,
                            "weight_decay": 5e-4, "batch_size": 256, "augment": None}
    dsa = Recipe.condensed(profile, {"augment": "mnist"}, DSA_RECIPE)
    # the DSA code trains 1,000 epochs with DSA in place of the MNIST augmentation, in the same loop
    assert (dsa.epochs, dsa.lr_drop_after, dsa.augment, dsa.to_json()["name"]) == \
        (1001, 502, "dsa:color_crop_cutout_flip_scale_rotate", "dsa")
    meta = {"condenser": "dsa", "recipe": "dsa"}
    assert Classification.for_set(profile, {}, meta).recipe == Recipe.condensed(profile, {}, DSA_RECIPE)
    assert Classification.for_set(profile, {}, meta, recipe="dc").identity() == \
        Classification.for_set(profile, {}, {}).identity()


def test_augmented_matching_is_the_same_in_every_implementation() -> None:
    """Each class draws its own augmentation, in class order, in the loop, the compiled loop and the batched
    step, whose classes go in chunks (2 here, of 5): same draws, so the same loss, image gradient and
    generator state after, to rounding."""
    from dcbench_gm.distance import DISTANCES
    from dcbench_gm.matching import CompiledLoop

    from dcbench import DSA_STRATEGY, siamese_augment

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.GroupNorm(4, 4), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(256, 5))
    real = [torch.randn(5 + c, 1, 8, 8) for c in range(5)]
    results = []
    for step, kwargs in ((loop_step, {}), (CompiledLoop(), {}), (batched_step, {"class_chunk": 2})):
        syn = torch.randn(10, 1, 8, 8, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
        gen = torch.Generator().manual_seed(7)
        both = lambda r, s, gen=gen: tuple(siamese_augment([r, s], DSA_STRATEGY, gen))  # noqa: E731
        loss = step(net, syn, 2, real, DISTANCES["ours"], siamese=both, **kwargs)
        results.append((loss, syn.grad.clone(), gen.get_state()))
    for loss, grad, state in results[1:]:
        torch.testing.assert_close(loss, results[0][0], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(grad, results[0][1], rtol=1e-4, atol=1e-6)
        assert torch.equal(state, results[0][2])


def test_dsa_beats_random_on_digits(tmp_path: Path) -> None:
    """smoke profile (K = 20), 1 ipc, real init, ConvNet-2 synthesis (ConvNet-3's third instance norm
    sees 2×2 maps at 8×8), both sets evaluated by 5 ConvNets under DSA's recipe (smoke: 50 epochs
    with DSA augmentation). About 40 s on 2 idle cores: the smallest run that shows the method."""
    bench = Bench(tmp_path / "results", tmp_path / "data", device="cpu")
    dsa = bench.synthesize("dsa", ipc=1, synth="convnet_d2")
    rnd = bench.synthesize("random", ipc=1)
    assert dsa.done and rnd.done and dsa.details["dsa_strategy"] == "color_crop_cutout_scale_rotate"  # digits: no flip
    mine = bench.evaluate(dsa.artifact, cls="convnet", evals=5)
    theirs = bench.evaluate(rnd.artifact, cls="convnet", evals=5, recipe="dsa")
    assert all(e.recipe["name"] == "dsa" for e in mine + theirs)  # DSA's own recipe, and random's asked for
    mean = lambda records: sum(r.accuracy for r in records) / len(records)  # noqa: E731
    assert mean(mine) >= mean(theirs) + 0.05, (mean(mine), mean(theirs))


def test_same_seed_same_dsa_set(tmp_path: Path) -> None:
    bench = Bench(tmp_path / "results", tmp_path / "data", device="cpu")
    sets = [bench.synthesize("dsa", ipc=1, synth="mlp", seed=seed, overrides={"iterations": 2}, rerun=True)
            for seed in (0, 0, 1)]
    images = [bench.artifact(s.artifact).condensed.images for s in sets]
    assert torch.equal(images[0], images[1]) and not torch.equal(images[0], images[2])


def test_dsa_without_augmentation_is_gradient_matching_from_real_images(tmp_path: Path) -> None:
    """The authors' flag: strategy 'none' turns DSA back into DC; here bitwise, since the hooks are all that differ."""
    bench = Bench(tmp_path / "results", tmp_path / "data", device="cpu")
    common = dict(ipc=2, synth="mlp", seed=3)
    plain = bench.synthesize("dsa", overrides={"iterations": 2, "dsa_strategy": "none"}, **common)
    gm = bench.synthesize("gm", overrides={"iterations": 2, "init": "real"}, **common)
    augmented = bench.synthesize("dsa", overrides={"iterations": 2}, **common)
    images = [bench.artifact(s.artifact).condensed.images for s in (plain, gm, augmented)]
    assert torch.equal(images[0], images[1]) and not torch.equal(images[0], images[2])


def test_an_unknown_augmentation_group_is_one_line(monkeypatch, capsys, tmp_path: Path) -> None:
    code, _, err = run_main(monkeypatch, capsys, "synth", "-c", "dsa", "--synth", "mlp", "--set",
                            "dsa_strategy=color_blur", "--results", str(tmp_path / "r"), "--data-root", str(tmp_path))
    one_error_line(code, err, "dsa_strategy", "'blur'")
    assert not (tmp_path / "r" / "artifacts").exists() or not any((tmp_path / "r" / "artifacts").iterdir())


def test_a_grid_evaluates_every_set_under_one_recipe_and_the_leaderboard_keeps_them_apart(
        tmp_path: Path, monkeypatch, capsys) -> None:
    bench = Bench(tmp_path / "results", tmp_path / "data", device="cpu")
    common = dict(cls="mlp", evals=1, runner="local")
    bench.grid("random", **common)
    bench.grid("random", recipe="dsa", **common)
    board = bench.leaderboard(dataset="digits")
    recipes = sorted(e.recipe for e in board.entries)
    assert recipes == ["dc", "dsa"]
    assert {e.method.label for e in board.entries} == {"random", "random (dsa recipe)"}
    bench.publish(tmp_path / "site", dataset="digits")
    ids = re.findall(r'id="([^"]+)"', (tmp_path / "site" / "index.html").read_text())
    assert len(ids) == len(set(ids)) and any("dsa" in i for i in ids if i.startswith("matrix"))
    # a set evaluated under both recipes exports the accuracies of its own recipe (random's: dc), one per net
    dc_row = next(e for e in board.entries if e.recipe == "dc")
    artifact = bench.synthesize("random").artifact  # the grid's set, stored
    bench.export(artifact, format="dc", out=tmp_path / "random.pt")
    exported = torch.load(tmp_path / "random.pt", weights_only=True)
    assert exported["accs_all_exps"] == {"mlp": [pytest.approx(dc_row.score.mean)]}
    args = ("--results", str(bench.results), "--data-root", str(bench.data_root))
    code, _, err = run_main(monkeypatch, capsys, "grid", "-c", "random", "--cls", "mlp", "--recipe", "dss",
                            "--runner", "local", *args)
    one_error_line(code, err, "--recipe dss", "dc, dsa")


def test_a_condenser_declaring_an_unknown_recipe_breaks_the_contract() -> None:
    from dcbench_coresets import RandomCondenser

    from dcbench.condenser import contract_problems

    class Odd(RandomCondenser):
        spec = dataclasses.replace(RandomCondenser.spec, recipe="fancy")

    assert any("spec.recipe" in p for p in contract_problems(Odd))
    assert not contract_problems(RandomCondenser)


def test_rows_of_one_recipe_under_two_strategies_are_two_entries_named_by_strategy(tmp_path: Path) -> None:
    """The registry's strategy for a data set changed between two evaluations of one set: two rows."""
    bench = Bench(tmp_path / "results", tmp_path / "data", device="cpu")
    made = bench.synthesize("random")
    bench.evaluate(made.artifact, cls="mlp", evals=1, recipe="dsa")
    settings = dict(get_registry().dataset_overrides["digits"])
    try:
        get_registry().dataset_overrides["digits"] = {**settings, "dsa_strategy": "crop"}
        bench.evaluate(made.artifact, cls="mlp", evals=1, recipe="dsa")
    finally:
        get_registry().dataset_overrides["digits"] = settings
    labels = sorted(e.method.label for e in bench.leaderboard(dataset="digits").entries)
    assert labels == ["random (dsa:color_crop_cutout_scale_rotate recipe)", "random (dsa:crop recipe)"]
    bench.evaluate(made.artifact, cls="convnet", evals=1)  # the dc recipe alone keeps its plain name
    assert "random" in {e.method.label for e in bench.leaderboard(dataset="digits").entries}


@pytest.mark.parametrize("setting, phrase", [({"dsa_strategy": "color_blur"}, "'blur'"),
                                             ({"dsa_stratgy": "crop"}, "unknown key(s) dsa_stratgy"),
                                             ({"augment": "mnst"}, "augment must be one of mnist")])
def test_a_bad_data_set_setting_is_refused_when_the_registry_loads(setting, phrase, monkeypatch, capsys,
                                                                   tmp_path: Path) -> None:
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "registry.yaml").read_text())
    config["dataset_overrides"]["svhn"] = setting
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("DCBENCH_REGISTRY", str(path))
    get_registry.cache_clear()
    try:
        code, _, err = run_main(monkeypatch, capsys, "list", "condensers")
        one_error_line(code, err, "dataset_overrides.svhn", phrase)
    finally:
        get_registry.cache_clear()


def test_an_export_of_a_dsa_recipe_set_says_so_and_an_import_can_declare_it(tmp_path: Path) -> None:
    bench = Bench(tmp_path / "results", tmp_path / "data", device="cpu")
    made = bench.synthesize("dsa", ipc=1, synth="mlp", overrides={"iterations": 1})
    done = bench.export(made.artifact, format="tensors", out=tmp_path / "dsa.safetensors")
    assert any("--recipe dsa" in note for note in done.notes)
    plain, declared = (bench.import_set(tmp_path / "dsa.safetensors", dataset="digits", recipe=recipe)[0]
                       for recipe in ("dc", "dsa"))
    assert plain.artifact != declared.artifact
    assert bench.evaluate(plain.artifact, cls="mlp", evals=1)[0].recipe.get("name", "dc") == "dc"
    assert bench.evaluate(declared.artifact, cls="mlp", evals=1)[0].recipe["name"] == "dsa"


@pytest.mark.parametrize("args, phrases", [
    (("--recipe", "dsx", "--cls", "mlp"), ("--recipe dsx", "dc, dsa")),
    (("--recipe", "dsa"), ("--recipe", "give --cls")),
])
def test_synth_refuses_a_bad_recipe_before_synthesising(args, phrases, monkeypatch, capsys, tmp_path: Path) -> None:
    code, _, err = run_main(monkeypatch, capsys, "synth", "-c", "random", *args, "--results", str(tmp_path / "r"),
                            "--data-root", str(tmp_path))
    one_error_line(code, err, *phrases)
    assert not (tmp_path / "r" / "results.sqlite").exists()


def test_the_whole_split_refuses_another_recipe(tmp_path: Path) -> None:
    from dcbench.cells import EvalCell
    from dcbench.errors import UserError

    with pytest.raises(UserError, match="whole training split"):
        EvalCell(cls_net="mlp", eval_index=0, seed=0, profile="smoke", dataset="digits", recipe="dsa").bind()
