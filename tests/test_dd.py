"""Dataset distillation: the hypergradient against finite differences, the learned schedule and its
replay, reproducibility, and the method on digits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from dcbench_dd import DatasetDistillation, NonFiniteLoss
from dcbench_dd.unroll import distillation_loss, inverse_softplus
from helpers import evaluate
from torch import nn

from dcbench.architecture import seeded_init
from dcbench.cells import SynthesisFactory
from dcbench.data import load_dataset
from dcbench.errors import UserError
from dcbench.recipe import evaluate_accuracy
from dcbench.registry import get_registry
from dcbench.schedule import LearnedSchedule, train_with_schedule, xavier_init

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    """DD's ops are tiny (8×8 digits, an MLP): with the two threads conftest sets and the cores shared,
    OpenMP's barriers make an outer step about 10× slower (measured 223 ms against 22 ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

# --- the unrolled loss and its hypergradient ---------------------------------------------------


def _tiny_problem():
    """Two steps of 3 classes of 1×4×4 images, T = 3 (step order 0, 1, 0), float64, a 2-layer MLP."""
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    params = {n: p.detach() for n, p in net.named_parameters()}
    images = torch.randn(2, 3, 1, 4, 4, generator=g, dtype=torch.float64)
    raw = torch.tensor([inverse_softplus(r) for r in (0.3, 0.5, 0.2)], dtype=torch.float64)
    real_x = torch.randn(8, 1, 4, 4, generator=g, dtype=torch.float64)
    real_y = torch.randint(0, 3, (8,), generator=g)

    def loss(images, raw):
        return distillation_loss(net, params, {}, images, torch.arange(3), F.softplus(raw), [0, 1, 0], real_x, real_y)

    return loss, images, raw


def test_hypergradient_matches_finite_differences():
    loss, images, raw = _tiny_problem()
    images_, raw_ = images.clone().requires_grad_(True), raw.clone().requires_grad_(True)
    grad_images, grad_raw = torch.autograd.grad(loss(images_, raw_), [images_, raw_])

    eps = 1e-6

    def central(tensor, which):
        estimate = torch.zeros_like(tensor)
        for i in range(tensor.numel()):
            plus, minus = tensor.clone(), tensor.clone()
            plus.view(-1)[i] += eps
            minus.view(-1)[i] -= eps
            args_plus = (plus, raw) if which == "images" else (images, plus)
            args_minus = (minus, raw) if which == "images" else (images, minus)
            estimate.view(-1)[i] = (loss(*args_plus) - loss(*args_minus)).detach() / (2 * eps)
        return estimate

    fd_images, fd_raw = central(images, "images"), central(raw, "raw")
    torch.testing.assert_close(grad_images, fd_images, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(grad_raw, fd_raw, rtol=1e-5, atol=1e-8)
    assert float(grad_images.abs().max()) > 1e-3 and float(grad_raw.abs().max()) > 1e-3  # not trivially zero


def test_inverse_softplus():
    for y in (1e-4, 0.02, 1.0, 50.0):
        assert float(F.softplus(torch.tensor(inverse_softplus(y), dtype=torch.float64))) == pytest.approx(y, rel=1e-9)
    assert inverse_softplus(1e30) == pytest.approx(1e30)  # no overflow for absurd rates


# --- the learned schedule and its replay --------------------------------------------------------


def _schedule(lrs=(0.5, 0.25, 0.1), order=(1, 0, 1), image_step=(0, 0, 1, 1)) -> LearnedSchedule:
    return LearnedSchedule(lrs=torch.tensor(lrs), step_order=torch.tensor(order), image_step=torch.tensor(image_step))


def test_schedule_round_trip_through_extras():
    schedule = _schedule()
    again = LearnedSchedule.from_extras(schedule.to_extras())
    assert again is not None and again.steps == 2
    for name in ("lrs", "step_order", "image_step"):
        assert torch.equal(getattr(again, name), getattr(schedule, name))
    assert LearnedSchedule.from_extras({}) is None
    assert LearnedSchedule.from_extras({"something_else": torch.zeros(1)}) is None


@pytest.mark.parametrize("extras, match", [
    ({"lr_schedule": torch.ones(3), "step_order": torch.zeros(3, dtype=torch.long)}, "lack image_step"),
    ({"step_order": torch.zeros(3, dtype=torch.long)}, "lack lr_schedule"),
    (_schedule().to_extras() | {"step_order": torch.zeros(2, dtype=torch.long)}, "has 2 entries"),
    (_schedule().to_extras() | {"step_order": torch.tensor([0, 2, 1])}, "outside 0..1"),
    (_schedule().to_extras() | {"image_step": torch.tensor([0, 0, 2, 2])}, "at least one image"),
    (_schedule().to_extras() | {"image_step": torch.tensor([-1, 0, 1, 1])}, "at least one image"),
    (_schedule().to_extras() | {"lr_schedule": torch.tensor([0.1, float("nan"), 0.1])}, "NaN"),
    (_schedule().to_extras() | {"step_order": torch.tensor([0.0, 1.0, 0.0])}, "int64"),
])
def test_schedule_refuses_partial_or_inconsistent_extras(extras, match):
    with pytest.raises(ValueError, match=match):
        LearnedSchedule.from_extras(extras)


def test_xavier_init_draws_from_the_generator_only():
    net = nn.Sequential(nn.Conv2d(2, 8, 3), nn.GroupNorm(2, 8), nn.Flatten(), nn.Linear(8 * 4 * 4, 50))
    with torch.no_grad():
        net[1].weight.fill_(3.0)
    a = [p.detach().clone() for p in xavier_init(net, torch.Generator().manual_seed(5)).parameters()]
    torch.manual_seed(123)  # the global RNG plays no part
    b = [p.detach().clone() for p in xavier_init(net, torch.Generator().manual_seed(5)).parameters()]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    conv_w, conv_b, norm_w, norm_b, fc_w, fc_b = a
    assert not conv_b.any() and not fc_b.any() and not norm_b.any()
    assert torch.equal(norm_w, torch.ones(8))
    # Xavier normal, gain 1: std = sqrt(2 / (fan_in + fan_out)).
    assert float(fc_w.std()) == pytest.approx((2 / (128 + 50)) ** 0.5, rel=0.05)


def test_train_with_schedule_takes_the_learned_sgd_steps_by_hand():
    g = torch.Generator().manual_seed(1)
    images, labels = torch.randn(4, 1, 1, 2, generator=g), torch.tensor([0, 2, 1, 0])
    schedule = _schedule()  # step 1 (images 2, 3) at 0.5, step 0 (images 0, 1) at 0.25, step 1 at 0.1

    def fresh():
        return nn.Sequential(nn.Flatten(), nn.Linear(2, 3))

    net = train_with_schedule(fresh(), images, labels, schedule, generator=torch.Generator().manual_seed(7))
    assert net.training

    reference = xavier_init(fresh(), torch.Generator().manual_seed(7))
    w, b = reference[1].weight.detach().clone(), reference[1].bias.detach().clone()
    x = images.flatten(1)
    for lr, idx in ((0.5, [2, 3]), (0.25, [0, 1]), (0.1, [2, 3])):
        xs, ys = x[idx], labels[idx]
        dlogits = (torch.softmax(xs @ w.T + b, dim=1) - F.one_hot(ys, 3).float()) / len(idx)  # mean cross-entropy
        w, b = w - lr * dlogits.T @ xs, b - lr * dlogits.sum(0)
    torch.testing.assert_close(net[1].weight.detach(), w)
    torch.testing.assert_close(net[1].bias.detach(), b)

    again = train_with_schedule(fresh(), images, labels, schedule, generator=torch.Generator().manual_seed(7))
    assert torch.equal(again[1].weight, net[1].weight)
    with pytest.raises(ValueError, match="assigns 4 images"):
        train_with_schedule(fresh(), images[:3], labels[:3], schedule, generator=torch.Generator())


# --- the condenser -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return load_dataset("digits", root=tmp_path_factory.mktemp("data"))


def _condense(data, *, ipc=1, seed=0, synth_net="mlp", **overrides):
    dd = DatasetDistillation(DatasetDistillation.make_config(None, overrides))
    factory = SynthesisFactory(get_registry().component("architecture", synth_net), data.train, CPU)
    condensed = dd.condense(data.train, ipc=ipc, generator=torch.Generator().manual_seed(seed), device=CPU,
                            model_factory=factory)
    return condensed, dd.details


def test_same_seed_same_set_and_schedule(digits):
    first, _ = _condense(digits, iterations=3)
    again, _ = _condense(digits, iterations=3)
    other, _ = _condense(digits, seed=1, iterations=3)
    tensors = lambda c: [c.images, c.labels, *(c.extras[k] for k in sorted(c.extras))]
    assert all(torch.equal(a, b) for a, b in zip(tensors(first), tensors(again), strict=True))
    assert not torch.equal(first.images, other.images)
    assert not torch.equal(first.extras["lr_schedule"], other.extras["lr_schedule"])


def test_set_is_step_major_with_a_consistent_schedule(digits):
    condensed, details = _condense(digits, ipc=2, epochs=3, iterations=3)
    assert condensed.images.shape == (20, 1, 8, 8) and bool(torch.isfinite(condensed.images).all())
    assert torch.equal(condensed.labels, torch.arange(10).repeat(2))  # image s·10 + c: step s, class c
    schedule = LearnedSchedule.from_extras(condensed.extras)
    assert schedule is not None and schedule.steps == 2
    assert schedule.lrs.dtype == torch.float32 and schedule.lrs.shape == (6,)
    assert bool((schedule.lrs > 0).all())
    assert not torch.allclose(schedule.lrs, torch.full((6,), 0.02))  # the rates were learned, from 0.02
    assert schedule.step_order.tolist() == [0, 1, 0, 1, 0, 1]
    assert schedule.image_step.tolist() == [0] * 10 + [1] * 10
    assert details["unrolled_steps"] == 6 and details["iterations_run"] == 3 and details["distill_lr"] == 0.02
    assert details["decay_every"] == 1 and details["real_batch"] == 1024


def test_budgets_follow_the_profile():
    reg = get_registry()
    assert DatasetDistillation.make_config(reg.profile("paper")).iterations is None  # 400 passes over the data
    assert DatasetDistillation.make_config(reg.profile("smoke")).iterations == 1000
    assert DatasetDistillation.make_config(reg.profile("cpu")).iterations == 1000
    with pytest.raises(UserError, match="epochs must be at least 1"):
        DatasetDistillation.make_config(None, {"epochs": 0})
    with pytest.raises(UserError, match="distill_lr must be a positive number"):
        DatasetDistillation.make_config(None, {"distill_lr": -1.0})
    with pytest.raises(UserError, match="no hyperparameter 'steps'"):
        DatasetDistillation.make_config(None, {"steps": 3})


def test_batchnorm_synthesis_net_runs(digits):
    condensed, details = _condense(digits, synth_net="convnet_bn", iterations=1, real_batch=64)
    assert bool(torch.isfinite(condensed.images).all()) and details["final_loss"] > 0


@pytest.mark.parametrize("overrides", [{"distill_lr": 1e30}, {"lr": 1e30}])
def test_nan_loss_raises_instead_of_returning_a_set(digits, overrides):
    with pytest.raises(NonFiniteLoss, match="distillation loss became nan"):
        _condense(digits, iterations=3, **overrides)


def test_direct_condense_checks_ipc(digits):
    with pytest.raises(UserError, match="--ipc 1000"):
        _condense(digits, ipc=1000, iterations=1)


def test_distilled_digits_trained_with_their_schedule_beat_chance(digits):
    """smoke profile (1,000 outer steps), 1 ipc (T = 3 SGD steps), MLP for synthesis and for the 5
    classification nets, each Xavier-initialised from its own seed and trained with the learned rates.

    About 10–16 s on one thread of 2 shared cores; 1,000 outer steps is the smallest budget that
    works: with the ×0.5 decay every tenth of the run, Adam moves the raw rates by at most about
    0.002 per outer step in all, so shorter runs leave them near their 0.02 start and the nets near
    chance (500 steps: 14–16%; 1,000 steps: 65–70% mean over these 5 nets for seeds 0–3)."""
    config = DatasetDistillation.make_config(get_registry().profile("smoke"))
    dd = DatasetDistillation(config)
    factory = SynthesisFactory(get_registry().component("architecture", "mlp"), digits.train, CPU)
    condensed = dd.condense(digits.train, ipc=1, generator=torch.Generator().manual_seed(0), device=CPU,
                            model_factory=factory)
    schedule = LearnedSchedule.from_extras(condensed.extras)
    arch = get_registry().architecture("mlp")
    accuracies = []
    for i in range(5):
        gen = torch.Generator().manual_seed(100 + i)
        with seeded_init(gen):
            net = arch(in_chans=1, num_classes=10, img_size=8, stage="classification")
        train_with_schedule(net, condensed.images, condensed.labels, schedule, generator=gen)
        accuracies.append(evaluate_accuracy(net, digits.test))
    assert sum(accuracies) / len(accuracies) >= 0.30, accuracies


# --- evaluation under both schedules -------------------------------------------------------------

def test_a_distilled_set_is_evaluated_under_both_schedules(tmp_path):
    """`synth --cls` records the learned-schedule and the standard-protocol results side by side,
    and running it again computes nothing."""
    import sqlite3

    from typer.testing import CliRunner

    from dcbench.cli import app

    results = tmp_path / "results"
    args = ["synth", "-c", "dd", "--synth", "mlp", "--dataset", "digits", "--set", "iterations=20", "--cls", "mlp",
            "--evals", "2", "--results", str(results)]
    ran = CliRunner().invoke(app, args)
    assert ran.exit_code == 0, ran.output
    assert "mlp (learned schedule)" in ran.output
    with sqlite3.connect(results / "results.sqlite") as db:
        rows = db.execute("SELECT schedule, recipe, status FROM evaluations ORDER BY schedule").fetchall()
    assert [r[0] for r in rows] == ["learned", "learned", "standard", "standard"]
    assert all(r[2] == "done" for r in rows)
    assert '"kind": "learned_schedule"' in rows[0][1] and '"kind": "condensed"' in rows[2][1]
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "already computed" in again.output
    with sqlite3.connect(results / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] == 4


def test_the_learned_schedule_is_refused_for_sets_without_one(workspace):
    from dcbench.cells import EvalCell, SynthCell, run_synth

    row = run_synth(workspace, SynthCell(condenser="random", dataset="digits", ipc=1, seed=0,
                                         profile="smoke").bind())
    with pytest.raises(UserError, match="learned schedule exists only"):
        evaluate(workspace, EvalCell(cls_net="mlp", eval_index=0, seed=0, profile="smoke", artifact=row.artifact,
                                     schedule="learned"))
