"""timm backbones through the ``timm:`` name space: names, stage variants, small-image refusals and
adjustments, and gradient matching with a timm synthesis net in a grid."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import torch
import yaml
from dcbench_timm import create, fit
from timm.layers import BatchNormAct2d
from torch import nn
from typer.testing import CliRunner

from dcbench import InstanceNorm, batchnorm_to_instancenorm, has_batchnorm, testing
from dcbench.cells import SynthCell
from dcbench.cli import app
from dcbench.errors import RegistryError, UserError
from dcbench.registry import get_registry

REGISTRY_YAML = Path(__file__).resolve().parents[1] / "registry.yaml"
TIMM_SMALL = yaml.safe_load(REGISTRY_YAML.read_text())["suites"]["timm-small"]
SHAPES = [(1, 28), (3, 32)]  # MNIST's and CIFAR's


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "400"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def activations(net: nn.Module) -> list[str]:
    return [type(m).__name__ for m in net.modules()
            if type(m).__module__ in ("torch.nn.modules.activation", "timm.layers.activations")]


def logits_of_two_inputs(net: nn.Module, in_chans: int, size: int) -> torch.Tensor:
    images = torch.randn(2, in_chans, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return net.eval()(images)


# ---------------------------------------------------------------------------------------------
# The timm-small suite


def test_the_suite_resolves_through_the_name_space():
    reg = get_registry()
    assert reg.select("architecture", "@timm-small") == TIMM_SMALL
    assert len(TIMM_SMALL) >= 3 and all(name.startswith("timm:") for name in TIMM_SMALL)
    for name in TIMM_SMALL:
        assert reg.architecture_origin(name).builtin


@pytest.mark.parametrize("name", TIMM_SMALL)
def test_each_member_builds_for_mnist_and_cifar_shapes_in_both_stages(name):
    """Output (N, classes), logits that depend on the input in both stage variants, finite gradients,
    and no BatchNorm left in the classification variant (dcbench.testing)."""
    arch = get_registry().architecture(name)
    for in_chans, size in SHAPES:
        assert arch.spec.refusal(in_chans=in_chans, img_size=size) is None, name
    testing.check_architecture(arch, shapes=SHAPES, num_classes=10)


def test_classification_variants_keep_every_activation():
    """The BatchNorm → instance-norm swap removes no activation: timm's fused BatchNormAct2d becomes
    instance norm followed by the same activation."""
    reg = get_registry()
    fused = 0
    for name in TIMM_SMALL:
        arch = reg.architecture(name)
        synthesis = arch(in_chans=3, num_classes=10, img_size=32, stage="synthesis")
        classification = arch(in_chans=3, num_classes=10, img_size=32, stage="classification")
        assert not has_batchnorm(classification), name
        assert activations(classification) == activations(synthesis), name
        swapped = dict(classification.named_modules())
        for path, module in synthesis.named_modules():
            if isinstance(module, BatchNormAct2d):
                fused += 1
                replacement = swapped[path]
                assert isinstance(replacement, nn.Sequential) and isinstance(replacement[0], InstanceNorm), path
                assert type(replacement[-1]) is type(module.act), f"{name} {path} lost its {module.act}"
                x = torch.randn(2, module.num_features, 3, 3)
                assert torch.equal(replacement(x), module.act(replacement[0](x)))
    assert fused > 0, "no member has fused norm-activation layers: the activation check checked nothing"


def test_dilation_is_what_makes_resnet18_see_its_input_at_32px():
    """Evidence for the adjustment: plain resnet18 with instance norm gives the same logits for every
    32 px input (its last map is 1×1); at output stride 16, as the name space builds it, they differ."""
    assert fit("resnet18", 3, 32).kwargs == {"output_stride": 16}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        plain = batchnorm_to_instancenorm(create("resnet18", in_chans=3, num_classes=10, img_size=32))
    logits = logits_of_two_inputs(plain, 3, 32)
    assert torch.allclose(logits[0], logits[1], rtol=1e-3, atol=1e-5)

    adjusted = get_registry().architecture("timm:resnet18")(in_chans=3, num_classes=10, img_size=32)
    logits = logits_of_two_inputs(adjusted, 3, 32)
    assert not torch.allclose(logits[0], logits[1], rtol=1e-2, atol=1e-3)


def test_models_that_cannot_work_at_small_sizes_are_refused_with_the_reason():
    reg = get_registry()
    mobilenet = reg.architecture("timm:mobilenetv3_small_100")
    for in_chans, size in SHAPES:
        reason = mobilenet.spec.refusal(in_chans=in_chans, img_size=size)
        assert "same output for every input" in reason and "576×1×1" in reason, reason
        assert "takes no output_stride" in reason, reason
    reason = reg.architecture("timm:vgg11").spec.refusal(in_chans=1, img_size=28)
    assert reason.startswith("it cannot take 1×28×28 input (RuntimeError"), reason
    assert reg.architecture("timm:resnet18").spec.refusal(in_chans=1, img_size=8)  # digits' native size
    with pytest.raises(UserError, match="timm:mobilenetv3_small_100 cannot take 1×28×28 images"):
        mobilenet(in_chans=1, num_classes=10, img_size=28)
    with pytest.raises(UserError, match="timm:mobilenetv3_small_100 cannot synthesise generated"):
        SynthCell(condenser="gm", dataset="generated", ipc=1, seed=0, profile="smoke",
                  synth_net="timm:mobilenetv3_small_100").bind()


def test_vision_transformers_are_built_for_the_image_size():
    net = get_registry().architecture("timm:vit_tiny_patch16_224")(in_chans=3, num_classes=10, img_size=32)
    assert net.pos_embed.shape[1] == 1 + (32 // 16) ** 2  # class token + 2×2 patches
    assert logits_of_two_inputs(net, 3, 32).shape == (2, 10)


# ---------------------------------------------------------------------------------------------
# Names


def test_timm_names_list_glob_and_suggest():
    reg = get_registry()
    chosen = reg.select("architecture", "timm:*res*")
    assert "timm:resnet18" in chosen and all(name.startswith("timm:") for name in chosen)
    assert not any(name.startswith("timm:") for name in reg.select("architecture", "all"))
    with pytest.raises(RegistryError, match="unknown architecture 'timm:resnet181': did you mean timm:resnet18"):
        reg.architecture("timm:resnet181")

    result = invoke("list", "architectures", "timm:resnet1*")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "timm:resnet18 " in line]
    assert rows and "built-in" in rows[0] and "instance norm" in rows[0]


# ---------------------------------------------------------------------------------------------
# Gradient matching with a timm synthesis net


def test_gradient_matching_with_a_timm_synthesis_net_in_a_grid(tmp_path):
    results = tmp_path / "results"
    result = invoke("grid", "-c", "gm", "--synth", "timm:regnetx_002,timm:mobilenetv3_small_100", "--cls", "mlp",
                    "--dataset", "generated", "--set", "iterations=1", "--set", "real_batch=8",
                    "--set", "bn_images_per_class=8", "--evals", "1", "--runner", "local", "--device", "cpu",
                    "--results", str(results))
    assert result.exit_code == 0, result.output
    assert "timm:mobilenetv3_small_100" in result.stderr and "same output for every input" in result.stderr
    with sqlite3.connect(results / "results.sqlite") as db:
        synths = db.execute("SELECT synth_net, status, error FROM condensations").fetchall()
        evals = db.execute("SELECT cls_net, status, synth_net FROM evaluations").fetchall()
    assert synths == [("timm:regnetx_002", "done", None)]
    assert evals == [("mlp", "done", "timm:regnetx_002")]
