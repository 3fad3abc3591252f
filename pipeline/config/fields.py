"""Field types of the config: what each value must be, and the phrase its error shows.

Each alias is ``Annotated[type, constraints, expect(phrase)]``: pydantic checks the
type strictly (``"3"`` is not 3, ``true`` is not 1) and the constraints, and an error
reads ``<key> must be <phrase>, got <value>``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

# Every section rejects keys it does not know (a typo must not be ignored).
FORBID_UNKNOWN = ConfigDict(extra="forbid")


def expect(phrase: str) -> WrapValidator:
    """Replaces pydantic's wording for a value that fails its type or constraints.

    Errors inside a list or mapping keep their own key and wording, and so do the
    messages of validators (which name their keys); a scalar's type and constraint
    errors all belong to it (a union adds its members' names to the error's key).

    Args:
        phrase: What the value must be, read after "must be", e.g. ``"a number in [0, 1]"``.

    Returns:
        The validator, for ``Annotated[type, ..., expect(phrase)]``.
    """

    def wrap(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as error:
            container = isinstance(value, (Mapping, list, tuple))
            for detail in error.errors():
                if detail["type"] == "value_error" or (container and detail["loc"]):
                    raise
            raise PydanticCustomError("expected", "must be {phrase}", {"phrase": phrase}) from None

    return WrapValidator(wrap)


def empty_if_null(empty: Any) -> BeforeValidator:
    """Reads YAML's null (``key:`` with nothing after it) as an empty list or section.

    Args:
        empty: The value null stands for: ``()`` or ``{}``.

    Returns:
        The validator, for ``Annotated[type, empty_if_null(empty)]``.
    """
    return BeforeValidator(lambda value: empty if value is None else value)


def _resolve_path(value: Any, info: ValidationInfo) -> Path:
    # Only the loader knows the directory paths are relative to (the validation
    # context); a path given in code (dataclasses.replace) is kept as given.
    path = Path(os.path.expandvars(str(value)))
    if info.context is None:
        return path
    return (info.context["base"] / path).resolve()


def built_by(build: Callable[[Mapping[str, Any]], Any]) -> BeforeValidator:
    """Builds a section with its own ``from_dict``, which validates it.

    FeatureSpec and Hyperparameters are model code (in the Transform and Trainer
    cache key) and stay free of pydantic; their ``from_dict`` names the key at fault.

    Args:
        build: The section's ``from_dict``.

    Returns:
        The validator: null is the empty section; anything but a mapping is left for
        pydantic to reject.
    """

    def before(value: Any) -> Any:
        value = {} if value is None else value
        return build(value) if isinstance(value, Mapping) else value

    return BeforeValidator(before)


ConfigPath = Annotated[Path, BeforeValidator(_resolve_path)]
Flag = Annotated[bool, Strict(), expect("true or false")]
Text = Annotated[str, Strict(), expect("a string")]
Texts = Annotated[tuple[Text, ...], empty_if_null(()), expect("a list of strings")]
Count = Annotated[int, Strict(), Field(ge=1), expect("a whole number >= 1")]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False), expect("a finite number")]
Tolerance = Annotated[
    float,
    Strict(),
    Field(ge=0, allow_inf_nan=False),
    expect(">= 0, a finite number (a tolerance, not a gain)"),
]
Limit = Annotated[float, Strict(), Field(gt=0, le=1), expect("a number in (0, 1] or null")]
Seconds = Annotated[float, Strict(), Field(gt=0), expect("a positive number of seconds")]
# A CSV field separator: one character that is not a quote or a line break. YAML's
# plain \t (backslash, t: no quotes) means a tab, as the user meant.
Delimiter = Annotated[
    str,
    BeforeValidator(lambda value: "\t" if value == "\\t" else value),
    Strict(),
    Field(pattern=r'^[^"\r\n]$'),
    expect('one character other than a quote or a line break, e.g. ",", ";" or "\\t"'),
]

_S = TypeVar("_S")
# A section: a mapping, or null for an optional section's defaults.
Section = Annotated[_S, empty_if_null({}), expect("a mapping")]
