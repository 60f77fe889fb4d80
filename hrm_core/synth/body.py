"""`BodyBuilder`: assemble a message body piece by piece while recording exact span offsets."""

from __future__ import annotations


class BodyBuilder:
    """Append plain text and typed values; spans are the exact characters of each value (end exclusive)."""

    __slots__ = ("_len", "_parts", "spans")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._len = 0
        self.spans: list[dict[str, object]] = []

    def text(self, s: str) -> BodyBuilder:
        """Append text that carries no span."""
        self._parts.append(s)
        self._len += len(s)
        return self

    def value(self, span_type: str, s: str) -> BodyBuilder:
        """Append `s` as one span of `span_type`."""
        self.spans.append({"type": span_type, "start": self._len, "end": self._len + len(s)})
        return self.text(s)

    def template(self, template: str, values: dict[str, tuple[str, str]]) -> BodyBuilder:
        """Append `template`, replacing each ``{key}`` with ``values[key] = (span_type, text)`` as a span."""
        rest = template
        while True:
            i = rest.find("{")
            if i < 0:
                break
            j = rest.index("}", i)
            self.text(rest[:i])
            span_type, s = values[rest[i + 1 : j]]
            self.value(span_type, s)
            rest = rest[j + 1 :]
        return self.text(rest)

    def build(self) -> str:
        """The body text."""
        return "".join(self._parts)
