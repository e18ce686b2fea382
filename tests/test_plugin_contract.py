"""The condenser contract as the registry checks it when a plugin loads: every hook a spec declares
must match the class, and what a run records must match what the spec declares."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from dcbench import CondensedSet, CondenserBase, CondenserSpec, LearnedSchedule, testing
from dcbench.condenser import contract_problems, details_problem
from dcbench.registry import get_registry

SPEC = dict(name="probe", kind="synthesis", version=1, needs_network=False)


def condenser(spec_fields=None, *, config=None, condense=None) -> type:
    """A condenser class made of parts, each part replaceable to break the contract one way."""

    @dataclass(frozen=True)
    class Config:
        iterations: int = 3
        implementation: str = "loop"

        def __post_init__(self) -> None:
            if self.implementation not in ("loop", "batched"):
                raise ValueError(f"implementation must be loop or batched, not {self.implementation!r}")

    def plain(self, train, *, ipc, generator, device, model_factory=None, report=None):
        images = torch.randn((train.spec.classes * ipc, *train.images.shape[1:]), generator=generator)
        for step in range(self.config.iterations):
            report(step + 1, total=self.config.iterations)
        return CondensedSet(images, torch.arange(train.spec.classes).repeat_interleave(ipc))

    attrs = {"spec": CondenserSpec(**SPEC | (spec_fields or {})), "Config": config or Config,
             "condense": condense or plain}
    return type("Probe", (CondenserBase,), attrs)


def resumable(self, train, *, ipc, generator, device, model_factory=None, report=None, checkpoint=None):
    raise NotImplementedError


def missing_report(self, train, *, ipc, generator, device, model_factory=None):
    raise NotImplementedError


def extra_required(self, train, *, ipc, generator, device, model_factory=None, report=None, temperature):
    raise NotImplementedError


def test_a_condenser_that_declares_what_it_has_is_clean():
    full = condenser({"iteration_field": "iterations", "implementations": ("loop", "batched"),
                      "details": ("final_loss",), "resumable": True}, condense=resumable)
    assert contract_problems(full) == []
    assert contract_problems(condenser()) == []
    for name in get_registry().condensers.names():  # the built-ins declare what they use
        assert contract_problems(get_registry().condenser(name)) == [], name


@pytest.mark.parametrize("fields, condense, expected", [
    ({"resumable": True}, None, "spec.resumable is True but condense() takes no `checkpoint` argument"),
    ({}, resumable, "condense() takes `checkpoint` but spec.resumable is False: declare resumable=True"),
    ({"iteration_field": "epochs"}, None, "spec.iteration_field names 'epochs', which Config lacks"),
    ({"implementations": ("loop", "compiled")}, None, "spec.implementations lists 'compiled', which Config refuses"),
    ({"extras": ("lr_schedule",)}, None, "spec.extras declares part of a learned schedule but not image_step, "
                                         "step_order"),
    ({}, missing_report, "condense() does not take report"),
    ({}, extra_required, "condense() requires temperature, which dcbench never passes"),
])
def test_a_misdeclared_hook_is_named(fields, condense, expected):
    problems = contract_problems(condenser(fields, condense=condense))
    assert any(expected in p for p in problems), problems


def test_implementations_need_an_implementation_field():
    @dataclass(frozen=True)
    class Plain:
        iterations: int = 3

    problems = contract_problems(condenser({"implementations": ("loop",)}, config=Plain))
    assert problems == ["spec.implementations is declared but Config has no `implementation` field"]


def test_a_spec_field_of_the_wrong_type_fails_at_definition():
    with pytest.raises(TypeError, match=r"CondenserSpec.details must be a tuple of names, got \['loss'\]"):
        CondenserSpec(**SPEC, details=["loss"])
    with pytest.raises(TypeError, match="iteration_field must be a Config field name or None"):
        CondenserSpec(**SPEC, iteration_field=3)


def test_what_a_run_records_must_be_declared():
    spec = CondenserSpec(**SPEC, details=("final_loss",))
    assert details_problem({"final_loss": 0.1}, spec) is None
    problem = details_problem({"final_loss": 0.1, "seconds": 2.0}, spec)
    assert problem == "details 'seconds' not declared in spec.details"
    assert details_problem([1], spec) == "details must be a dict, got list"


def test_the_conformance_checks_catch_undeclared_details_extras_and_report_counts():
    def with_details(self, train, *, ipc, generator, device, model_factory=None, report=None):
        self.details = {"final_loss": 1.0}
        return CondensedSet(train.images[:0].new_zeros((train.spec.classes * ipc, *train.images.shape[1:])),
                            torch.arange(train.spec.classes).repeat_interleave(ipc))

    with pytest.raises(AssertionError, match="details 'final_loss' not declared in spec.details"):
        testing.check_condenser(condenser(condense=with_details))

    def with_extras(self, train, *, ipc, generator, device, model_factory=None, report=None):
        made = with_details(self, train, ipc=ipc, generator=generator, device=device)
        return CondensedSet(made.images, made.labels, extras={"soft_labels": torch.zeros(len(made.labels), 3)})

    with pytest.raises(AssertionError, match=r"extras are \['soft_labels'\] but spec.extras declares none"):
        testing.check_condenser(condenser({"details": ("final_loss",)}, condense=with_extras))
    testing.check_condenser(condenser({"details": ("final_loss",), "extras": ("soft_labels",)}, condense=with_extras))

    with pytest.raises(AssertionError, match="iteration_field 'iterations' is 3, but condense called report 0 times"):
        testing.check_condenser(condenser({"iteration_field": "iterations", "details": ("final_loss",)},
                                          condense=with_details))
    testing.check_condenser(condenser({"iteration_field": "iterations"}))


def test_the_learned_schedule_names_are_public():
    assert set(LearnedSchedule.EXTRAS) == {"lr_schedule", "step_order", "image_step"}
    dd = get_registry().condenser("dd")
    assert set(dd.spec.extras) == set(LearnedSchedule.EXTRAS)
