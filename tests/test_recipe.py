"""The classification protocol: recipe, augmentation, whole-data training, reproducibility."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from helpers import evaluate
from typer.testing import CliRunner

from dcbench import Bench
from dcbench.architecture import seeded_init
from dcbench.augment import mnist_augment
from dcbench.cells import EvalCell, SynthCell, run_synth
from dcbench.cli import app
from dcbench.data import load_dataset
from dcbench.recipe import Recipe, evaluate_accuracy, train_network
from dcbench.registry import get_registry


def test_recipe_follows_the_reference_schedule():
    paper = get_registry().profile("paper")
    plain = Recipe.condensed(paper, {})
    assert (plain.epochs, plain.lr_drop_after, plain.augment) == (301, 152, None)
    assert (plain.lr, plain.momentum, plain.weight_decay, plain.batch_size) == (0.01, 0.9, 5e-4, 256)
    mnist = Recipe.condensed(paper, get_registry().dataset_settings("mnist"))
    assert (mnist.epochs, mnist.augment) == (1001, "mnist")
    whole = Recipe.whole_data(paper, {})
    assert (whole.epochs, whole.lr_drop_after) == (100, 50)


def test_lr_drops_tenfold_once_at_half_time(monkeypatch):
    seen = []
    original = torch.optim.SGD.__init__

    def spy(self, params, lr, **kw):
        seen.append(lr)
        original(self, params, lr=lr, **kw)

    monkeypatch.setattr(torch.optim.SGD, "__init__", spy)
    net = torch.nn.Linear(4, 2)
    recipe = Recipe(kind="condensed", epochs=7, lr_drop_after=4)
    train_network(net, torch.randn(8, 4), torch.randint(0, 2, (8,)), recipe, generator=torch.Generator().manual_seed(0))
    assert seen == pytest.approx([0.01, 0.001])


def test_mnist_augment_keeps_shape_fill_and_is_seeded():
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = mnist_augment(x, g1), mnist_augment(x, g2)
    assert a.shape == x.shape and torch.equal(a, b)
    changed = (a != x).flatten(1).any(1)
    assert changed.float().mean() > 0.5  # most images moved, scaled or rotated
    # Pixels brought in from outside the image are filled with the batch's channel mean.
    mean = float(x.mean())
    corners = torch.stack([a[:, 0, 0, 0], a[:, 0, -1, -1], a[:, 0, 0, -1], a[:, 0, -1, 0]], 1)
    assert bool(((corners - mean).abs() < 1e-5).any())
    # Mass is roughly preserved: no image is blanked or blown up.
    assert float((a - mean).abs().sum(dim=(1, 2, 3)).min()) > 10


def test_mnist_augment_crop_is_an_integer_shift():
    torch.manual_seed(0)
    x = torch.rand(300, 1, 12, 12)
    out = mnist_augment(x, torch.Generator().manual_seed(1))
    # Some image must be an exact shifted copy (crop branch): find one matching a shift of the input.
    found = False
    for i in range(len(x)):
        for dy in range(-4, 4):
            for dx in range(-4, 4):
                if (dy or dx) and torch.allclose(out[i, 0, 4:8, 4:8], x[i, 0, 4 + dy:8 + dy, 4 + dx:8 + dx]):
                    found = True
                    break
            if found:
                break
        if found:
            break
    assert found


def test_whole_data_convnet_on_digits_reaches_95_percent(tmp_path):
    """The paper profile's whole-data recipe: SGD 0.01, momentum 0.9, wd 5e-4, batch 256, 100 epochs,
    ×0.1 at half time. Over 60 s on a loaded 2-core machine (600 steps of ConvNet-128 on 1,437 8×8
    images); kept because this is the "whole dataset" recipe the protocol must be shown to reach."""
    data = load_dataset("digits", root=tmp_path)
    recipe = Recipe.whole_data(get_registry().profile("paper"), {})
    gen = torch.Generator().manual_seed(0)
    with seeded_init(gen):
        net = get_registry().architecture("convnet")(in_chans=1, num_classes=10, img_size=8)
    train_network(net, data.train.images, data.train.labels, recipe, generator=gen)
    assert evaluate_accuracy(net, data.test) >= 0.95


def _random_then_eval(workspace, seed: int) -> tuple[str, list[float]]:
    row = run_synth(workspace, SynthCell(condenser="random", dataset="digits", ipc=10, seed=seed,
                                         profile="smoke").bind())
    assert row.status == "done"
    accs = []
    for i in range(2):
        result = evaluate(workspace, EvalCell(cls_net="mlp", eval_index=i, seed=100 + i, profile="smoke",
                                              artifact=row.artifact))
        assert result.status == "done"
        accs.append(result.accuracy)
    return row.artifact, accs


def test_same_seed_same_set_and_same_accuracies(workspace, tmp_path):
    first = _random_then_eval(workspace, seed=0)
    again = _random_then_eval(dataclasses.replace(workspace, results=tmp_path / "other"), seed=0)
    assert first == again
    other_seed = _random_then_eval(workspace, seed=1)
    assert other_seed[0] != first[0]


def test_random_ten_ipc_convnet_results_stored_and_aggregated(workspace):
    bench = Bench(workspace.results, workspace.data_root, device="cpu")
    made = bench.synthesize("random", dataset="digits", ipc=10, profile="smoke")
    assert [r.status for r in bench.evaluate(made.artifact, cls="convnet", evals=5)] == ["done"] * 5
    [entry] = bench.leaderboard(dataset="digits", ipc=10, profile="smoke").entries
    assert (entry.condenser, entry.cls_net, entry.score.n) == ("random", "convnet", 5)
    # Random real digits beat chance by far even under the smoke budget, and nets differ.
    assert 0.5 < entry.score.mean <= 1.0 and entry.score.std > 0
    shown = CliRunner().invoke(app, ["leaderboard", "--results", str(workspace.results)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    # the setting's matrix row, then its ranking row (in a narrow table, where a score may wrap)
    matrix, ranked = [ln for ln in shown.output.splitlines() if "│ random" in ln]
    assert f"{100 * entry.score.mean:.1f} ± {100 * entry.score.std:.1f} (5)" in matrix
    assert ranked.startswith("│ 1 ")


def test_eval_refuses_a_network_that_cannot_take_the_images(workspace):
    from dcbench.errors import UserError

    row = run_synth(workspace, SynthCell(condenser="random", dataset="digits", ipc=1, seed=0,
                                         profile="smoke").bind())
    with pytest.raises(UserError, match="lenet cannot classify digits"):
        evaluate(workspace, EvalCell(cls_net="lenet", eval_index=0, seed=0, profile="smoke",
                                     artifact=row.artifact))
