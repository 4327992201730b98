"""Declared ROS parameters as data: one :class:`ParameterSpec` per parameter.

Each node keeps a module-level tuple of specs (``hand_mesh_node.PARAMETERS``,
``image_source.PARAMETERS``). The node declares them with :func:`declare_parameters`
(descriptor with description, range, choices and ``read_only``; validation through an
``on_set_parameters`` callback, which rclpy also runs for the values given at start-up), and
tests / tools read the same tuples to check the launch file and ``config/hand_mesh.yaml``
without starting a node.

Conventions: ``rcl_interfaces/ParameterDescriptor`` (available from Humble on).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node


@dataclasses.dataclass(frozen=True)
class ParameterSpec:
    """One node parameter.

    Attributes:
        name: parameter name.
        default: default value; its Python type (bool, int, float, str) is the parameter type.
        description: one line for ``ros2 param describe`` and the config file.
        read_only: True when a change needs a restart (rclpy then refuses runtime changes).
        value_range: inclusive ``(low, high)`` for int / float parameters.
        choices: allowed values for string parameters.
        pattern: regular expression (``re.fullmatch``) that string values may match instead
            of a choice (e.g. ``cuda:N``).
        check: extra check returning an error text, or None when the value is fine.
    """

    name: str
    default: Any
    description: str
    read_only: bool = False
    value_range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    check: Callable[[Any], str | None] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.default, (bool, int, float, str)):
            raise ValueError(f"{self.name}: default must be bool, int, float or str, got {self.default!r}")
        if self.value_range is not None and (isinstance(self.default, (bool, str))):
            raise ValueError(f"{self.name}: a range needs an int or float parameter")
        problem = self.validate(self.default)
        if problem:
            raise ValueError(f"{self.name}: default {self.default!r} is invalid: {problem}")

    def descriptor(self) -> ParameterDescriptor:
        """The ``ParameterDescriptor`` declared with this parameter."""
        d = ParameterDescriptor(description=self.description, read_only=self.read_only)
        constraints = []
        if self.choices:
            constraints.append("one of: " + ", ".join(self.choices))
        if self.pattern:
            constraints.append(f"or matching {self.pattern}")
        if self.read_only:
            constraints.append("read-only: takes effect on restart")
        d.additional_constraints = "; ".join(constraints)
        if self.value_range is not None:
            low, high = self.value_range
            if isinstance(self.default, int):
                d.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=0)]
            else:
                d.floating_point_range = [FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]
        return d

    def validate(self, value: Any) -> str | None:
        """Return why ``value`` is not acceptable, or None when it is."""
        if isinstance(self.default, bool) != isinstance(value, bool):
            return f"expected {type(self.default).__name__}, got {type(value).__name__}"
        if self.value_range is not None:
            low, high = self.value_range
            if not low <= value <= high:
                return f"must be in [{low}, {high}], got {value}"
        if self.choices is not None or self.pattern is not None:
            ok = (self.choices is not None and value in self.choices) or (
                self.pattern is not None and re.fullmatch(self.pattern, str(value)) is not None
            )
            if not ok:
                allowed = ", ".join(self.choices or ()) + (f" or {self.pattern}" if self.pattern else "")
                return f"must be one of {allowed}, got {value!r}"
        if self.check is not None:
            return self.check(value)
        return None


def specs_by_name(specs: Iterable[ParameterSpec]) -> dict[str, ParameterSpec]:
    """``{name: spec}``; raises ``ValueError`` on a duplicate name."""
    out: dict[str, ParameterSpec] = {}
    for spec in specs:
        if spec.name in out:
            raise ValueError(f"parameter {spec.name!r} is specified twice")
        out[spec.name] = spec
    return out


def declare_parameters(node: Node, specs: Sequence[ParameterSpec]) -> dict[str, Any]:
    """Declare ``specs`` on ``node`` with their descriptors and validation; return the values.

    Registers an ``on_set_parameters`` callback that checks every later change (and, since
    rclpy runs the callbacks on declaration too, the start-up values from the command line
    or a YAML file). A bad start-up value raises
    ``rclpy.exceptions.InvalidParameterValueException`` with the reason.
    """
    table = specs_by_name(specs)

    def on_set(params: list) -> SetParametersResult:
        for p in params:
            spec = table.get(p.name)
            if spec is None:
                continue
            problem = spec.validate(p.value)
            if problem:
                return SetParametersResult(successful=False, reason=f"{p.name}: {problem}")
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    for spec in specs:
        node.declare_parameter(spec.name, spec.default, spec.descriptor())
    return {spec.name: node.get_parameter(spec.name).value for spec in specs}
