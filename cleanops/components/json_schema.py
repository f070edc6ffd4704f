"""The JSON schema dg publishes for `cleanops.Pipeline` (editor completion, `dg check yaml`).

pydantic writes a tagged union (a source's or a step's `type`) as `oneOf` plus an OpenAPI
`discriminator`, which JSON Schema validators ignore: a typo inside a source then only
yields "not valid under any of the given schemas". Written as `if type is X then <X's
schema>` instead, the validator checks the one variant the `type` names and reports the
misspelt key itself.
"""

from __future__ import annotations

from typing import Any

from cleanops.pipelines.schema import PipelineSpec


def tagged_unions_as_conditions(node: Any) -> Any:
    """The schema with every discriminated `oneOf` rewritten as one `if/then` per tag value."""
    if isinstance(node, list):
        return [tagged_unions_as_conditions(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: tagged_unions_as_conditions(value) for key, value in node.items()}
    discriminator = node.get("discriminator")
    if not (isinstance(discriminator, dict) and "mapping" in discriminator and "oneOf" in node):
        return node
    tag = discriminator["propertyName"]
    mapping = discriminator["mapping"]
    rest = {key: value for key, value in node.items() if key not in ("discriminator", "oneOf")}
    return {**rest, "type": "object", "required": [tag],
            "properties": {tag: {"enum": sorted(mapping)}},
            "allOf": [{"if": {"properties": {tag: {"const": value}}, "required": [tag]}, "then": {"$ref": ref}}
                      for value, ref in sorted(mapping.items())]}


class PipelineAttributes(PipelineSpec):
    """A pipeline file as the attributes of a `cleanops.Pipeline` defs.yaml (validated as PipelineSpec)."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return tagged_unions_as_conditions(super().model_json_schema(*args, **kwargs))
