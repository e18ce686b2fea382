"""Gradient matching: the distance, the three implementations, and the method on digits."""

from __future__ import annotations

import math

import pytest
import torch
from dcbench_gm.condenser import GradientMatching
from dcbench_gm.distance import cosine, layerwise, mse
from dcbench_gm.matching import CompiledLoop, batched_step, loop_step
from dcbench_gm.precision import precision_scope
from dcbench_gm.schedule import paper_schedule
from helpers import evaluate
from torch import nn

from dcbench.cells import EvalCell, SynthCell, SynthesisFactory, eval_seed, run_synth
from dcbench.data import load_dataset
from dcbench.errors import UserError
from dcbench.registry import get_registry

# --- the distance, by hand ---------------------------------------------------------------------


def test_linear_rows_are_compared_one_by_one():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[0.0, 2.0], [2.0, 2.0]])
    # row 0: orthogonal → 1 − 0; row 1: parallel → 1 − 1 (up to the 1e-6 in the denominator)
    assert float(layerwise([a], [b])) == pytest.approx(1.0, abs=1e-5)


def test_conv_kernels_are_flattened_per_output_channel():
    a = torch.zeros(2, 1, 2, 2)
    b = torch.zeros(2, 1, 2, 2)
    a[0, 0, 0, 0], b[0, 0, 0, 0] = 1.0, 3.0  # channel 0: same direction → 0
    a[1, 0, 0, 1], b[1, 0, 1, 0] = 1.0, 1.0  # channel 1: orthogonal → 1
    assert float(layerwise([a], [b])) == pytest.approx(1.0, abs=1e-5)
    # cos of (1, 1, 0, 0) and (1, 0, 0, 0) over the whole kernel of one output channel is 1/√2
    c = torch.zeros(1, 2, 1, 2)
    d = torch.zeros(1, 2, 1, 2)
    c[0, 0, 0, 0] = c[0, 1, 0, 0] = 1.0
    d[0, 0, 0, 0] = 1.0
    assert float(layerwise([c], [d])) == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-5)


def test_three_d_gradients_are_rows_of_channels():
    a = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]])  # (C=2, H=2, W=2)
    b = torch.tensor([[[-1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 1.0]]])
    # channel 0: opposite → 1 − (−1) = 2; channel 1: orthogonal → 1
    assert float(layerwise([a], [b])) == pytest.approx(3.0, abs=1e-5)


def test_one_d_gradients_contribute_exactly_zero():
    bias_a, bias_b = torch.tensor([1.0, -2.0]), torch.tensor([-5.0, 3.0])
    assert float(layerwise([bias_a], [bias_b])) == 0.0
    w = torch.tensor([[1.0, 0.0]])
    assert float(layerwise([w, bias_a], [w, bias_b])) == float(layerwise([w], [w]))


def test_epsilon_keeps_zero_gradients_finite():
    zero = torch.zeros(3, 4)
    assert float(layerwise([zero], [torch.ones(3, 4)])) == pytest.approx(3.0)


def test_mse_and_cos_use_all_gradients_concatenated():
    a = [torch.tensor([[1.0, 2.0]]), torch.tensor([3.0])]
    b = [torch.tensor([[0.0, 2.0]]), torch.tensor([1.0])]
    assert float(mse(a, b)) == pytest.approx(1.0 + 0.0 + 4.0)
    # cos((1,2,3), (0,2,1)) = 7 / (√14·√5)
    assert float(cosine(a, b)) == pytest.approx(1 - 7 / (math.sqrt(14) * math.sqrt(5)), abs=1e-6)


def test_batched_distance_equals_per_class_distances():
    torch.manual_seed(0)
    syn = [torch.randn(3, 4, 2, 3, 3), torch.randn(3, 5, 4), torch.randn(3, 4)]
    real = [torch.randn(3, 4, 2, 3, 3), torch.randn(3, 5, 4), torch.randn(3, 4)]
    for fn in (layerwise, mse, cosine):
        batched = fn(syn, real, lead=1)
        each = torch.stack([fn([g[c] for g in syn], [g[c] for g in real]) for c in range(3)])
        torch.testing.assert_close(batched, each)


# --- the matching step -------------------------------------------------------------------------


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.norm = nn.GroupNorm(4, 4)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.norm(self.conv(x))).flatten(1))


def _problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = _Tiny()
    real = [torch.randn(n, 1, 4, 4, generator=g) for n in (5, 7, 3)]  # unequal class sizes
    syn = torch.randn(3 * 2, 1, 4, 4, generator=g).requires_grad_(True)
    return net, real, syn


@pytest.mark.parametrize("distance", [layerwise, mse, cosine])
def test_loop_and_batched_implementations_agree(distance):
    net, real, syn = _problem()
    loss_loop = loop_step(net, syn, 2, real, distance)
    grad_loop, syn.grad = syn.grad.clone(), None
    loss_batched = batched_step(net, syn, 2, real, distance, class_chunk=2)  # chunks of 2 and 1 classes
    torch.testing.assert_close(loss_batched, loss_loop, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(syn.grad, grad_loop, rtol=1e-4, atol=1e-6)


def test_compiled_loop_agrees_with_the_loop_across_networks_and_class_sizes():
    """Two compilations (a static batch size, then a dynamic one) serve every fresh network of a
    condensation and every class size.

    Up to a minute on the CPU machines with a cold inductor cache, nearly all of it compiling: the
    only way to test what users get from ``implementation=compiled``."""
    compiled = CompiledLoop()  # empties dynamo's caches: what earlier tests compiled does not count
    torch._dynamo.utils.counters.clear()
    for seed in (0, 1):  # the second network runs through the graph traced with the first
        net, real, syn = _problem(seed)
        loss_loop = loop_step(net, syn, 2, real, layerwise)
        grad_loop, syn.grad = syn.grad.clone(), None
        loss_compiled = compiled(net, syn, 2, real, layerwise)
        torch.testing.assert_close(loss_compiled, loss_loop, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(syn.grad, grad_loop, rtol=1e-4, atol=1e-6)
        assert all(p.grad is None for p in net.parameters())
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 2, dict(torch._dynamo.utils.counters["stats"])


def test_gradients_flow_to_the_images_only():
    net, real, syn = _problem()
    before = [p.detach().clone() for p in net.parameters()]
    for step in (loop_step, batched_step):
        syn.grad = None
        step(net, syn, 2, real, layerwise)
        assert syn.grad is not None and float(syn.grad.abs().sum()) > 0
        assert all(p.grad is None for p in net.parameters())
    assert all(torch.equal(a, p) for a, p in zip(before, net.parameters(), strict=True))


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


def test_bf16_matching_stays_close_to_float32_in_every_implementation():
    """bfloat16 autocast changes the loss by well under 3% and keeps the image gradient's direction
    (cosine > 0.99) in all three implementations, and the images and their gradient stay float32.
    About 30 s, nearly all of it compiling ``compiled`` under autocast."""
    net, real, syn = _problem()
    loss32 = loop_step(net, syn, 2, real, layerwise)
    grad32, syn.grad = syn.grad.clone(), None
    with precision_scope("bf16", torch.device("cpu")) as precision:
        for step in (loop_step, batched_step, CompiledLoop()):
            with precision.autocast():
                loss = step(net, syn, 2, real, layerwise, class_chunk=2)
            assert syn.grad.dtype == syn.dtype == torch.float32
            torch.testing.assert_close(loss.float(), loss32, rtol=3e-2, atol=0)
            assert _cosine(syn.grad, grad32) > 0.99, step
            assert not torch.equal(syn.grad, grad32)  # bfloat16 really ran
            syn.grad = None
    assert precision.math.startswith("bfloat16 autocast")


def test_bf16_network_training_sees_every_update():
    """Training the network between matching steps under bf16 lowers its loss as float32 does.

    Autocast caches each weight's bfloat16 copy until its block ends, so one block around many
    optimiser steps would train from stale weights and leave the loss where it started."""
    g = torch.Generator().manual_seed(0)
    images, labels = torch.randn(12, 1, 4, 4, generator=g), torch.arange(3).repeat_interleave(4)
    losses = {}
    for name in ("default", "bf16"):
        net, _, _ = _problem()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        with precision_scope(name, torch.device("cpu")) as precision:
            with precision.autocast(), torch.no_grad():
                before = float(torch.nn.functional.cross_entropy(net(images), labels))
            GradientMatching._train_net(net, optimizer, images, labels, 20, 4, g, precision.autocast)
            with precision.autocast(), torch.no_grad():
                losses[name] = before, float(torch.nn.functional.cross_entropy(net(images), labels))
    for name, (before, after) in losses.items():
        assert after < 0.5 * before, (name, losses)
    assert losses["bf16"][1] == pytest.approx(losses["default"][1], rel=0.2, abs=0.05), losses


def test_precision_scope_sets_tf32_on_cuda_only_and_puts_it_back():
    def switches():
        return torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32

    before = switches()
    with precision_scope("tf32", torch.device("cpu")) as precision:
        assert switches() == before and precision.math == "ieee float32"
    with precision_scope("ieee", torch.device("cuda")) as precision:  # switches only: no GPU needed
        assert switches() == ("highest", False)
        assert precision.math == "ieee convolutions, ieee matmuls"
    torch.set_float32_matmul_precision("medium")  # someone else's choice, kept
    try:
        with pytest.raises(RuntimeError), precision_scope("tf32", torch.device("cuda")) as precision:
            assert switches() == ("high", True) and precision.math == "tf32 convolutions, tf32 matmuls"
            raise RuntimeError  # a failed condensation puts them back too
        assert switches() == ("medium", before[1])
        torch.get_float32_matmul_precision()  # still readable: no mix of torch's two TF32 APIs
    finally:
        torch.set_float32_matmul_precision(before[0])


def test_paper_schedule():
    assert [paper_schedule(i) for i in (1, 10, 20, 30, 40, 50)] == [
        (1, 1), (10, 50), (20, 25), (30, 20), (40, 15), (50, 10)]


# --- the method on digits ----------------------------------------------------------------------

def _synth(workspace, condenser, seed=0, synth_net=None, report=None, **overrides):
    cell = SynthCell(condenser=condenser, dataset="digits", ipc=1, seed=seed, profile="smoke", synth_net=synth_net,
                     overrides=tuple(sorted(overrides.items())))
    return run_synth(workspace, cell.bind(), report=report)


def _mean_accuracy(workspace, artifact: str, nets: int = 5) -> float:
    accs = []
    for i in range(nets):
        cell = EvalCell(cls_net="convnet", eval_index=i, seed=eval_seed(0, artifact, "convnet", i), profile="smoke",
                        artifact=artifact)
        accs.append(evaluate(workspace, cell).accuracy)
    return sum(accs) / len(accs)


def test_gradient_matching_beats_random_on_digits(workspace):
    """smoke profile (K = 20), 1 ipc, noise init, ConvNet-2 as synthesis net, 5 ConvNets each.

    ConvNet-2, not the default depth 3: at 8×8 the third block's instance norm sees 2×2 maps and
    gradient matching through it ends at chance (docs/gradient-matching.md). About 45 s on 2 idle
    cores, over 60 s under load: 20 outer iterations plus 10 evaluation nets is the smallest run
    that shows the method working."""
    gm = _synth(workspace, "gm", synth_net="convnet_d2")
    rnd = _synth(workspace, "random")
    assert gm.status == rnd.status == "done"
    gm_acc, rnd_acc = _mean_accuracy(workspace, gm.artifact), _mean_accuracy(workspace, rnd.artifact)
    assert gm_acc >= rnd_acc + 0.10, (gm_acc, rnd_acc)


def test_same_seed_same_synthetic_set(workspace):
    first = _synth(workspace, "gm", synth_net="mlp", iterations=3)
    again = _synth(workspace, "gm", synth_net="mlp", iterations=3)
    other = _synth(workspace, "gm", seed=1, synth_net="mlp", iterations=3)
    assert first.artifact == again.artifact != other.artifact
    assert first.details["lr_img"] == 0.01  # the paper's rate for MLP synthesis


def test_precision_is_recorded_and_keyed_only_when_set(workspace):
    """``precision`` came after results were stored: at its default a cell keeps its old key."""
    plain = SynthCell(condenser="gm", dataset="digits", ipc=1, seed=0, profile="smoke", synth_net="mlp")
    explicit = SynthCell(condenser="gm", dataset="digits", ipc=1, seed=0, profile="smoke", synth_net="mlp",
                         overrides=(("precision", "default"),))
    assert plain.bind().key == explicit.bind().key
    assert "precision" not in plain.bind().identity["config"]
    row = _synth(workspace, "gm", synth_net="mlp", iterations=2, precision="bf16")
    assert row.status == "done" and row.config["precision"] == "bf16"
    assert row.details["math"].startswith("bfloat16 autocast")
    assert row.key != plain.bind().key


def test_a_stopped_synthesis_resumes_from_its_checkpoint_to_the_same_set(workspace, tmp_path, monkeypatch):
    """A cell killed part way (here: Ctrl-C after outer iteration 3 of 5) goes on from its last
    checkpoint when run again and gives the artifact an uninterrupted run gives, on CPU."""
    import dataclasses

    import dcbench.checkpoint

    monkeypatch.setattr(dcbench.checkpoint, "INTERVAL_S", 0.0)  # save after every outer iteration
    checkpoints = workspace.results / "cache" / "checkpoints"
    seen: list[int] = []

    def stop_after_three(step: int, **_: object) -> None:
        seen.append(step)
        if step == 3:
            raise KeyboardInterrupt  # not an Exception: the cell is not recorded, as when killed

    with pytest.raises(KeyboardInterrupt):
        _synth(workspace, "gm", synth_net="mlp", iterations=5, report=stop_after_three)
    assert [p.suffix for p in checkpoints.iterdir()] == [".pt"]
    seen.clear()
    resumed = _synth(workspace, "gm", synth_net="mlp", iterations=5, report=lambda step, **_: seen.append(step))
    assert seen == [3, 4, 5]  # iteration 3's report came before its checkpoint was written: it runs again
    assert resumed.status == "done" and not list(checkpoints.iterdir())
    fresh = _synth(dataclasses.replace(workspace, results=tmp_path / "fresh"), "gm", synth_net="mlp", iterations=5)
    assert resumed.artifact == fresh.artifact
    assert resumed.wall_s > 0


def test_batchnorm_synthesis_net_runs(workspace):
    row = _synth(workspace, "gm", synth_net="convnet_bn", iterations=2)
    assert row.status == "done"


def test_nan_loss_is_a_recorded_failure_not_an_artifact(workspace):
    row = _synth(workspace, "gm", synth_net="mlp", iterations=5, lr_img=1e30)
    assert row.status == "failed" and "NonFiniteLoss" in row.error
    assert row.artifact is None


def test_bad_inputs_are_user_errors(workspace):
    with pytest.raises(UserError, match="cannot synthesise digits"):
        _synth(workspace, "gm", synth_net="lenet")
    with pytest.raises(UserError, match="--ipc"):
        run_synth(workspace, SynthCell(condenser="gm", dataset="digits", ipc=0, seed=0, profile="smoke",
                                       synth_net="mlp").bind())
    with pytest.raises(UserError, match="synthesises with a network"):
        _synth(workspace, "gm")
    with pytest.raises(UserError, match="distance must be one of"):
        _synth(workspace, "gm", synth_net="mlp", distance="l3")


def test_direct_condense_checks_ipc(tmp_path):
    from dcbench_gm import GradientMatching

    data = load_dataset("digits", root=tmp_path)
    factory = SynthesisFactory(get_registry().component("architecture", "mlp"), data.train, torch.device("cpu"))
    with pytest.raises(UserError, match="--ipc 1000"):
        GradientMatching().condense(data.train, ipc=1000, generator=torch.Generator(), device=torch.device("cpu"),
                                    model_factory=factory)


def test_a_checkpoint_from_another_context_or_broken_is_not_resumed(tmp_path):
    from dcbench.checkpoint import Checkpoint

    path = tmp_path / "cell.pt"
    Checkpoint(path, context={"device": "cpu"}).save({"images": torch.ones(2), "losses": [1.0]})
    state = Checkpoint(path, context={"device": "cpu"}).load()
    assert torch.equal(state["images"], torch.ones(2)) and state["losses"] == [1.0]
    assert Checkpoint(path, context={"device": "cuda"}).load() is None and not path.exists()  # never half CPU, half GPU
    path.write_bytes(b"cut short by a power cut")
    assert Checkpoint(path).load() is None and not path.exists()
    assert not list(tmp_path.glob(".*.part"))
