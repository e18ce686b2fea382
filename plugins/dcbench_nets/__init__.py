"""The paper's networks (ConvNet family, MLP, LeNet, AlexNet, AlexCifarNet, VGG11, ResNet18).

Each name is a :class:`dcbench.Architecture`. A name stands for both stage variants
(docs/settings.md, "Stage variants"): ``vgg11`` and ``resnet18`` synthesise with BatchNorm (ResNet18
with average-pooling downsampling) and classify with instance norm; the ``_bn`` variants keep
BatchNorm in both stages for the normalisation ablation. Every network exposes ``embed(x)``
(penultimate features) and ``classifier``, and declares its embedding (``ArchSpec.embedding``):
``dcbench.embedding`` gives the same features as ``embed``.
"""

from __future__ import annotations

from dcbench import STAGES, Architecture, ArchSpec
from dcbench_nets.base import EmbeddingClassifier
from dcbench_nets.models import alexcifarnet as _alexcifarnet
from dcbench_nets.models import alexnet as _alexnet
from dcbench_nets.models import convnet as _convnet
from dcbench_nets.models import lenet as _lenet
from dcbench_nets.models import mlp as _mlp
from dcbench_nets.models import resnet as _resnet
from dcbench_nets.models import vgg as _vgg
from dcbench_nets.norms import make_norm

# The _bn variants and convnet_bn keep BatchNorm whichever stage builds them.
_BN_BOTH = tuple(STAGES)

mlp = Architecture(_mlp.mlp, ArchSpec(
    family="mlp", version=1, embedding=True, sizes=None, min_size=1,
    description="two hidden layers of 128 units with ReLU"))

convnet = Architecture(_convnet.convnet, ArchSpec(
    family="convnet", version=1, embedding=True, sizes=None, min_size=_convnet.min_side(3, "avg"),
    description="3 x [conv3x3 128, instance norm, ReLU, avg-pool 2], linear; the paper's default"))

convnet_d1 = convnet.variant(depth=1, min_size=_convnet.min_side(1, "avg"), description="ConvNet of depth 1")
convnet_d2 = convnet.variant(depth=2, min_size=_convnet.min_side(2, "avg"), description="ConvNet of depth 2")
convnet_d4 = convnet.variant(depth=4, min_size=_convnet.min_side(4, "avg"), description="ConvNet of depth 4")
convnet_w32 = convnet.variant(width=32, description="ConvNet of width 32")
convnet_w64 = convnet.variant(width=64, description="ConvNet of width 64")
convnet_w256 = convnet.variant(width=256, description="ConvNet of width 256")
convnet_sigmoid = convnet.variant(act="sigmoid", description="ConvNet with sigmoid activations")
convnet_leakyrelu = convnet.variant(act="leakyrelu", description="ConvNet with LeakyReLU(0.01) activations")
convnet_nn = convnet.variant(norm="none", description="ConvNet without normalisation")
convnet_bn = convnet.variant(norm="batch", batchnorm=_BN_BOTH, description="ConvNet with BatchNorm in both stages")
convnet_ln = convnet.variant(norm="layer", description="ConvNet with layer norm over [C, H, W]")
convnet_gn = convnet.variant(norm="group", description="ConvNet with group norm (4 groups)")
convnet_np = convnet.variant(pool="none", min_size=_convnet.min_side(3, "none"),
                             description="ConvNet without pooling")
convnet_mp = convnet.variant(pool="max", description="ConvNet with max pooling")

lenet = Architecture(_lenet.lenet, ArchSpec(
    family="lenet", version=1, embedding=True, sizes=_lenet.SIZES,
    description="LeNet-5: two 5x5 convs with max-pooling, FC 120-84"))

alexnet = Architecture(_alexnet.alexnet, ArchSpec(
    family="alexnet", version=1, embedding=True, sizes=_alexnet.SIZES,
    description="small-image AlexNet: five convs, three max-pools, one linear layer"))
alexnet_bn = alexnet.variant(norm="batch", batchnorm=_BN_BOTH,
                             description="AlexNet with BatchNorm after every conv, in both stages")

alexcifarnet = Architecture(_alexcifarnet.alexcifarnet, ArchSpec(
    family="alexcifarnet", version=1, embedding=True, sizes=_alexcifarnet.SIZES,
    description="DD's AlexCifarNet: two 5x5 convs with LRN, FC 384-192"))

vgg11 = Architecture(_vgg.vgg11, ArchSpec(
    family="vgg11", version=1, embedding=True, sizes=_vgg.SIZES,
    stages={"synthesis": {"norm": "batch"}, "classification": {"norm": "instance"}},
    batchnorm=("synthesis",),
    description="VGG11: BatchNorm for synthesis, instance norm for classification"))
vgg11_bn = vgg11.variant(norm="batch", stages={}, batchnorm=_BN_BOTH,
                         description="VGG11 with BatchNorm in both stages")

resnet18 = Architecture(_resnet.resnet18, ArchSpec(
    family="resnet18", version=1, embedding=True, sizes=_resnet.SIZES,
    stages={"synthesis": {"norm": "batch", "downsample": "avgpool"},
            "classification": {"norm": "instance", "downsample": "stride"}},
    batchnorm=("synthesis",),
    description="CIFAR ResNet18: BatchNorm + avg-pool downsampling for synthesis, instance norm for classification"))
resnet18_bn = resnet18.variant(norm="batch", downsample="stride", stages={}, batchnorm=_BN_BOTH,
                               description="ResNet18 with BatchNorm and strided downsampling in both stages")

__all__ = [
    "EmbeddingClassifier", "make_norm",
    "mlp", "convnet", "convnet_d1", "convnet_d2", "convnet_d4", "convnet_w32", "convnet_w64", "convnet_w256",
    "convnet_sigmoid", "convnet_leakyrelu", "convnet_nn", "convnet_bn", "convnet_ln", "convnet_gn",
    "convnet_np", "convnet_mp", "lenet", "alexnet", "alexnet_bn", "alexcifarnet", "vgg11", "vgg11_bn",
    "resnet18", "resnet18_bn",
]
