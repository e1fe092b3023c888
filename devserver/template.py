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


def resolve(value: Any, parameters: dict[str, Any], resources: dict[str, Any]) -> Any:
    """Replace intrinsic functions by values: parameters, or physical ids from `resources`."""
    if isinstance(value, _Tag):
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
        return {key: resolve(item, parameters, resources) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, parameters, resources) for item in value]
    return value


def resource(template: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    """The one resource of a type: (logical id, raw properties)."""
    found = [
        (name, spec.get("Properties", {}))
        for name, spec in template["Resources"].items()
        if spec["Type"] == resource_type
    ]
    if len(found) != 1:
        raise ValueError(f"expected one {resource_type} in the template, found {len(found)}")
    return found[0]
