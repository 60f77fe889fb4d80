"""Contract-valid examples whose body is a real carrier excerpt with values planted at exact offsets.

`CarrierPlanter(docs, seed).example(i)`:
1. picks a carrier document (rows of the ``carriers`` Parquet) and an excerpt of 300-2,000 characters
   cut on line boundaries and never through a surrogate span;
2. plants 0-3 values from `ValueSource` where they belong in that kind of text: a clause inserted at a
   sentence boundary of prose, a signature block or header in mail, an assignment or a log line in code
   and docs, a party line in legal text; every planted value and every surrogate inside the excerpt is
   a span of its type; in `obfuscation_rate` of the examples with a planted value, the first one is
   hidden with a technique that fits its type (`synth.obfuscation`), recorded in ``meta.obfuscations``
   (the span keeps the hidden value's type, as in the template generator);
3. runs the regex baseline over the excerpt: a hit that is a known documentation placeholder
   (`PLACEHOLDERS`: ``AKIAIOSFODNN7EXAMPLE``, ``scott:tiger`` ...) stays ``O`` and is recorded in
   ``meta.hard_negative_kinds``; any other unlabelled hit of a type removes that type from
   ``meta.annotated_types`` (we cannot say it is not a leak). NAME and ADDR are never annotated:
   carriers hold names and places nobody labelled (docs/synthetic_data.md, "Carriers");
4. derives the four labels with `derive_labels` and validates the example against the contract.

Each example keeps its provenance in `meta`: ``source = "carrier:<source>"``, ``carrier_doc`` (the
document id), ``carrier_kind`` (mail, prose, legal, code, doc), ``carrier_version`` and ``licence``
(the source's SPDX expression), as stored in the ``carriers`` table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from hrm_core.data.contract import SPAN_TYPES, Example
from hrm_core.rules.regex_baseline import scan_text
from hrm_core.synth.domains import ORG_DOMAINS, PARTNER_DOMAINS
from hrm_core.synth.labels import derive_labels
from hrm_core.synth.obfuscation import KINDS_BY_TYPE, obfuscate
from hrm_core.synth.value_sources import ValueSource

MIN_CHARS, MAX_CHARS = 300, 2_000
NEVER_ANNOTATED = frozenset({"NAME", "ADDR"})
PLACEHOLDERS: dict[str, re.Pattern[str]] = {
    "doc_example_key": re.compile(
        r"AKIAIOSFODNN7EXAMPLE|wJalrXUtnFEMI/K7MDENG|sk_test_|your[-_]api[-_]key", re.I
    ),
    "doc_example_uri": re.compile(r"scott:tiger|user:pass(?:word)?@|username:password@|@localhost", re.I),
}
_CHANNEL_BY_KIND = {"mail": ("email",), "prose": ("email", "chat"), "legal": ("email", "upload"),
                    "code": ("pr", "upload"), "doc": ("chat", "upload", "email")}  # fmt: skip
_ROLES = ("LEGAL", "FINANCE", "HR", "ENG", "SALES", "SECURITY", "EXEC", "SUPPORT", "OTHER")

Piece = tuple[str, str | None]  # (text, span type or None)


def _first(name: str) -> str:
    return name.split()[0]


# Sentences that carry a value in running prose, built lazily (only the chosen one draws values). Names
# and addresses get most of the frames: they have no pattern, so context is all the model has to find
# them by, and a handful of fixed sentences teaches the sentences rather than the context.
_PROSE_FRAMES: tuple[Callable[[ValueSource, str], list[Piece]], ...] = (
    lambda v, n: [
        ("As ", None),
        (n, "NAME"),
        (" noted when we spoke (call ", None),
        (v.phone(), "PHONE"),
        ("), ", None),
    ],
    lambda v, n: [("Please send the draft to ", None), (v.email(n), "EMAIL"), (" before Friday. ", None)],
    lambda v, n: [("The card on file, ", None), (v.card(), "PAN"), (", was charged twice. ", None)],
    lambda v, n: [(n, "NAME"), (" lives at ", None), (v.address().replace("\n", ", "), "ADDR"), (". ", None)],
    lambda v, n: [("Her social security number is ", None), (v.ssn(), "SSN"), (". ", None)],
    lambda v, n: [("Thanks again to ", None), (n, "NAME"), (" for the quick turnaround. ", None)],
    lambda v, n: [(n, "NAME"), (" will take over the account from Monday. ", None)],
    lambda v, n: [("I forwarded it to ", None), (n, "NAME"), (", who handles billing now. ", None)],
    lambda v, n: [
        ("Looping in ", None),
        (n, "NAME"),
        (f" from {v.company()} for visibility. ", None),
    ],
    lambda v, n: [("According to ", None), (n, "NAME"), (", the figures are final. ", None)],
    lambda v, n: [("Ask ", None), (_first(n), "NAME"), (" if anything is unclear. ", None)],
    lambda v, n: [("The meeting with ", None), (n, "NAME"), (" moved to Thursday. ", None)],
    lambda v, n: [
        ("Ship the replacement to ", None),
        (v.address().replace("\n", ", "), "ADDR"),
        (" by courier. ", None),
    ],
    lambda v, n: [("Our new office is at ", None), (v.address().replace("\n", ", "), "ADDR"), (". ", None)],
    lambda v, n: [
        (n, "NAME"),
        (" moved to ", None),
        (v.address().replace("\n", " "), "ADDR"),
        (" last month. ", None),
    ],
    lambda v, n: [
        ("The invoice goes to ", None),
        (n, "NAME"),
        (", ", None),
        (v.address().replace("\n", ", "), "ADDR"),
        (". ", None),
    ],
    lambda v, n: [("You can reach me on ", None), (v.phone(), "PHONE"), (" after three. ", None)],
    lambda v, n: [(n, "NAME"), ("'s mobile is ", None), (v.phone(), "PHONE"), (". ", None)],
    lambda v, n: [("My card number is ", None), (v.card(), "PAN"), (" if you need it. ", None)],
    lambda v, n: [("Write to ", None), (n, "NAME"), (" at ", None), (v.email(n), "EMAIL"), (". ", None)],
    lambda v, n: [("ping ", None), (_first(n).lower(), "NAME"), (" about the rollout when you can. ", None)],
    lambda v, n: [
        ("Spoke to ", None),
        (n, "NAME"),
        (" and ", None),
        (_first(v.name()), "NAME"),
        (" this morning. ", None),
    ],
)


def _prose_clause(v: ValueSource) -> list[Piece]:
    frame = v.rng.choice(_PROSE_FRAMES)
    return [(t, typ) for t, typ in frame(v, v.name()) if t]


def _names(v: ValueSource, k: int) -> list[str]:
    return [v.mention(v.name()) for _ in range(k)]


def _listed(names: Sequence[str], last_joint: str = " and ") -> list[Piece]:
    """``A, B and C`` with each name its own NAME span."""
    pieces: list[Piece] = []
    for j, n in enumerate(names):
        if j:
            pieces.append((last_joint if j == len(names) - 1 else ", ", None))
        pieces.append((n, "NAME"))
    return pieces


_SUBJECT_PREDICATES = (
    " is out until Wednesday, so send questions my way. ", " signed off on the budget. ",
    " has the latest numbers. ", " joined the platform team in March. ",
    " can cover the on-call shift this weekend. ", " asked whether the renewal terms changed. ",
    " will be the point of contact going forward. ", " is very reliable with deadlines. ",
)  # fmt: skip
# Sentences about people and nothing else, for the extra name clause (`NAME_CLAUSE_RATE`). A name has no
# pattern: the model finds one by how text uses it, so these put it where running text does (subject,
# object, apposition, attribution, possessive, list, speaker label, address) and refer to a person as
# text does (`ValueSource.mention`: first name or surname alone, lower case in chat), where the prose
# frames above mostly say the full name after a verb.
_NAME_FRAMES: tuple[Callable[[ValueSource], list[Piece]], ...] = (
    lambda v: [(v.mention(v.name()), "NAME"), (v.rng.choice(_SUBJECT_PREDICATES), None)],
    lambda v: [("Invites went out to ", None), *_listed(_names(v, v.rng.randint(2, 4))), (". ", None)],
    lambda v: [*_listed(_names(v, 2)), (" will present the results on Friday. ", None)],
    lambda v: [("The panel: ", None), *_listed(_names(v, v.rng.randint(3, 5)), ", and "), (". ", None)],
    lambda v: [('"We can ship it next week," said ', None), (v.mention(v.name()), "NAME"), (". ", None)],
    lambda v: [(v.mention(v.name()), "NAME"), (" said the vendor agreed to the discount. ", None)],
    lambda v: [("The launch slipped again, says ", None), (v.mention(v.name()), "NAME"), (". ", None)],
    lambda v: [(v.mention(v.name()), "NAME"), ("'s team owns the dashboard now. ", None)],
    lambda v: [("I left the signed copy on ", None), (v.mention(v.name()), "NAME"), ("'s desk. ", None)],
    lambda v: [("The report was drafted by ", None), (v.mention(v.name()), "NAME"), (". ", None)],
    lambda v: [("Reviewed by ", None), *_listed(_names(v, 2)), (". ", None)],
    lambda v: [
        ("Our auditor, ", None),
        (v.mention(v.name()), "NAME"),
        (", needs the ledger by noon. ", None),
    ],
    lambda v: [(v.name(), "NAME"), (", the new office manager, starts Monday. ", None)],
    lambda v: [
        ("\n", None),
        (v.faker().first_name().lower(), "NAME"),
        (": can someone look at the failing build?\n", None),
    ],
    lambda v: [("Congratulations to ", None), (v.mention(v.name()), "NAME"), (" on the promotion! ", None)],
    lambda v: [("Could you introduce me to ", None), (v.mention(v.name()), "NAME"), ("? ", None)],
    lambda v: [("I met ", None), (v.mention(v.name()), "NAME"), (" at the conference in Lisbon. ", None)],
    lambda v: [("Thanks, ", None), (v.faker().first_name(), "NAME"), ("! ", None)],
    lambda v: [
        ("My manager is ", None),
        (v.mention(v.name()), "NAME"),
        (", not ", None),
        (v.mention(v.name()), "NAME"),
        (". ", None),
    ],
)
# The share of carrier examples of a kind with running text (`NAME_CLAUSE_KINDS`) that get one name
# clause besides their planted values; 0 plants none and leaves every other draw as it was (a lake built
# at 0 is byte-identical to one built before the clause existed). Measured at 0.4 and not adopted: the
# demo's lake built again with it (NAME spans in train 2,970 -> 3,638, tokens +3%), cpu-small at 540 s,
# 3 seeds against 3 seeds on the unchanged lake the same afternoon (docs/synthetic_data.md, "Planting"):
# whole presidio set overlap span F1 0.619 vs 0.646, NAME recall 0.437 vs 0.529 (precision 0.635 vs
# 0.602), lower for every form of name; the control's checkpoints at 429 steps (fewer than the arm's 479-524)
# still scored 0.643 and 0.500. More names in our own frames taught those frames, not names.
NAME_CLAUSE_RATE = 0.0
NAME_CLAUSE_KINDS = frozenset({"prose", "mail", "legal", "doc"})


def _name_clause(v: ValueSource) -> list[Piece]:
    return v.rng.choice(_NAME_FRAMES)(v)


def _mail_block(v: ValueSource) -> list[Piece]:
    name = v.name()
    return [("\n--\n", None), (name, "NAME"), ("\n" + v.company() + "\n", None), (v.phone(), "PHONE"),
            ("\n", None), (v.email(name), "EMAIL"), ("\n", None)]  # fmt: skip


def _code_line(v: ValueSource) -> list[Piece]:
    forms: list[list[Piece]] = [
        [('API_KEY = "', None), (v.token(), "SECRET"), ('"\n', None)],
        [("DATABASE_URL=", None), (v.db_uri(), "DBURI"), ("\n", None)],
        [("2024-05-02T10:14:07Z INFO connecting to ", None), (v.db_uri(), "DBURI"), ("\n", None)],
        [('password = "', None), (v.password(), "SECRET"), ('"\n', None)],
        [("Authorization: Bearer ", None), (v.token("jwt"), "SECRET"), ("\n", None)],
    ]
    return v.rng.choice(forms)


def _legal_line(v: ValueSource) -> list[Piece]:
    name = v.name()
    return [("\nLicensee: ", None), (name, "NAME"), (", ", None), (v.address().replace("\n", ", "), "ADDR"),
            (" (", None), (v.email(name), "EMAIL"), (")\n", None)]  # fmt: skip


PLANTERS: dict[str, tuple[Callable[[ValueSource], list[Piece]], ...]] = {
    "prose": (_prose_clause,), "mail": (_mail_block, _prose_clause), "legal": (_legal_line, _prose_clause),
    "code": (_code_line,), "doc": (_code_line, _prose_clause),
}  # fmt: skip
PROSE_PLANTERS = frozenset({_prose_clause, _name_clause})


def usable_documents(docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The carrier documents long enough to cut an excerpt from (at least `MIN_CHARS` characters)."""
    return [d for d in docs if len(d["text"]) >= MIN_CHARS]


class CarrierPlanter:
    """Builds carrier examples from stored carrier rows (dicts with text, spans, kind, source, doc_id)."""

    def __init__(
        self,
        docs: Sequence[dict[str, Any]],
        seed: int = 0,
        obfuscation_rate: float = 0.2,
        name_clause_rate: float = NAME_CLAUSE_RATE,
    ) -> None:
        self.docs = usable_documents(docs)
        if not self.docs:
            raise ValueError(
                f"no carrier document of at least {MIN_CHARS} characters: run `make install` and "
                "materialize carrier_corpus"
            )
        self.seed = seed
        self.obfuscation_rate = obfuscation_rate
        if not 0.0 <= name_clause_rate <= 1.0:
            raise ValueError(
                f"name_clause_rate is a share of examples, between 0 and 1; got {name_clause_rate}"
            )
        self.name_clause_rate = name_clause_rate
        self.values = ValueSource(seed)
        self.rng = self.values.rng

    def _excerpt(self, doc: dict[str, Any]) -> tuple[str, list[tuple[str, int, int]]]:
        text = doc["text"]
        length = self.rng.randint(MIN_CHARS, MAX_CHARS)
        start = self.rng.randrange(0, max(1, len(text) - length))
        start = text.rfind("\n", 0, start) + 1 if start else 0
        end = min(len(text), start + length)
        nl = text.find("\n", end)
        end = nl if 0 <= nl < end + 200 else end
        for s in doc["spans"]:  # never cut a surrogate in two
            if s["start"] < start < s["end"]:
                start = s["start"]
            if s["start"] < end < s["end"]:
                end = s["end"]
        spans = [(s["type"], s["start"] - start, s["end"] - start) for s in doc["spans"]
                 if start <= s["start"] and s["end"] <= end]  # fmt: skip
        return text[start:end], spans

    def _insert_point(
        self, body: str, kind: str, planter: Callable, spans: list[tuple[str, int, int]]
    ) -> int:
        if planter in PROSE_PLANTERS:
            points = [m.end() for m in re.finditer(r"[.!?] (?=[A-Z])", body)]
        elif planter in (_mail_block, _legal_line):
            points = [len(body)]
        else:
            points = [m.end() for m in re.finditer(r"\n", body)]
        points = [p for p in points if not any(s < p < e for _, s, e in spans)] or [len(body)]
        return self.rng.choice(points)

    def example(self, i: int) -> tuple[Example, dict[str, Any]]:
        """The i-th carrier example and a record of where its values went (for measurement)."""
        doc = self.rng.choice(self.docs)
        body, spans = self._excerpt(doc)
        kind = doc["kind"]
        planted: list[dict[str, Any]] = []
        hide = self.rng.random() < self.obfuscation_rate
        obfuscations: list[str] = []
        hidden_text: str | None = None
        hidden_at = 0  # later inserts only move the hidden value right of where it went in
        for planter in self._planters(kind):
            at = self._insert_point(body, kind, planter, spans)
            pieces = planter(self.values)
            if hide and not obfuscations:
                pieces, obfuscations = self._hide_first(pieces)
                hidden_text = next((t for t, typ in pieces if typ is not None), None)
                hidden_at = at
            in_prose = planter in PROSE_PLANTERS and at < len(body)  # a real sentence boundary was found
            if at == len(body) and body and not body.endswith("\n"):
                pieces = [("\n", None), *pieces]
            insert = "".join(t for t, _ in pieces)
            shift = len(insert)
            spans = [(t, s + shift if s >= at else s, e + shift if s >= at else e) for t, s, e in spans]
            pos = at
            for text, typ in pieces:
                if typ is not None:
                    spans.append((typ, pos, pos + len(text)))
                    planted.append(
                        {
                            "type": typ,
                            "value": text,
                            "in_prose": in_prose,
                            "planter": planter.__name__.lstrip("_"),
                        }
                    )
                pos += len(text)
            body = body[:at] + insert + body[at:]
        spans.sort(key=lambda s: s[1])
        hidden_index = None
        if obfuscations:  # the hidden value's span: the first span at or after its insert point with its text
            hidden_index = next(
                (k for k, (_, s, e) in enumerate(spans) if s >= hidden_at and body[s:e] == hidden_text), None
            )
        annotated, hard_kinds = self._annotated_types(body, spans, doc)
        org = self.rng.choice(ORG_DOMAINS)
        external = self.rng.random() < 0.4
        rcpt_domain = self.rng.choice(PARTNER_DOMAINS) if external else org
        channel = self.rng.choice(_CHANNEL_BY_KIND[kind])
        ex = Example.model_validate({
            "id": f"car-{self.seed}-{i}", "channel": channel,
            "user": {"role": self.rng.choice(_ROLES), "dept": "", "seniority": "MID"},
            "recipients": [f"{self.values.faker('en_US').user_name()}@{rcpt_domain}"] if channel == "email" else [],
            "subject": "", "body": body,
            "spans": [{"type": t, "start": s, "end": e} for t, s, e in spans],
            "meta": {"org_domains": [org], "annotated_types": annotated, "source": f"carrier:{doc['source']}",
                     "carrier_doc": doc["doc_id"], "carrier_kind": kind, "carrier_version": doc["version"],
                     "licence": doc["licence"], "hard_negative_kinds": hard_kinds, "obfuscations": obfuscations,
                     "obfuscated_span": hidden_index},
        })  # fmt: skip
        ex.labels = ex.labels.model_validate(derive_labels(ex))
        return Example.model_validate(ex.model_dump()), {"planted": planted, "kind": kind}

    def _planters(self, kind: str) -> Iterator[Callable[[ValueSource], list[Piece]]]:
        """What to plant into an excerpt of this kind, drawn one at a time as each is planted: 0-3 of the
        kind's planters, then, for running text, the name clause at `name_clause_rate`."""
        for _ in range(self.rng.choice((0, 1, 1, 2, 3))):
            yield self.rng.choice(PLANTERS[kind])
        if (
            self.name_clause_rate > 0
            and kind in NAME_CLAUSE_KINDS
            and self.rng.random() < self.name_clause_rate
        ):
            yield _name_clause

    def _hide_first(self, pieces: list[Piece]) -> tuple[list[Piece], list[str]]:
        """The pieces with their first value hidden by a technique that fits its type, and that technique."""
        for j, (text, typ) in enumerate(pieces):
            if typ is not None:
                technique = self.rng.choice(KINDS_BY_TYPE[typ])
                hidden = obfuscate(text, technique, self.rng)
                return [*pieces[:j], (hidden, typ), *pieces[j + 1 :]], [technique]
        return pieces, []

    def _annotated_types(
        self, body: str, spans: list[tuple[str, int, int]], doc: dict[str, Any]
    ) -> tuple[list[str], list[str]]:
        unknown: set[str] = set()
        hard: set[str] = set()
        for typ, s, e in scan_text(body):
            if any(a < e and s < b for _, a, b in spans):
                continue
            window = body[max(0, s - 40) : e + 40]
            kinds = [k for k, p in PLACEHOLDERS.items() if p.search(window)]
            if kinds and typ in ("SECRET", "DBURI"):
                hard.update(kinds)
            else:
                unknown.add(typ)
        for kind, pattern in PLACEHOLDERS.items():  # placeholders the baseline already ignores count too
            for m in pattern.finditer(body):
                if not any(a < m.end() and m.start() < b for _, a, b in spans):
                    hard.add(kind)
        carrier_complete = set(doc["annotated_types"])
        searched = (carrier_complete | {"PAN", "SSN", "SECRET", "DBURI", "NDA", "MATTER"}) - NEVER_ANNOTATED
        annotated = [t for t in SPAN_TYPES if t in searched and t not in unknown]
        return annotated, sorted(hard)


def generate_carrier_examples(
    docs: Sequence[dict[str, Any]], n: int, seed: int = 0, name_clause_rate: float = NAME_CLAUSE_RATE
) -> tuple[list[Example], list[dict[str, Any]]]:
    """`n` carrier examples and, per example, where its planted values went."""
    planter = CarrierPlanter(docs, seed, name_clause_rate=name_clause_rate)
    pairs = [planter.example(i) for i in range(n)]
    return [p[0] for p in pairs], [p[1] for p in pairs]
