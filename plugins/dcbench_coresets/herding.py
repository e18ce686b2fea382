"""herding: per class, the examples whose running feature mean best tracks the class mean."""

from __future__ import annotations

from dcbench import CondenserSpec
from dcbench_coresets.greedy import herding
from dcbench_coresets.trained import FeatureSelection


class Herding(FeatureSelection):
    """Features are the penultimate layer of ``net`` trained on the whole data (``epochs``).
    Ties go to the lowest training index (``greedy.herding``)."""

    spec = CondenserSpec(
        name="herding", kind="selection", version=1, needs_network=False, deterministic=True,
        description="per class, greedy herding in the features of a whole-data network (the paper's 'Herding')",
        details=("whole_data_run",),
    )

    greedy = staticmethod(herding)
