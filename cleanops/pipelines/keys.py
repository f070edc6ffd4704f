"""Unknown keys in a pipeline file, reported so the author can fix them at once.

Every block of the schema refuses keys it does not model (schema.base.Strict). pydantic only
says "Extra inputs are not permitted"; this module finds the block the key sits in, so the
error can list the keys that block accepts and the one the author probably meant.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

UNKNOWN_KEY_ERROR = "extra_forbidden"  # pydantic's error type for a key a model does not declare
MISSING_TAG_ERROR = "union_tag_not_found"  # a block told apart by `type` has no `type` key


def block_model(root: type[BaseModel], location: tuple) -> type[BaseModel] | None:
    """The model that validates the mapping at `location` (pydantic's loc, tags of unions included)."""
    annotation: Any = root
    for item in location:
        annotation = _step(_unwrap(annotation), item)
        if annotation is None:
            return None
    found = _unwrap(annotation)
    return found if _is_model(found) else None


def known_keys(root: type[BaseModel], location: tuple) -> list[str]:
    """Keys the block at `location` accepts, in the schema's order ([] when it cannot be told)."""
    model = block_model(root, location)
    return list(model.model_fields) if model else []


def union_keys(root: type[BaseModel], location: tuple) -> list[str]:
    """Keys any kind of the `type`-tagged block at `location` accepts (a source, a step, a trigger)."""
    annotation: Any = root
    for item in location:
        annotation = _step(_unwrap(annotation), item)
        if annotation is None:
            return []
    union = _unwrap(annotation)
    members = get_args(union) if get_origin(union) in (Union, types.UnionType) else ()
    return list(dict.fromkeys(key for member in map(_unwrap, members) if _is_model(member)
                              for key in member.model_fields))


def missing_tag_message(unknown: dict[str, int | None], known: list[str]) -> str:
    """A tagged block without `type`: pydantic checks no other key then, so name the unknown ones here."""
    message = "no 'type' key to say which kind of block this is"
    if unknown:
        message += "; " + "; ".join(unknown_key_message(key, known, line, listing=False)
                                    for key, line in unknown.items())
    return message


def unknown_key_message(key: object, known: list[str], line: int | None, listing: bool = True) -> str:
    """`unknown key 'enabeld' on line 7; did you mean 'enabled'? (keys here: type, ...)`."""
    where = f" on line {line}" if line else ""
    message = f"unknown key {key!r}{where}"
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6) or _same_but_case(str(key), known)
    if close:
        message += f"; did you mean {close[0]!r}?"
    if known and listing:
        message += f" (keys here: {', '.join(known)})"
    return message


def _same_but_case(key: str, known: list[str]) -> list[str]:
    return [name for name in known if name.lower() == key.lower()]


def _step(annotation: Any, item: object) -> Any:
    """The annotation one location item further in, or None when the item leads nowhere known."""
    if _is_model(annotation):
        field = annotation.model_fields.get(item) if isinstance(item, str) else None
        return field.annotation if field else None
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list and isinstance(item, int) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (Union, types.UnionType):
        return _tagged_member(args, item)
    return None


def _tagged_member(members: tuple, tag: object) -> Any:
    """The member of a union tagged by `type` whose `type` may be `tag` (pydantic puts the tag in loc)."""
    for member in map(_unwrap, members):
        if not _is_model(member) or "type" not in member.model_fields:
            continue
        if tag in get_args(_unwrap(member.model_fields["type"].annotation)):
            return member
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip `Annotated[...]` and `| None`, which do not change which block a key belongs to."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
