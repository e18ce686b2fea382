"""dcbench's evaluation protocols beyond classification, written as any third-party protocol would be:
``continual`` (rehearsal memory of an incremental learner) and ``domain_adaptation`` (fine-tuning a
source-trained net on a condensed target set). docs/protocols.md says what each measures."""

from __future__ import annotations

from .adaptation import DomainAdaptation
from .continual import Continual

__all__ = ["Continual", "DomainAdaptation"]
