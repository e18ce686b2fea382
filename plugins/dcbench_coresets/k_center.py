"""k-center: per class, a greedy cover of the class in feature space."""

from __future__ import annotations

from dcbench import CondenserSpec
from dcbench_coresets.greedy import k_center
from dcbench_coresets.trained import FeatureSelection


class KCenter(FeatureSelection):
    """Features are the penultimate layer of ``net`` trained on the whole data (``epochs``). The
    first centre is the example closest to the class mean; ties go to the lowest training index
    (``greedy.k_center``)."""

    spec = CondenserSpec(
        name="k_center", kind="selection", version=1, needs_network=False, deterministic=True,
        description="per class, greedy k-center in the features of a whole-data network (the paper's 'K-Center')",
        details=("whole_data_run",),
    )

    greedy = staticmethod(k_center)
