"""Fast decoding of ``application/x-www-form-urlencoded`` bodies.

A push body is one JSON document percent-encoded into a form field: every ``"``, ``:``, ``,`` and brace
becomes ``%XX`` (about 4,000 escapes in a 50-fix ``/pushgps`` request). The standard library decodes them
in a Python loop (``urllib.parse.unquote_to_bytes``, ~2 ms per such request, the largest single cost of a
request); here the escapes are rewritten to ``\\xXX`` and decoded by the C codec ``escape_decode``.

Only well-formed bodies take this path: pure ASCII, every ``%`` followed by two hex digits, every value
valid UTF-8. Anything else returns ``None`` and the caller lets werkzeug parse the body, so the result is
always exactly what werkzeug (``urllib.parse.parse_qsl(keep_blank_values=True)``) would produce — which
matters because the payload hash that recognises replays is computed from these fields.
"""

from __future__ import annotations

import codecs
import re

# A "%" not followed by two hex digits: werkzeug keeps it literally; left to werkzeug.
_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _component(raw: bytes) -> str:
    """Percent-decode one name or value (``+`` is a space). Raises ValueError on anything unusual."""
    if b"+" in raw:
        raw = raw.replace(b"+", b" ")
    if b"%" not in raw:
        return raw.decode("ascii")
    # Existing backslashes are doubled first so that only the rewritten escapes are interpreted.
    escaped = raw.replace(b"\\", b"\\\\").replace(b"%", b"\\x")
    return codecs.escape_decode(escaped)[0].decode("utf-8")


def decode_urlencoded(body: bytes) -> dict[str, list[str]] | None:
    """Every field of a well-formed urlencoded body as ``{name: [values in order]}``, or ``None`` when the
    body needs the general parser (non-ASCII bytes, a stray ``%``, percent-encoded bytes that are not
    UTF-8)."""
    if not body.isascii() or _BAD_PERCENT.search(body):
        return None
    fields: dict[str, list[str]] = {}
    try:
        for pair in body.split(b"&"):
            if not pair:
                continue
            name, _, value = pair.partition(b"=")
            fields.setdefault(_component(name), []).append(_component(value))
    except ValueError:  # UnicodeDecodeError included
        return None
    return fields
