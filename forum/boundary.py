"""What the forum accepts from outside, decided once: ids and other whole numbers, text (no NUL
characters, no lone surrogates) and JSON. Request parsing (forum.http), the path convertor and
the live socket all go through here, so no handler has to remember it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from starlette.convertors import Convertor

from forum.validation import ValidationError

#: Row ids are PostgreSQL `integer`s: anything larger is no id (and would be a database error).
ID_MAX = 2**31 - 1

# PostgreSQL text cannot hold NUL, and a lone surrogate cannot be encoded as UTF-8 by any
# database driver: json.loads joins valid surrogate pairs, so any surrogate left is a lone one.
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")
UNSAFE_TEXT_MESSAGE = "Text may not contain NUL characters or unpaired surrogates."


def parse_whole(value: object, low: int, high: int) -> int | None:
    """value as a whole number in low..high, or None.

    Takes an int (not a bool) or a string of ASCII digits without leading zeros: str.isdigit()
    alone accepts "²", which int() then refuses.
    """
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > len(str(high)):
            return None
        if len(value) > 1 and value.startswith("0"):
            return None
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if low <= value <= high else None


def parse_id(value: object) -> int | None:
    """A row id (1..ID_MAX) from a path, query, form or JSON value, or None."""
    return parse_whole(value, 1, ID_MAX)


def _numbers_up_to(limit: int) -> str:
    """A regular expression matching exactly the whole numbers 1..limit, without leading zeros."""
    digits = str(limit)
    alternatives = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"]  # the shorter numbers
    for index, digit in enumerate(digits):
        lowest = 1 if index == 0 else 0
        if int(digit) > lowest:
            rest = len(digits) - index - 1
            alternatives.append(f"{digits[:index]}[{lowest}-{int(digit) - 1}][0-9]{{{rest}}}")
    alternatives.append(digits)
    return "(?:" + "|".join(alternatives) + ")"


class IdConvertor(Convertor[int]):
    """`{name:id}` in a route path: only 1..ID_MAX match, so any other value is simply a 404
    (a convertor cannot refuse a value its pattern matched)."""

    regex = _numbers_up_to(ID_MAX)

    def convert(self, value: str) -> int:
        """The id as a number."""
        return int(value)

    def to_string(self, value: int) -> str:
        """The id as a path segment."""
        return str(int(value))


def is_safe_text(text: str) -> bool:
    """Whether text can be stored and sent: no NUL and no lone surrogate."""
    return _UNSAFE_TEXT.search(text) is None


def refuse_unsafe_text(fields: Iterable[tuple[str, object]], outer: str = "json") -> None:
    """ValidationError naming the field whose value (at any depth, keys too) holds unsafe text;
    a field whose own name is unsafe is reported as outer."""
    for name, value in fields:
        if not is_safe_text(name):
            raise ValidationError(
                {outer: "Field names may not contain NUL characters or unpaired surrogates."}
            )
        # A loop, not recursion: the value may be nested as deep as json.loads allows.
        pending = [value]
        while pending:
            item = pending.pop()
            if isinstance(item, str):
                unsafe = not is_safe_text(item)
            elif isinstance(item, dict):
                unsafe = not all(is_safe_text(key) for key in item)
                pending.extend(item.values())
            elif isinstance(item, list):
                unsafe = False
                pending.extend(item)
            else:
                unsafe = False
            if unsafe:
                raise ValidationError({name: UNSAFE_TEXT_MESSAGE})


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes | str) -> Any:
    """Parse JSON from a request body or a socket frame, or ValidationError on field "json".

    Refuses what json.loads takes but storage cannot (NaN, NUL, lone surrogates) and turns
    nesting too deep to parse (RecursionError) into a message instead of a crash.
    """
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValidationError({"json": "The JSON is nested too deeply."}) from None
    except ValueError:  # also UnicodeDecodeError
        raise ValidationError({"json": "This is not valid JSON."}) from None
    refuse_unsafe_text(data.items() if isinstance(data, dict) else [("json", data)])
    return data
