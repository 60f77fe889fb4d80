"""Read cached carrier artifacts into raw documents: ``RawDocument(doc_id, source, kind, path, text)``.

One reader per artifact layout: the stdlib npm datasets (one JSON file per mail or address), the SPDX
licence list (one JSON per licence), a Debian ``.deb`` of HTML docs (tags stripped), and the Python
standard library read from disk (a bounded, deterministic sample). Mails are cut down to the headers
a reader sees (From, To, Cc, Date, Subject) and the plain-text body; relay headers are dropped.
Nothing here removes personal data: `surrogate` does that before anything is stored.
"""

from __future__ import annotations

import email
import email.policy
import io
import json
import sysconfig
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from hrm_core.data.corpus.sources import STDLIB_SOURCE, CarrierSource

MAIL_HEADERS: tuple[str, ...] = ("From", "To", "Cc", "Date", "Subject")
MAX_DOC_CHARS = 200_000  # a longer document is cut: carriers are excerpted to ≤ 2,000 characters anyway
STDLIB_SUFFIXES: dict[str, str] = {".py": "code", ".cfg": "doc", ".ini": "doc", ".toml": "doc",
                                   ".json": "doc", ".pem": "doc", ".txt": "doc", ".rst": "doc"}  # fmt: skip


@dataclass(frozen=True)
class RawDocument:
    doc_id: str
    source: str
    kind: str
    path: str  # where inside the artifact (or on disk, relative to the stdlib root)
    text: str


def _tar_json_members(path: Path, prefix: str) -> Iterator[tuple[str, dict]]:
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.name.startswith(prefix) and member.name.endswith(".json"):
                f = tar.extractfile(member)
                obj = json.load(f) if f is not None else None
                if isinstance(obj, dict):  # index files hold lists
                    yield member.name, obj


def _decode(payload: bytes, charset: str | None) -> str:
    try:
        return payload.decode(charset or "latin-1", errors="replace")
    except LookupError:  # 2002 mail names charsets Python does not know ("default", "x-user-defined")
        return payload.decode("latin-1", errors="replace")


def _mail_text(raw: str) -> str:
    """Reader-visible headers and the first plain-text part of one RFC 822 message."""
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    header = [f"{h}: {' '.join(str(msg[h]).split())}" for h in MAIL_HEADERS if msg[h] is not None]
    body = ""
    for part in msg.walk():
        if part.get_content_maintype() == "text" and not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                body = _decode(payload, part.get_content_charset())
                if part.get_content_subtype() == "plain":
                    break
    return "\n".join(header) + "\n\n" + body.replace("\r\n", "\n").strip() + "\n"


def read_spam_assassin(source: CarrierSource, path: Path) -> Iterator[RawDocument]:
    for name, obj in _tar_json_members(path, "package/data/"):
        group = obj.get("group", "unknown")  # easy-ham-1, hard-ham-1, spam-2, ...
        yield RawDocument(
            doc_id=f"{source.name}:{group}/{obj['id']}",
            source=source.name,
            kind="mail",
            path=name.removeprefix("package/"),
            text=_mail_text(obj["text"])[:MAX_DOC_CHARS],
        )


def read_sotu(source: CarrierSource, path: Path) -> Iterator[RawDocument]:
    for name, obj in _tar_json_members(path, "package/data/"):
        if "text" not in obj:
            continue
        stem = Path(name).stem
        yield RawDocument(f"{source.name}:{stem}", source.name, "prose", name.removeprefix("package/"),
                          obj["text"][:MAX_DOC_CHARS])  # fmt: skip


def read_spdx(source: CarrierSource, path: Path) -> Iterator[RawDocument]:
    for name, obj in _tar_json_members(path, "package/licenses/"):
        text = obj.get("licenseText") or ""
        if text.strip():
            doc = f"{obj.get('name', '')}\n\n{text}"[:MAX_DOC_CHARS]
            yield RawDocument(f"{source.name}:{Path(name).stem}", source.name, "legal",
                              name.removeprefix("package/"), doc)  # fmt: skip


class _HtmlText(HTMLParser):
    """Visible text of an HTML page: script/style dropped, block elements become line breaks."""

    _SKIP = frozenset({"script", "style", "head"})
    _BLOCK = frozenset({"p", "div", "pre", "li", "tr", "br", "h1", "h2", "h3", "h4", "dt", "dd", "section"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        lines = [ln.rstrip() for ln in "".join(self.parts).splitlines()]
        out: list[str] = []
        for ln in lines:  # collapse runs of blank lines
            if ln or (out and out[-1]):
                out.append(ln)
        return "\n".join(out).strip() + "\n"


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return parser.text()


def _deb_data_tar(path: Path) -> tarfile.TarFile:
    """The data.tar.* member of a Debian package (an ``ar`` archive) opened as a tar file."""
    blob = path.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise ValueError(f"{path.name}: not a Debian package")
    pos = 8
    while pos + 60 <= len(blob):
        name = blob[pos : pos + 16].decode().strip().rstrip("/")
        size = int(blob[pos + 48 : pos + 58].decode().strip())
        start = pos + 60
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(blob[start : start + size]), mode="r:*")
        pos = start + size + (size % 2)
    raise ValueError(f"{path.name}: no data.tar member")


def read_deb_html(source: CarrierSource, path: Path) -> Iterator[RawDocument]:
    with _deb_data_tar(path) as tar:
        for member in tar:
            if not (member.isfile() and member.name.endswith(".html")):
                continue
            if "/genindex" in member.name or "/search" in member.name or "/_static/" in member.name:
                continue
            f = tar.extractfile(member)
            if f is None:
                continue
            rel = member.name.split("/html/", 1)[-1]
            kind = "code" if rel.startswith("_modules/") else "doc"
            text = html_to_text(f.read().decode("utf-8", errors="replace"))[:MAX_DOC_CHARS]
            if len(text) > 200:
                yield RawDocument(f"{source.name}:{rel}", source.name, kind, rel, text)


READERS = {
    "spam-assassin": read_spam_assassin,
    "sotu": read_sotu,
    "spdx-license-list": read_spdx,
    "sqlalchemy-doc": read_deb_html,
}


def read_source(source: CarrierSource, path: Path) -> Iterator[RawDocument]:
    """Documents of one cached artifact, in archive order (deterministic for a given file)."""
    yield from READERS[source.name](source, path)


def read_stdlib(limit: int = 400, root: Path | None = None, max_chars: int = 60_000) -> Iterator[RawDocument]:
    """A deterministic sample of `limit` standard-library files (code, config, test data) from disk.

    Every k-th file of the sorted list of files with a known suffix, so the sample spreads over the
    whole tree (tests and their data files included) and is the same on every run of one interpreter.
    """
    base = Path(root or sysconfig.get_paths()["stdlib"])
    files = sorted(
        p for p in base.rglob("*")
        if p.suffix in STDLIB_SUFFIXES and "site-packages" not in p.parts and p.is_file()
    )  # fmt: skip
    if not files or limit <= 0:
        return
    step = max(1, len(files) // limit)
    for p in files[::step][:limit]:
        rel = p.relative_to(base).as_posix()
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if text.strip():
            yield RawDocument(f"{STDLIB_SOURCE}:{rel}", STDLIB_SOURCE, STDLIB_SUFFIXES[p.suffix], rel,
                              text[:max_chars])  # fmt: skip
