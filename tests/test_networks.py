"""The built-in networks (plugins/dcbench_nets) against the shapes of docs/settings.md and dcbench's contract."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import dcbench
from dcbench import STAGES, batchnorm_to_instancenorm, estimate_bn_statistics, has_batchnorm
from dcbench.registry import get_registry

REGISTRY = get_registry()
# The built-in networks only: a third-party plugin installed here (the toy one) adds its own.
NAMES = [e.name for e in REGISTRY.architectures.entries() if e.origin.builtin]
SHAPES = [(1, 8), (1, 28), (3, 32)]
BASE_NETWORKS = {"mlp", "convnet", "lenet", "alexnet", "alexcifarnet", "vgg11", "resnet18"}


def arch(name: str) -> dcbench.Architecture:
    return REGISTRY.architectures.get(name)


def build(name: str, *, in_chans: int = 3, img_size: int = 32, stage: str = "classification",
          num_classes: int = 10) -> nn.Module:
    torch.manual_seed(0)
    return arch(name)(in_chans=in_chans, num_classes=num_classes, img_size=img_size, stage=stage)


def images(n: int, in_chans: int, img_size: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, in_chans, img_size, img_size, generator=torch.Generator().manual_seed(seed))


def assert_rows_differ(out: torch.Tensor) -> None:
    """A net that maps different inputs to the same output (e.g. norm over a 1x1 map) is broken."""
    distances = torch.cdist(out.detach().double(), out.detach().double())
    off_diagonal = distances[~torch.eye(len(out), dtype=torch.bool)]
    assert off_diagonal.min() > 1e-6, distances


def test_every_registry_name_is_exported():
    assert set(NAMES) == BASE_NETWORKS | {
        "convnet_d1", "convnet_d2", "convnet_d4", "convnet_w32", "convnet_w64", "convnet_w256", "convnet_sigmoid",
        "convnet_leakyrelu", "convnet_nn", "convnet_bn", "convnet_ln", "convnet_gn", "convnet_np", "convnet_mp",
        "alexnet_bn", "vgg11_bn", "resnet18_bn"}
    for name in NAMES:
        spec = arch(name).spec
        assert spec.version == 1 and spec.description
        # `all` selectors leave variants out, so only the seven paper networks may lack variant_of.
        assert (spec.variant_of is None) == (name in BASE_NETWORKS), name


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_or_refusal(name, stage, shape):
    in_chans, img_size = shape
    refusal = arch(name).spec.refusal(in_chans=in_chans, img_size=img_size)
    if refusal is not None:
        assert refusal.strip()
        return
    model = build(name, in_chans=in_chans, img_size=img_size, stage=stage)
    x = images(4, in_chans, img_size)

    model.train()
    out = model(x)
    assert out.shape == (4, 10)
    assert_rows_differ(out)
    F.cross_entropy(out, torch.arange(4)).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())

    model.eval()
    with torch.no_grad():
        out = model(x)
    assert out.shape == (4, 10)
    assert_rows_differ(out)


ACCEPTS_8PX = {"convnet", "convnet_d1", "convnet_d2", "convnet_np", "mlp"}
REFUSES_8PX = {"lenet", "alexnet", "alexcifarnet", "vgg11", "resnet18", "convnet_d4"}


def test_acceptance_matrix():
    for name in NAMES:
        spec = arch(name).spec
        assert spec.refusal(in_chans=1, img_size=28) is None, name
        assert spec.refusal(in_chans=3, img_size=32) is None, name
    for name in ACCEPTS_8PX:
        assert arch(name).spec.refusal(in_chans=1, img_size=8) is None, name
    for name in REFUSES_8PX:
        assert arch(name).spec.refusal(in_chans=1, img_size=8), name
    assert arch("convnet_d4").spec.refusal(in_chans=3, img_size=16) is None
    assert arch("convnet").spec.refusal(in_chans=2, img_size=32)


@pytest.mark.parametrize(("name", "bn_stages"), [
    ("convnet", ()),
    ("vgg11", ("synthesis",)),
    ("resnet18", ("synthesis",)),
    ("convnet_bn", STAGES),
    ("alexnet_bn", STAGES),
    ("vgg11_bn", STAGES),
    ("resnet18_bn", STAGES),
])
def test_batchnorm_per_stage(name, bn_stages):
    assert tuple(arch(name).spec.batchnorm) == tuple(bn_stages)
    for stage in STAGES:
        assert has_batchnorm(build(name, stage=stage)) == (stage in bn_stages), stage


def test_vgg11_and_resnet18_classify_with_instance_norm():
    for name in ("vgg11", "resnet18"):
        model = build(name, stage="classification")
        assert any(isinstance(m, dcbench.InstanceNorm) for m in model.modules())


def _strides(model: nn.Module) -> set[tuple[int, ...]]:
    return {tuple(m.stride) for m in model.modules() if isinstance(m, nn.Conv2d)}


def test_resnet18_synthesis_downsamples_by_average_pooling():
    synthesis = build("resnet18", stage="synthesis")
    assert _strides(synthesis) == {(1, 1)}
    assert sum(isinstance(m, nn.AvgPool2d) for m in synthesis.modules()) == 6  # 3 stages x (main path, shortcut)
    assert (2, 2) in _strides(build("resnet18", stage="classification"))
    assert (2, 2) in _strides(build("resnet18_bn", stage="synthesis"))


def test_batchnorm_to_instancenorm_on_foreign_and_own_nets():
    torch.manual_seed(0)
    foreign = torchvision.models.resnet18(num_classes=10)
    own = build("vgg11_bn")
    # torchvision's resnet18 needs 64px so its last stage still has a 2x2 map for instance norm.
    for model, x in ((foreign, images(3, 3, 64)), (own, images(3, 3, 32))):
        assert has_batchnorm(model)
        batchnorm_to_instancenorm(model)
        assert not has_batchnorm(model)
        assert any(isinstance(m, dcbench.InstanceNorm) for m in model.modules())
        for training in (True, False):
            model.train(training)
            with torch.no_grad():
                out = model(x)
            assert out.shape == (3, 10)
            assert_rows_differ(out)


def _bn_fixture(n: int) -> tuple[nn.Module, torch.Tensor]:
    model = build("convnet_bn", in_chans=1, img_size=8)
    # Batches drawn from different distributions make equal weighting of batch statistics visible.
    x = images(n, 1, 8) * torch.linspace(0.5, 3.0, n).view(n, 1, 1, 1) + torch.linspace(-1, 1, n).view(n, 1, 1, 1)
    return model, x


def _first_bn_and_conv_outputs(model: nn.Module, x: torch.Tensor) -> tuple[nn.BatchNorm2d, torch.Tensor]:
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    with torch.no_grad():
        return bn, conv(x)


def test_estimate_bn_statistics_averages_over_all_images_and_freezes():
    model, x = _bn_fixture(12)
    model.train()
    estimate_bn_statistics(model, x, batch_size=4)
    bn, conv_out = _first_bn_and_conv_outputs(model, x)
    torch.testing.assert_close(bn.running_mean, conv_out.mean(dim=(0, 2, 3)), atol=1e-4, rtol=0)

    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert model.training  # only the BatchNorm layers are frozen
    before = [(m.running_mean.clone(), m.running_var.clone()) for m in bns]
    with torch.no_grad():
        model(x[:5])
        model.eval()
        model(x[5:])
    for m, (mean, var) in zip(bns, before, strict=True):
        assert torch.equal(m.running_mean, mean) and torch.equal(m.running_var, var)


def test_estimate_bn_statistics_mean_with_uneven_last_batch():
    model, x = _bn_fixture(10)
    estimate_bn_statistics(model, x, batch_size=4)
    bn, conv_out = _first_bn_and_conv_outputs(model, x)
    torch.testing.assert_close(bn.running_mean, conv_out.mean(dim=(0, 2, 3)), atol=1e-4, rtol=0)


def test_estimate_bn_statistics_variance_over_all_images():
    model, x = _bn_fixture(12)
    estimate_bn_statistics(model, x, batch_size=4)
    bn, conv_out = _first_bn_and_conv_outputs(model, x)
    torch.testing.assert_close(bn.running_var, conv_out.var(dim=(0, 2, 3)), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize(("name", "in_chans", "img_size", "embed_dim"), [
    ("mlp", 1, 8, 128),
    ("convnet", 1, 28, 2048),
    ("lenet", 3, 32, 84),
    ("alexcifarnet", 3, 32, 192),
    ("resnet18", 1, 28, 512),
])
def test_embed_feeds_classifier(name, in_chans, img_size, embed_dim):
    model = build(name, in_chans=in_chans, img_size=img_size).eval()
    x = images(5, in_chans, img_size)
    with torch.no_grad():
        features = model.embed(x)
        logits = model(x)
    assert features.shape == (5, embed_dim) == (5, model.embed_dim)
    assert model.classifier.in_features == embed_dim
    torch.testing.assert_close(logits, model.classifier(features))


def test_flatten_sizes_match_protocol():
    assert build("convnet", in_chans=1, img_size=28).classifier.in_features == 128 * 4 * 4
    assert build("convnet", in_chans=3, img_size=32).classifier.in_features == 128 * 4 * 4
    assert build("convnet", in_chans=1, img_size=8).classifier.in_features == 128
    for size in (28, 32):
        assert build("lenet", in_chans=1, img_size=size).fc[0].in_features == 400
    assert build("alexnet", in_chans=1, img_size=28).classifier.in_features == 192 * 4 * 4
    assert build("alexnet", in_chans=3, img_size=32).classifier.in_features == 192 * 4 * 4
    assert build("alexcifarnet", in_chans=3, img_size=32).fc[0].in_features == 4096
    assert build("vgg11", in_chans=1, img_size=28).classifier.in_features == 512
    assert build("vgg11", in_chans=3, img_size=28).classifier.in_features == 512


def _count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def test_convnet_variants_turn_their_knob():
    default = build("convnet", in_chans=1, img_size=16)
    assert _count(default, nn.Conv2d) == 3 and _count(default, nn.AvgPool2d) == 3
    assert _count(default, dcbench.InstanceNorm) == 3 and _count(default, nn.ReLU) == 3
    assert all(m.out_channels == 128 for m in default.modules() if isinstance(m, nn.Conv2d))
    for name, depth in (("convnet_d1", 1), ("convnet_d2", 2), ("convnet_d4", 4)):
        assert _count(build(name, in_chans=1, img_size=16), nn.Conv2d) == depth
    for name, width in (("convnet_w32", 32), ("convnet_w64", 64), ("convnet_w256", 256)):
        assert build(name, in_chans=1, img_size=16).classifier.in_features == width * 2 * 2
    assert _count(build("convnet_sigmoid", in_chans=1, img_size=16), nn.Sigmoid) == 3
    leaky = [m for m in build("convnet_leakyrelu", in_chans=1, img_size=16).modules() if isinstance(m, nn.LeakyReLU)]
    assert len(leaky) == 3 and all(m.negative_slope == 0.01 for m in leaky)
    no_norm = build("convnet_nn", in_chans=1, img_size=16)
    assert not any(isinstance(m, (nn.GroupNorm, nn.LayerNorm, nn.BatchNorm2d)) for m in no_norm.modules())
    layer = [m for m in build("convnet_ln", in_chans=1, img_size=16).modules() if isinstance(m, nn.LayerNorm)]
    assert [tuple(m.normalized_shape) for m in layer] == [(128, 16, 16), (128, 8, 8), (128, 4, 4)]
    group = [m for m in build("convnet_gn", in_chans=1, img_size=16).modules() if isinstance(m, nn.GroupNorm)]
    assert len(group) == 3 and all(m.num_groups == 4 and m.affine for m in group)
    no_pool = build("convnet_np", in_chans=1, img_size=8)
    assert _count(no_pool, nn.AvgPool2d) + _count(no_pool, nn.MaxPool2d) == 0
    assert no_pool.classifier.in_features == 128 * 8 * 8
    assert _count(build("convnet_mp", in_chans=1, img_size=16), nn.MaxPool2d) == 3


def test_construction_is_a_function_of_the_seed():
    x = images(2, 1, 8)
    a, b = build("convnet", in_chans=1, img_size=8).eval(), build("convnet", in_chans=1, img_size=8).eval()
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="norm"):
        arch("convnet")(in_chans=3, num_classes=10, img_size=32, norm="weird")
    with pytest.raises(ValueError, match="downsampling"):
        arch("resnet18")(in_chans=3, num_classes=10, img_size=32, downsample="dilate")
    with pytest.raises(TypeError):
        arch("lenet")(in_chans=3, num_classes=10, img_size=32, width=3)
    with pytest.raises(ValueError, match="nothing"):
        arch("convnet_d4")(in_chans=1, num_classes=10, img_size=8)


def test_registered_names_do_not_shadow_modules():
    import dcbench_nets
    from dcbench_nets.models import convnet as convnet_module

    assert isinstance(dcbench_nets.convnet, dcbench.Architecture)
    assert isinstance(build("convnet", in_chans=1, img_size=8), convnet_module.ConvNet)
