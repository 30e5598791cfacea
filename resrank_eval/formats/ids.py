"""Query and document ids and scores: one rule for every reader and writer.

An id is a non-empty string without whitespace: TREC runs and qrels are whitespace-separated
columns, so an id with a space, an empty one, or a JSON ``null`` written out as ``None`` would make a
line that its own reader rejects. JSON may hold an id as an integer (rank_llm writes numeric qids),
which becomes its decimal string; null, objects, floats and booleans are errors. A score is a finite
number: NaN has no rank. Nor is a score past a 32-bit float's range (``-1e300``): trec_eval holds scores so, and reads it
as infinite. Readers check at the source (and say where); writers check again, so
nothing they write is refused when it is read back. A control character (a NUL, an escape) is no id either,
nor a lone surrogate (below): an id is text too. Nor is an invisible format character (category Cf: a zero-width space,
a direction mark, a soft hyphen): ``d1`` with one matches no ``d1`` in the qrels and looks the same as ``d1`` in most
editors. A BOM that starts a line is the file's encoding mark, dropped before any id is read (:mod:`.text`).
A text (a query, a passage) is a string UTF-8 can write: Python and JSON strings can hold a lone surrogate, which
no file and no tokenizer takes. Where a text must not be blank, :func:`is_blank` decides what blank is.
Errors show the value at fault as JSON writes it (:func:`shown`): ``true``, ``null``, ``"d 1"``.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Hashable

from ..numeric import FLOAT32_MAX

_WHITESPACE = re.compile(r"\s")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_STRTOD = re.compile(r"[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE)
"""A number as C's ``strtod`` reads one whole, less hex floats (``0x1p3``): in ASCII, no ``_``, no surrounding space."""


def check_id(value: object, what: str = "id") -> str:
    """``value`` as an id string; ``ValueError`` says what is wrong (callers add where)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{what} must be a string, got {shown(value)}")
    text = str(value)
    if not text:
        raise ValueError(f"{what} is empty")
    if _WHITESPACE.search(text):
        raise ValueError(f"{what} {shown(text)} contains whitespace")
    if _CONTROL.search(text):
        raise ValueError(f"{what} {shown(text)} contains a control character")
    if not text.isprintable():  # C-fast test first: ids are many, and a format character does not print
        invisible = next((ch for ch in text if unicodedata.category(ch) == "Cf"), None)
        if invisible is not None:
            raise ValueError(f"{what} {shown(text)} contains U+{ord(invisible):04X} ({unicodedata.name(invisible)}), "
                             "an invisible format character")
    return check_text(text, what)


def check_text(value: object, what: str = "text") -> str:
    """``value`` as a text a tokenizer reads; ``ValueError`` otherwise (whether empty text is allowed is the caller's)."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {shown(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode (a lone surrogate)") from None
    return value


def is_blank(text: str) -> bool:
    """Nothing to read: only whitespace, control characters (category Cc: NUL, escapes) and Unicode format characters
    (category Cf: zero-width spaces and joiners, the BOM, direction marks). Tokenizers drop Cc and Cf (BERT's cleaning)
    and neither shows, so a text of them would pass as a query or passage while being none."""
    return all(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def check_columns(**columns: str) -> None:
    """Whitespace-separated columns (split already, so free of whitespace) follow :func:`check_id`'s rule: no control or
    format characters. Columns nearly always print, so that is tested first, on all at once (qrels and runs are long)."""
    if not "".join(columns.values()).isprintable():
        for what, value in columns.items():
            check_id(value, what)


def check_component(value: str, what: str) -> str:
    """A name that becomes part of a path (a dataset's, a split's): one file-name component, never ``..``, a separator or a
    control character, so a name read from a file cannot write outside the folder it is meant for."""
    if not value or value in (".", "..") or "/" in value or "\\" in value or _CONTROL.search(value):
        raise ValueError(f"{what} {shown(value)} cannot be part of a file name (one name, no '/', '\\', '..' or control characters)")
    return value


def check_integer(text: str, what: str) -> int:
    """A column (a rank, a relevance) as an integer in ASCII digits, as trec_eval reads one; ``ValueError`` otherwise.
    Python's ``int`` alone also reads ``1_0`` as 10 (trec_eval: 1) and other scripts' digits (``١``)."""
    if not _INTEGER.fullmatch(text):
        raise ValueError(f"{what} {text!r} is not an integer")
    return int(text)


def check_score(value: object, what: str = "score") -> float:
    """``value`` as a finite float of magnitude at most :data:`~resrank_eval.numeric.FLOAT32_MAX`; ``ValueError`` otherwise.

    A string (a run's score column, a JSON string) is read as trec_eval reads one, an ASCII decimal (sign, digits, point,
    exponent; :data:`_STRTOD`): Python's ``float`` alone also reads ``1_0`` as 10 (trec_eval: 1), other scripts' digits
    (``١``) and surrounding Unicode whitespace."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {shown(value)}")
    if isinstance(value, str) and not _STRTOD.fullmatch(value):
        raise ValueError(f"{what} {shown(value)} is not a number (in ASCII: sign, digits, point, exponent)")
    try:
        score = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} {shown(value)} is not a number") from None
    if not math.isfinite(score):
        raise ValueError(f"{what} {shown(value)} is not finite")
    if abs(score) > FLOAT32_MAX:
        raise ValueError(f"{what} {shown(value)} is past a 32-bit float's range (±{FLOAT32_MAX:.7g}), as trec_eval holds scores")
    return score


class FirstSeen:
    """Where each key was first seen, so a duplicate's error can name both places."""

    def __init__(self) -> None:
        self._where: dict[Hashable, str] = {}

    def add(self, key: Hashable, where: str) -> str | None:
        """Record ``key`` at ``where``; return where it was seen before (None the first time)."""
        if key in self._where:
            return self._where[key]
        self._where[key] = where
        return None


SHOWN_CHARACTERS = 80
"""How much of a long string an error message shows."""


def shown(value: object) -> str:
    """``value`` in an error message as JSON writes it (``true``, ``null``, ``"d 1"``: what a JSON client or file holds, where
    Python's repr says ``True``, ``None``, ``'d 1'``), on one printable line: a character that does not print (a control
    character, a line separator, a lone surrogate) is escaped. An array or object is named, not dumped (it may be huge), and a long string is cut."""
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if value is not None and not isinstance(value, (str, int, float, bool)):
        return type(value).__name__
    if isinstance(value, str) and len(value) > SHOWN_CHARACTERS:  # a 25 kB id echoed whole would be a 25 kB error
        return f"{shown(value[:SHOWN_CHARACTERS])}… ({len(value)} characters)"
    return "".join(ch if ch.isprintable() else json.dumps(ch)[1:-1] for ch in json.dumps(value, ensure_ascii=False))
