"""A toy dcbench plugin: one condenser, one network and one data set, as a third party writes them."""

from dcbench_toy.blobs import toy_blobs
from dcbench_toy.mean import ToyMean
from dcbench_toy.mlp import toy_mlp

__all__ = ["ToyMean", "toy_blobs", "toy_mlp"]
