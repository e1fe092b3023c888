"""Reads infra/template.yaml, the one definition of the service's resources.

Both the cloud (CloudFormation) and the local stack use it; this module only parses it and
resolves the few intrinsic functions the template uses (!Ref, !Sub, !GetAtt) against
parameters, so the local provisioner can create the same resources in moto.
"""

from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "template.yaml"


class _Tag:
    def __init__(self, name: str, value: Any):
        self.name = name
        self.value = value


class _Loader(yaml.SafeLoader):
    pass


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _Tag:
    if isinstance(node, yaml.ScalarNode):
        return _Tag(suffix, loader.construct_scalar(node))
    if isinstance(node, yaml.SequenceNode):
        return _Tag(suffix, loader.construct_sequence(node, deep=True))
    return _Tag(suffix, loader.construct_mapping(node, deep=True))


_Loader.add_multi_constructor("!", _construct_tag)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 (SafeLoader subclass)


def parameter_defaults(template: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        default = spec.get("Default")
        if spec.get("Type") == "CommaDelimitedList" and isinstance(default, str):
            default = [part.strip() for part in default.split(",")]
        values[name] = default
    return values


_NO_VALUE = object()


def conditions(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, bool]:
    """The template's Conditions, evaluated for these parameters."""
    declared = template.get("Conditions", {})
    found: dict[str, bool] = {}

    def evaluate(value: Any) -> bool:
        if isinstance(value, dict) and set(value) == {"Condition"}:
            value = _Tag("Condition", value["Condition"])
        name = value.name
        if name == "Condition":
            return found.setdefault(value.value, evaluate(declared[value.value]))
        if name == "Equals":
            left, right = (resolve(item, parameters, {}) for item in value.value)
            return bool(left == right)
        if name == "Not":
            return not evaluate(value.value[0])
        if name in ("Or", "And"):
            results = [evaluate(item) for item in value.value]
            return any(results) if name == "Or" else all(results)
        raise ValueError(f"condition !{name} is not supported by the local provisioner")

    for name, value in declared.items():
        found[name] = evaluate(value) if name not in found else found[name]
    return found


def resolve(
    value: Any,
    parameters: dict[str, Any],
    resources: dict[str, Any],
    holds: dict[str, bool] | None = None,
) -> Any:
    """Replace intrinsic functions by values: parameters, or physical ids from `resources`;
    !If by the branch its condition in `holds` chooses (AWS::NoValue drops the entry)."""
    resolved = _resolve(value, parameters, resources, holds or {})
    return None if resolved is _NO_VALUE else resolved


def _resolve(value: Any, parameters: dict[str, Any], resources: dict[str, Any], holds) -> Any:
    def again(item: Any) -> Any:
        return _resolve(item, parameters, resources, holds)

    if isinstance(value, _Tag):
        if value.name == "Ref" and value.value == "AWS::NoValue":
            return _NO_VALUE
        if value.name == "If":
            condition, when_true, when_false = value.value
            return again(when_true if holds[condition] else when_false)
        if value.name == "Ref":
            return parameters[value.value] if value.value in parameters else resources[value.value]
        if value.name == "Sub":
            text = value.value
            for name, replacement in {**parameters, **resources}.items():
                text = text.replace("${" + name + "}", str(replacement))
            return text
        if value.name == "GetAtt":
            logical, _, attribute = value.value.partition(".")
            return resources[f"{logical}.{attribute}"]
        raise ValueError(f"intrinsic !{value.name} is not supported by the local provisioner")
    if isinstance(value, dict):
        pairs = ((key, again(item)) for key, item in value.items())
        return {key: item for key, item in pairs if item is not _NO_VALUE}
    if isinstance(value, list):
        return [item for item in map(again, value) if item is not _NO_VALUE]
    return value


def resource(
    template: dict[str, Any], resource_type: str, holds: dict[str, bool] | None = None
) -> tuple[str, dict[str, Any]]:
    """The one resource of a type (of those whose condition holds, given `holds`):
    (logical id, raw properties)."""
    found = [
        (name, spec.get("Properties", {}))
        for name, spec in resources_of(template, resource_type, holds)
    ]
    if len(found) != 1:
        raise ValueError(f"expected one {resource_type} in the template, found {len(found)}")
    return found[0]


def properties(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """A resource's raw properties, by logical id (of a type the template has several of)."""
    return template["Resources"][logical_id].get("Properties", {})


def resources_of(
    template: dict[str, Any], resource_type: str, holds: dict[str, bool] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Every resource of a type, with its whole spec: the unconditional ones, and those whose
    condition holds in `holds`."""
    return [
        (name, spec)
        for name, spec in template["Resources"].items()
        if spec["Type"] == resource_type and _included(spec, holds or {})
    ]


def _included(spec: dict[str, Any], holds: dict[str, bool]) -> bool:
    condition = spec.get("Condition")
    return condition is None or holds.get(condition, False)
