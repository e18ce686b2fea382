"""Distribution matching (``distribution_matching``, alias ``dm``) and the embedding in the
architecture contract it synthesises with: the condenser passes the conformance checks, is
reproducible and resumable, computes the paper's loss, handles BatchNorm networks as the authors'
code does and beats random on digits; every built-in network yields differentiable (N, D)
embeddings; a network that declares none is refused, with the reason, before anything runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml
from dcbench_dm import DistributionMatching
from torch import nn

from dcbench import Bench, UserError, embedding, penultimate_features, seeded_init
from dcbench.cells import SynthCell, SynthesisFactory, run_synth
from dcbench.condenser import contract_problems
from dcbench.data import load_dataset
from dcbench.grid.plan import GridRequest, expand
from dcbench.registry import get_registry
from dcbench.testing import check_architecture, check_condenser, conformance

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


def _mean(records) -> float:
    return sum(r.accuracy for r in records) / len(records)


# --- the condenser ---------------------------------------------------------------------------

def test_distribution_matching_passes_the_conformance_checks() -> None:
    for name in ("distribution_matching", "dm"):
        failed = [r for r in conformance("condenser", name) if not r.passed]
        assert not failed, failed
    # with a BatchNorm synthesis net, both ways of treating it
    for batchnorm in ("batch", "frozen"):
        check_condenser(DistributionMatching, synth_net="convnet_bn",
                        overrides={"iterations": 2, "batchnorm": batchnorm})


def test_the_defaults_are_the_authors_and_the_budget_scales_with_the_profile() -> None:
    cfg = DistributionMatching.Config()
    assert (cfg.iterations, cfg.lr_img, cfg.img_momentum, cfg.real_batch, cfg.init, cfg.dsa_strategy, cfg.batchnorm) \
        == (20_000, 1.0, 0.5, 256, "real", "color_crop_cutout_flip_scale_rotate", "batch")  # main_DM.py
    spec = DistributionMatching.spec
    assert spec.recipe == "dsa" and spec.needs_embedding and spec.needs_network and spec.resumable
    reg = get_registry()
    budgets = {p: DistributionMatching.make_config(reg.profile(p)).iterations for p in ("paper", "cpu", "smoke")}
    assert budgets == {"paper": 20_000, "cpu": 100, "smoke": 10}
    assert reg.condenser("dm") is DistributionMatching
    with pytest.raises(UserError, match="dsa_strategy"):
        DistributionMatching.make_config(reg.profile("smoke"), {"dsa_strategy": "colour"})
    assert DistributionMatching.make_config(reg.profile("smoke"), {"dsa_strategy": "none"}).dsa_strategy == "none"
    with pytest.raises(UserError, match="batchnorm must be one of"):
        DistributionMatching.make_config(reg.profile("smoke"), {"batchnorm": "running"})
    assert any("needs_embedding" in p for p in contract_problems(type(
        "Odd", (DistributionMatching,), {"spec": dataclasses.replace(spec, needs_embedding="yes")})))


def test_same_seed_same_set(tmp_path: Path) -> None:
    bench = Bench(tmp_path / "results", tmp_path / "data", device="cpu")
    sets = [bench.synthesize("dm", ipc=2, synth="convnet_d2", seed=seed, overrides={"iterations": 3}, rerun=True)
            for seed in (0, 0, 1)]
    assert all(s.done for s in sets)
    images = [bench.artifact(s.artifact).condensed.images for s in sets]
    assert torch.equal(images[0], images[1]) and not torch.equal(images[0], images[2])
    assert sets[0].details["iterations_run"] == 3 and sets[0].details["embed_dim"] == 128 * 2 * 2


class _Recording:
    """A synthesis factory that keeps the networks it builds and the generator's state after each."""

    def __init__(self, inner: SynthesisFactory) -> None:
        self.inner, self.name, self.spec = inner, inner.name, inner.spec
        self.nets: list[nn.Module] = []
        self.states: list[torch.Tensor] = []

    def __call__(self, generator: torch.Generator) -> nn.Module:
        net = self.inner(generator)
        self.nets.append(net)
        self.states.append(generator.get_state())
        return net


def test_the_loss_is_the_squared_distance_between_class_mean_embeddings(tmp_path: Path) -> None:
    """One iteration without augmentation, recomputed by hand from the same draws: real images of
    class c drawn after the network, the synthetic images (real init) of class c, the mean
    embeddings' squared L2 distance summed over classes; the reported loss is per class."""
    train = load_dataset("digits", root=tmp_path).train
    factory = _Recording(SynthesisFactory(get_registry().component("architecture", "convnet_d2"), train, CPU))
    losses: list[float] = []
    dm = DistributionMatching(DistributionMatching.Config(iterations=1, dsa_strategy="none", real_batch=50))
    out = dm.condense(train, ipc=2, generator=torch.Generator().manual_seed(3), device=CPU, model_factory=factory,
                      report=lambda step, **m: losses.append(m["loss"]))
    classes = train.spec.classes
    pools = [train.class_indices(c) for c in range(classes)]
    init = torch.Generator().manual_seed(3)
    syn = torch.cat([train.images[p[torch.randperm(len(p), generator=init)[:2]]] for p in pools])
    after = torch.Generator()
    after.set_state(factory.states[0])
    net = factory.nets[0]
    with torch.no_grad():
        loss = sum(((embedding(net, train.images[p[torch.randperm(len(p), generator=after)[:50]]]).mean(0)
                     - embedding(net, syn[2 * c:2 * c + 2]).mean(0)) ** 2).sum() for c, p in enumerate(pools))
    assert losses == [pytest.approx(float(loss) / classes, rel=1e-5)]
    assert not torch.equal(out.images, syn)  # one SGD step moved the images


def test_batchnorm_networks_see_all_classes_in_one_batch_with_batch_statistics(tmp_path: Path) -> None:
    """main_DM.py's 'BN' branch: per iteration one forward pass of every class's real images and one
    of every synthetic image, with BatchNorm in training mode; ``batchnorm=frozen`` keeps it in eval and,
    since nothing then mixes images, goes class by class as main_DM.py does for other networks."""
    train = load_dataset("digits", root=tmp_path).train
    seen: list[tuple[int, bool]] = []

    class Watching(_Recording):
        def __call__(self, generator):
            net = super().__call__(generator)
            bn = next(m for m in net.modules() if isinstance(m, nn.BatchNorm2d))
            bn.register_forward_pre_hook(lambda m, args: seen.append((args[0].shape[0], m.training)))
            return net

    for mode, training in (("batch", True), ("frozen", False)):
        seen.clear()
        factory = Watching(SynthesisFactory(get_registry().component("architecture", "convnet_bn"), train, CPU))
        dm = DistributionMatching(DistributionMatching.Config(iterations=2, real_batch=40, batchnorm=mode))
        dm.condense(train, ipc=3, generator=torch.Generator().manual_seed(0), device=CPU, model_factory=factory)
        classes = train.spec.classes
        per_iteration = ([(40 * classes, True), (3 * classes, True)] if training else  # frozen: class by class
                         [(40, False)] * classes + [(3, False)] * classes)
        assert seen == per_iteration * 2, mode
        assert dm.details["batchnorm"].startswith("batch statistics" if training else "real statistics")


def test_dm_beats_random_on_digits(tmp_path: Path) -> None:
    """smoke profile (10 iterations), 1 ipc, real init, DSA, ConvNet-2 synthesis (at 8×8 the default
    depth 3 ends in instance norm of 2×2 maps, as for gradient matching); both sets trained by 5
    ConvNets under DM's recipe (dsa; smoke: 50 epochs with DSA augmentation), random's asked for so
    that the two differ only in their images. About 5 s on 2 cores; seeds 0-2 gave 73-77% against
    49-57%."""
    bench = Bench(tmp_path / "results", tmp_path / "data", device="cpu")
    dm = bench.synthesize("dm", ipc=1, synth="convnet_d2")
    rnd = bench.synthesize("random", ipc=1)
    assert dm.done and rnd.done and dm.details["iterations_run"] == 10
    mine = bench.evaluate(dm.artifact, cls="convnet", evals=5)
    theirs = bench.evaluate(rnd.artifact, cls="convnet", evals=5, recipe="dsa")
    assert all(e.recipe["name"] == "dsa" for e in mine + theirs)
    assert _mean(mine) >= _mean(theirs) + 0.05, (_mean(mine), _mean(theirs))


def _synth(workspace, report=None, **overrides):
    cell = SynthCell(condenser="dm", dataset="digits", ipc=1, seed=0, profile="smoke", synth_net="mlp",
                     overrides=tuple(sorted(overrides.items())))
    return run_synth(workspace, cell.bind(), report=report)


def test_a_stopped_synthesis_resumes_from_its_checkpoint_to_the_same_set(workspace, tmp_path, monkeypatch):
    import dcbench.checkpoint

    monkeypatch.setattr(dcbench.checkpoint, "INTERVAL_S", 0.0)  # save after every iteration
    seen: list[int] = []

    def stop_after_three(step: int, **_: object) -> None:
        seen.append(step)
        if step == 3:
            raise KeyboardInterrupt  # as when killed: the cell is not recorded

    with pytest.raises(KeyboardInterrupt):
        _synth(workspace, report=stop_after_three, iterations=6)
    seen.clear()
    resumed = _synth(workspace, report=lambda step, **_: seen.append(step), iterations=6)
    assert seen == [3, 4, 5, 6] and resumed.status == "done"
    fresh = _synth(dataclasses.replace(workspace, results=tmp_path / "fresh"), iterations=6)
    assert resumed.artifact == fresh.artifact


def test_a_diverging_loss_is_a_recorded_failure(workspace) -> None:
    row = _synth(workspace, iterations=4, lr_img=1e30)
    assert row.status == "failed" and "NonFiniteLoss" in row.error and row.artifact is None


# --- networks without an embedding -----------------------------------------------------------

PLAIN = '''
from torch import nn

from dcbench import Architecture, ArchSpec


def _build(*, in_chans, num_classes, img_size):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_chans * img_size * img_size, num_classes))


plain = Architecture(_build, ArchSpec(family="plain", version=1, description="one linear layer, no embedding declared"))
'''


@pytest.fixture
def plain_net(tmp_path, monkeypatch) -> str:
    """A registry with ``plain``, a network whose spec does not declare an embedding."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "dm_plain.py").write_text(PLAIN)
    monkeypatch.syspath_prepend(str(site))
    config = yaml.safe_load((REPO / "registry.yaml").read_text())
    config["architectures"]["plain"] = "dm_plain:plain"
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("DCBENCH_REGISTRY", str(path))
    get_registry.cache_clear()
    return "plain"


def test_a_network_without_an_embedding_is_refused_before_anything_runs(tmp_path, plain_net) -> None:
    bench = Bench(tmp_path / "results", tmp_path / "data", device="cpu")
    with pytest.raises(UserError, match="matches embeddings, and plain provides none"):
        bench.synthesize("dm", synth=plain_net)
    assert not (tmp_path / "results" / "results.sqlite").exists()

    plan = expand(GridRequest(condensers="dm,gm", synth="plain,mlp", cls="mlp"), data_root=tmp_path / "data")
    cells = sorted((b.condenser.name, b.synth_net.name) for b in plan.synths)  # gm may use it
    assert cells == [("distribution_matching", "mlp"), ("gradient_matching", "mlp"), ("gradient_matching", "plain")]
    skip = next(s for s in plan.skipped if "plain" in s.what)
    assert skip.what == "synthesis net plain for distribution_matching" and "no embedding" in skip.reason
    with pytest.raises(UserError, match="nothing to run"):
        expand(GridRequest(condensers="dm", synth="plain", cls="mlp"), data_root=tmp_path / "data")


# --- the embedding in the architecture contract ----------------------------------------------

def _builtin_networks() -> list[str]:
    return list(yaml.safe_load((REPO / "registry.yaml").read_text())["architectures"])


def _shape(spec) -> tuple[int, int]:
    return next((c, s) for c in (1, 3) for s in (28, 32) if spec.refusal(in_chans=c, img_size=s) is None)


@pytest.mark.parametrize("name", _builtin_networks())
def test_every_builtin_network_yields_differentiable_embeddings(name: str) -> None:
    """(N, D) features, D the classifier's input width, the network's own ``embed`` in both stage
    variants; gradients reach the images; ``penultimate_features`` is the same lookup."""
    arch = get_registry().architecture(name)
    assert arch.spec.embedding, name
    in_chans, size = _shape(arch.spec)
    for stage in ("synthesis", "classification"):
        with seeded_init(torch.Generator().manual_seed(0)):
            net = arch(in_chans=in_chans, num_classes=5, img_size=size, stage=stage)
        net.train()
        images = torch.randn(3, in_chans, size, size, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
        features = embedding(net, images)
        assert features.shape == (3, net.classifier.in_features), (name, stage)
        torch.testing.assert_close(features, net.embed(images).flatten(1))
        features.square().sum().backward()
        assert images.grad is not None and images.grad.abs().sum() > 0, (name, stage)
        torch.testing.assert_close(penultimate_features(net, images.detach()), embedding(net.eval(), images.detach()))
    check_architecture(arch)  # the conformance check of the declared embedding, every shape and stage


def test_timm_backbones_declare_the_input_of_their_classifier() -> None:
    net_arch = get_registry().architecture("timm:regnetx_002")
    assert net_arch.spec.embedding
    net = net_arch(in_chans=1, num_classes=10, img_size=28, stage="synthesis")
    images = torch.randn(2, 1, 28, 28).requires_grad_(True)
    features = embedding(net, images)
    assert features.shape == (2, net.get_classifier().in_features)
    features.sum().backward()
    assert images.grad.abs().sum() > 0
    check_architecture(net_arch, shapes=[(1, 28)], num_classes=10)


class _Detached(nn.Module):
    """Logits from features cut off from the input: an embedding no gradient flows through."""

    def __init__(self, *, in_chans: int, num_classes: int, img_size: int) -> None:
        super().__init__()
        self.body = nn.Conv2d(in_chans, 4, 3, padding=1)
        self.head = nn.Linear(4 * img_size * img_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x).flatten(1)
        return self.head(h.detach()) + 0 * h.sum()


def test_the_architecture_check_holds_a_declared_embedding_to_its_word() -> None:
    from dcbench import Architecture, ArchSpec

    plain = Architecture(_Detached, ArchSpec(family="detached", sizes=(8,)))
    check_architecture(plain)  # nothing declared, nothing checked
    with pytest.raises(AssertionError, match="embedding is cut off from the images"):
        check_architecture(Architecture(_Detached, ArchSpec(family="detached", sizes=(8,), embedding=True)))
