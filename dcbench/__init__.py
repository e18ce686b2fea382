"""dcbench: a benchmark suite for dataset condensation.

Everything public is re-exported here: :class:`Bench` and the records it returns (docs/api.md),
and the contracts and helpers that plugins, built-in or third-party, use (docs/plugins.md).
"""

from __future__ import annotations

from dcbench.architecture import (
    STAGES,
    Architecture,
    ArchSpec,
    InstanceNorm,
    Stage,
    batchnorm_to_instancenorm,
    embedding,
    estimate_bn_statistics,
    freeze_batchnorm,
    has_batchnorm,
    penultimate_features,
    seeded_init,
)
from dcbench.augment import DSA_STRATEGY, DSAParams, dsa_augment, siamese_augment
from dcbench.bench import Bench
from dcbench.checkpoint import Checkpoint
from dcbench.classification import Classification
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
from dcbench.data import dataset_spec
from dcbench.dataset import Dataset, DatasetOptions, DatasetSpec, RawData, Split, TestSet, TrainSet
from dcbench.errors import ArtifactError, DataError, RegistryError, StoreError, UserError
from dcbench.files import write_atomically
from dcbench.grid.plan import Skip
from dcbench.grid.result import GridResult
from dcbench.leaderboard import Entry, Leaderboard
from dcbench.protocol import Context, Outcome, ProtocolBase, ProtocolSpec, View
from dcbench.publish import Published
from dcbench.recipe import evaluate_accuracy
from dcbench.records import WHOLE, Benchmark, Condensation, Evaluation, ProtocolResult, Run
from dcbench.reference import WholeDataRun, forgetting_counts, whole_data_run
from dcbench.registry import Listing, Reference, unknown_message
from dcbench.reproduce import Compared, Reproduction
from dcbench.schedule import LearnedSchedule, train_with_schedule, xavier_init
from dcbench.study import Reported, Study, StudyCell, StudySpec
from dcbench.version import __version__

__all__ = [
    "STAGES", "ArchSpec", "Architecture", "InstanceNorm", "Stage", "batchnorm_to_instancenorm",
    "embedding", "estimate_bn_statistics", "freeze_batchnorm", "has_batchnorm", "penultimate_features", "seeded_init",
    "Checkpoint", "CondensedSet", "Condenser", "CondenserBase", "CondenserSpec", "ModelFactory", "Report",
    "SelectionCondenser", "added_field", "check_ipc", "condensed_set_problem",
    "Listing", "Reference", "unknown_message",
    "Dataset", "DatasetOptions", "DatasetSpec", "RawData", "Split", "TestSet", "TrainSet",
    "ArtifactError", "DataError", "RegistryError", "StoreError", "UserError", "write_atomically",
    "DSA_STRATEGY", "DSAParams", "dsa_augment", "siamese_augment",
    "evaluate_accuracy", "WholeDataRun", "forgetting_counts", "whole_data_run",
    "LearnedSchedule", "train_with_schedule", "xavier_init", "__version__",
    "Bench", "Benchmark", "Classification", "Condensation", "Entry", "Evaluation", "GridResult", "Leaderboard",
    "Published", "Run", "Skip", "WHOLE",
    "Compared", "Reported", "Reproduction", "Study", "StudyCell", "StudySpec",
    "Context", "Outcome", "ProtocolBase", "ProtocolResult", "ProtocolSpec", "View", "dataset_spec",
]
