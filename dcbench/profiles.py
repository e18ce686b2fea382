"""Profiles: named reductions of the paper's budgets, recorded with every result."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from dcbench.errors import RegistryError, UserError


@dataclass(frozen=True)
class Profile:
    """Budgets shared by all methods; each condenser's Config scales its own from these."""

    name: str
    iterations: int  # K: outer iterations of iterative condensers
    runs: int  # condensed sets per cell
    evals: int  # fresh classification nets per condensed set
    cls_epochs: int
    cls_epochs_aug: int  # when the data set's recipe augments (MNIST)
    whole_epochs: int  # whole-data and feature-model training
    # Condensers whose own paper fixes a budget that is not K use that budget (dataset distillation's
    # 400 passes over the data) instead of one scaled from ``iterations``.
    paper_budgets: bool = False
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_profile(name: str, raw: Any, *, where: str) -> Profile:
    if not isinstance(raw, Mapping):
        raise RegistryError(f"{where}: profiles.{name} must be a mapping of budgets")
    fields = {f.name: f for f in dataclasses.fields(Profile) if f.name != "name"}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise RegistryError(f"{where}: profiles.{name} has unknown key(s) {', '.join(unknown)}; "
                            f"valid: {', '.join(fields)}")
    values: dict[str, Any] = {}
    for key, spec in fields.items():
        if key not in raw:
            if spec.default is not dataclasses.MISSING:
                continue
            raise RegistryError(f"{where}: profiles.{name}.{key} is missing")
        value = raw[key]
        if key == "description":
            values[key] = str(value)
        elif spec.type in (bool, "bool"):
            if not isinstance(value, bool):
                raise RegistryError(f"{where}: profiles.{name}.{key} must be true or false, got {value!r}")
            values[key] = value
        elif not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RegistryError(f"{where}: profiles.{name}.{key} must be a positive integer, got {value!r}")
        else:
            values[key] = value
    return Profile(name=name, **values)


def budget(value: int | None, default: int, option: str) -> int:
    """A count the user may give instead of the profile's (``--runs``, ``--evals``): at least 1."""
    if value is None:
        return default
    if value < 1:
        raise UserError(f"{option} must be at least 1, got {value}")
    return value
