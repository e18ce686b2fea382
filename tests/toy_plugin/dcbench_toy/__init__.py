"""A toy dcbench plugin: one condenser, one network, one data set, one study and one protocol, as a third party
writes them."""

from pathlib import Path

from dcbench import Study
from dcbench_toy.blobs import toy_blobs
from dcbench_toy.mean import ToyMean
from dcbench_toy.mlp import toy_mlp
from dcbench_toy.nearest import ToyNearest

toy_table = Study.from_yaml(Path(__file__).with_name("toy_table.yaml"))

__all__ = ["ToyMean", "ToyNearest", "toy_blobs", "toy_mlp", "toy_table"]
