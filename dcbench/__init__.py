"""dcbench: a benchmark suite for dataset condensation.

The public API that plugins (built-in or third-party) use is re-exported here.
"""

from __future__ import annotations

from dcbench.architecture import (
    STAGES,
    Architecture,
    ArchSpec,
    InstanceNorm,
    Stage,
    batchnorm_to_instancenorm,
    estimate_bn_statistics,
    freeze_batchnorm,
    has_batchnorm,
    seeded_init,
)
from dcbench.checkpoint import Checkpoint
from dcbench.condenser import (
    CondensedSet,
    Condenser,
    CondenserBase,
    CondenserSpec,
    ModelFactory,
    Report,
    SelectionCondenser,
    added_field,
    check_ipc,
    condensed_set_problem,
)
from dcbench.dataset import Dataset, DatasetOptions, DatasetSpec, RawData, Split, TestSet, TrainSet
from dcbench.errors import DataError, UserError
from dcbench.protocol import evaluate_accuracy
from dcbench.reference import WholeDataRun, forgetting_counts, whole_data_run
from dcbench.schedule import LearnedSchedule, train_with_schedule, xavier_init

__version__ = "0.1.0"

__all__ = [
    "STAGES", "ArchSpec", "Architecture", "InstanceNorm", "Stage", "batchnorm_to_instancenorm",
    "estimate_bn_statistics", "freeze_batchnorm", "has_batchnorm", "seeded_init",
    "Checkpoint", "CondensedSet", "Condenser", "CondenserBase", "CondenserSpec", "ModelFactory", "Report",
    "SelectionCondenser", "added_field", "check_ipc", "condensed_set_problem",
    "Dataset", "DatasetOptions", "DatasetSpec", "RawData", "Split", "TestSet", "TrainSet",
    "DataError", "UserError", "evaluate_accuracy", "WholeDataRun", "forgetting_counts", "whole_data_run",
    "LearnedSchedule", "train_with_schedule", "xavier_init", "__version__",
]
