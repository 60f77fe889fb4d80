"""Whole-span decoding: per-token tag logits ``[T, 21]`` -> typed spans, under BIO constraints.

Per-token argmax lets the type flip inside one value (``4111 1111 1111 1111`` read B-PAN I-SSN I-PAN),
which cuts it into fragments no exact-match scorer accepts. Here the whole tag sequence is chosen at
once: the path of highest total log-probability (log-softmax of the logits, summed over tokens) among
the paths that obey BIO, where ``I-x`` may only follow ``B-x`` or ``I-x`` and a sequence cannot open
with ``I-x``. There are no learned transition scores (no CRF): the constraints are hard, so the type of
a span is chosen jointly over its tokens and a span is one ``B-x I-x ... I-x`` run.

`bio_viterbi` gives the path; `tag_runs` cuts a path into token runs; `decode_spans` does both and maps
runs to character offsets with a score, then `snap_span` fits each run to the text: invisible characters
off its ends, its ends out to whole words, a NAME out over census names beside it. An NDA run becomes the
clauses it touches (`rules.clauses.clause_extents`, the regex baseline's rule too), a NAME run the names in
it (`name_pieces`: a list is cut, lower-case words at its ends come off), and `join_spans` makes the pieces
of one value one span. The scanner (`Scanner._run_wave`, through `decode_spans_many`)
and the trainer's validation (`predict_rows` / `evaluate`) call these functions, so validation measures
the spans production serves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from hrm_core.data.census import NOT_FIRST_NAMES, NOT_SURNAMES, census_listed, census_names
from hrm_core.data.contract import BIO_TAGS, SPAN_TYPES
from hrm_core.rules.checksums import id_digit_count_ok, phone_digit_count_ok, writes_digits
from hrm_core.rules.clauses import clause_extents, visible_bounds
from hrm_core.rules.regex_baseline import phone_context_ok

VITERBI_GROUP = 64  # stretches decoded at once by `bio_viterbi`
N_TAGS = len(BIO_TAGS)  # 21: O, then B-x, I-x per type in SPAN_TYPES order
B_IDS = np.arange(1, N_TAGS, 2)  # [n_types] tag id of B-x
I_IDS = np.arange(2, N_TAGS, 2)  # [n_types] tag id of I-x


def _transition_mask() -> np.ndarray:
    """``[prev, cur]`` 0.0 where BIO allows ``prev -> cur``, -inf where it does not."""
    allowed = np.ones((N_TAGS, N_TAGS), dtype=bool)
    allowed[:, I_IDS] = False
    for b, i in zip(B_IDS, I_IDS, strict=True):
        allowed[[b, i], i] = True  # I-x only after B-x or I-x
    return np.where(allowed, 0.0, -np.inf)


TRANSITIONS = _transition_mask()  # [21, 21]
START = np.where(np.isin(np.arange(N_TAGS), I_IDS), -np.inf, 0.0)  # [21] no I-x first


def log_softmax(tag_logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64 (``[T, 21]``)."""
    x = np.asarray(tag_logits, dtype=np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def bio_viterbi(tag_logits: np.ndarray) -> np.ndarray:
    """Tag ids ``[T]`` of the most probable BIO-valid tag sequence given per-token logits ``[T, 21]``.

    Exact. Most tokens of a message are confidently ``O``, and such a token splits the problem: token t
    can be ``O`` on an optimal path when its ``O`` log-probability beats every other tag's by at least
    ``max(0, max_x log p(I-x) - log p(B-x))`` at token t+1 (turning t into ``O`` and an ``I-x`` at t+1
    into ``B-x`` then loses nothing). Those tokens are fixed to ``O`` and Viterbi runs only on the
    stretches between them, each a fresh start (no ``I-x`` first). Ties go to the lower tag id.
    """
    return _bio_paths([log_softmax(tag_logits)])[0]


def _bio_paths(emits: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The `bio_viterbi` path of each message's log-probabilities ``[T, 21]``, all messages at once (the
    same paths): their uncertain stretches share the step loop, so a batch of 32 messages costs a few
    loops instead of 32."""
    paths = [np.zeros(e.shape[0], dtype=np.int64) for e in emits]
    longer: list[tuple[int, int, int, int]] = []  # (length, message, lo, hi) of stretches of 2+ tokens
    for m, emit in enumerate(emits):
        if emit.shape[0] == 0:
            continue
        o_gap = emit[:, 0] - emit[:, 1:].max(-1)  # [T] how far O leads the best other tag
        i_over_b = np.maximum(0.0, (emit[:, I_IDS] - emit[:, B_IDS]).max(-1))  # [T]
        free = np.flatnonzero(o_gap < np.r_[i_over_b[1:], 0.0])  # tokens not fixed to O
        if free.size == 0:
            continue
        # Stretches of consecutive free tokens: [first, last] token of each.
        cut = np.flatnonzero(np.diff(free) > 1)
        firsts, lasts = free[np.r_[0, cut + 1]], free[np.r_[cut, free.size - 1]]
        # One free token (most stretches) is its best tag that may open a sequence: no loop needed.
        single = firsts[firsts == lasts]
        paths[m][single] = (emit[single] + START).argmax(-1)
        longer.extend(
            (int(hi - lo + 1), m, int(lo), int(hi + 1))
            for lo, hi in zip(firsts, lasts, strict=True)
            if hi > lo
        )
    # Stretches of similar length go together (the stacked array is stretches x longest), a bounded
    # number at a time: 1,000 short stretches and one long uncertain one must not make a
    # [1,000, long, 21] array. Each stretch is decoded on its own, whatever it is grouped with.
    longer.sort()
    for k in range(0, len(longer), VITERBI_GROUP):
        group = longer[k : k + VITERBI_GROUP]
        subs = _viterbi_many([emits[m][lo:hi] for _, m, lo, hi in group])
        for (_, m, lo, hi), sub in zip(group, subs, strict=True):
            paths[m][lo:hi] = sub
    return paths


def _viterbi(emit: np.ndarray) -> np.ndarray:
    """Plain Viterbi over 21 states for log-probabilities ``[T, 21]`` under `START` and `TRANSITIONS`."""
    return _viterbi_many([emit])[0]


def _viterbi_many(emits: Sequence[np.ndarray]) -> list[np.ndarray]:
    """`_viterbi` of several sequences at once: one step loop as long as the longest, not their sum.

    The sequences are stacked and padded; each keeps its score from its own last token. Each step uses
    the two column kinds of `TRANSITIONS` instead of the full table, the same sums and the same tie
    order, so the paths are the textbook recursion's (a test checks them against it).
    """
    if not emits:
        return []
    lengths = np.array([e.shape[0] for e in emits])
    S, n = len(emits), int(lengths.max())
    stacked = np.zeros((S, n, N_TAGS))
    for k, e in enumerate(emits):
        stacked[k, : e.shape[0]] = e
    back = np.zeros((S, n, N_TAGS), dtype=np.int64)  # [S, T, 21] best previous tag per (token, tag)
    rows = np.arange(S)
    score = stacked[:, 0] + START  # [S, 21]
    final = score.copy()
    for t in range(1, n):
        # `TRANSITIONS` has two kinds of column: O and B-x follow any tag, so their best predecessor is
        # the best tag; I-x follows only B-x or I-x, the better of the two (B-x on a tie: the lower id,
        # as an argmax over the full [prev, cur] table picks).
        best = score.argmax(-1)  # [S]
        from_b = score[:, B_IDS] >= score[:, I_IDS]  # [S, n_types]
        prev = np.repeat(best[:, None], N_TAGS, axis=1)
        prev[:, I_IDS] = np.where(from_b, B_IDS, I_IDS)
        back[:, t] = prev
        new = np.repeat(score[rows, best][:, None], N_TAGS, axis=1)
        new[:, I_IDS] = np.where(from_b, score[:, B_IDS], score[:, I_IDS])
        score = new + stacked[:, t]
        ends_here = lengths == t + 1
        final[ends_here] = score[ends_here]
    paths = np.zeros((S, n), dtype=np.int64)
    paths[rows, lengths - 1] = final.argmax(-1)
    for t in range(n - 1, 0, -1):
        inside = lengths > t  # token t belongs to the sequence: follow its pointer back
        step = back[rows, t, paths[:, t]]
        paths[inside, t - 1] = step[inside]
    return [paths[k, : lengths[k]] for k in range(S)]


def tag_runs(tag_ids: Sequence[int] | np.ndarray) -> list[tuple[int, int, int]]:
    """Spans of a tag path as ``(type index, first token, end token exclusive)``, in token order.

    ``B-x`` opens a span, ``I-x`` extends an open span of type x (and opens one otherwise, which a
    `bio_viterbi` path never needs), anything else (``O``, a negative ignore id) closes it.
    """
    tags = np.asarray(tag_ids, dtype=np.int64)
    if tags.size == 0:
        return []
    typ = np.where(tags > 0, (tags - 1) // 2, -1)  # [T] span type index, -1 outside spans
    is_b = (tags > 0) & (tags % 2 == 1)
    opens = (typ >= 0) & (is_b | (np.r_[-1, typ[:-1]] != typ))
    closes = (typ >= 0) & (np.r_[opens[1:], True] | (np.r_[typ[1:], -1] != typ))
    starts, ends = np.flatnonzero(opens), np.flatnonzero(closes) + 1
    return [(int(typ[s]), int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


_BRACKETS = ("()", "[]", "{}")
_QUOTES = "\"'"
_POSSESSIVES = ("'s", "\u2019s")


def _balance(text: str, start: int, end: int) -> tuple[int, int]:
    """A span's brackets paired and its quotes even: an unpaired bracket takes its partner from just
    outside the span, or else comes off the end it sits on; an odd quote at an end comes off.
    Sub-word pieces put a bracket or quote on the wrong side of a value's edge: ``098) 67859`` for
    ``(098) 67859`` (the piece " (" is outside), ``cA=="`` for ``cA==`` in ``password = "…cA=="``."""
    for pair in _BRACKETS:
        opening, closing = pair[0], pair[1]
        value = text[start:end]
        unpaired = value.count(closing) - value.count(opening)
        if unpaired > 0:
            if start > 0 and text[start - 1] == opening:
                start -= 1
            elif value.endswith(closing):
                end -= 1
        elif unpaired < 0:
            if end < len(text) and text[end] == closing:
                end += 1
            elif value.startswith(opening):
                start += 1
    for quote in _QUOTES:
        value = text[start:end]
        if value.count(quote) % 2:
            if value.endswith(quote):
                end -= 1
            elif value.startswith(quote):
                start += 1
    return start, end


_IN_DIGITS = re.compile(r"[\d\s().+/-]+")  # a value written in digits and separators only
_JOINED_WORDS = ("NAME", "ADDR")  # types whose words join with a hyphen or apostrophe
_JOINERS = "-'\u2019"


def _join_words(text: str, start: int, end: int) -> tuple[int, int]:
    """A name's or place's word goes on across a hyphen or apostrophe between letters (``Mei-Ling``,
    ``O'Brien``, ``Saint-Denis``): an end next to one moves out over the joined word."""
    while (
        end + 1 < len(text) and text[end] in _JOINERS and text[end - 1].isalpha() and text[end + 1].isalpha()
    ):
        end += 1
        while end < len(text) and text[end].isalnum():
            end += 1
    while start >= 2 and text[start - 1] in _JOINERS and text[start].isalpha() and text[start - 2].isalpha():
        start -= 1
        while start > 0 and text[start - 1].isalnum():
            start -= 1
    return start, end


_NAME_WORD = r"[^\W\d_]+(?:[-'\u2019][^\W\d_]+)*"  # letters, with a hyphen or apostrophe inside
_NEXT_NAME = re.compile(rf"[ \t]+(?:[A-Z]\.?[ \t]+)?({_NAME_WORD})")  # after a name: [initial] word
_PREV_NAME = re.compile(rf"(?<![\w'\u2019-])({_NAME_WORD})[ \t]+(?:[A-Z]\.?[ \t]+)?$")  # before a name
_NEIGHBOUR_REACH = 64  # characters looked at before a name for a word of it
_POSSESSIVE_END = re.compile(r"['\u2019]s$")


def _census_name(word: str, not_names: frozenset[str]) -> bool:
    """A capitalized word on the census name lists (`data.census`) and not in `not_names`, a possessive
    ``'s`` ignored."""
    word = _POSSESSIVE_END.sub("", word)
    return (
        word[:1].isupper()
        and not word.isupper()
        and word not in not_names
        and census_listed(word, census_names())
    )


def _census_neighbours(text: str, start: int, end: int) -> tuple[int, int]:
    """A NAME span with the census-listed words beside it (up to two on each side, a middle initial
    between allowed, spaces only): the model often stops one word short of a name (``Dickson`` of ``Clara
    R. Dickson``). Capitalized words off the lists are left alone (``Suite`` after ``Jennifer Alcaraz``, an
    organisation), and so are the lists' words that are mostly something else there (`NOT_FIRST_NAMES`
    before a name: ``Dear``, ``In``; `NOT_SURNAMES` after one: ``Street``, ``Monday``). Measured on the demo
    champion and three seeds: presidio exact span F1 +0.013..+0.017, overlap and the synthetic test split
    unchanged; any capitalized word instead of the lists' words cut test split exact by 0.035."""
    for _ in range(2):
        if _POSSESSIVE_END.search(text, max(0, end - 2), end):
            break  # a possessive ends a name
        m = _NEXT_NAME.match(text, end)
        if m is None or not _census_name(m.group(1), NOT_SURNAMES):
            break
        end = m.end(1)
    for _ in range(2):
        m = _PREV_NAME.search(text, max(0, start - _NEIGHBOUR_REACH), start)
        if m is None or _POSSESSIVE_END.search(m.group(1)) or not _census_name(m.group(1), NOT_FIRST_NAMES):
            break  # ``Moreau's personal``: a possessive is not the start of the name after it
        start = m.start(1)
    return start, end


def snap_span(text: str, start: int, end: int, span_type: str | None = None) -> tuple[int, int] | None:
    """``(start, end)`` of a decoded span fitted to `text`, or None: nothing visible is left, or no phone.

    Invisible characters (`rules.clauses.invisible`) come off both ends: a span of zero-width characters
    alone is no value, however sure the model is (obfuscated text tokenizes them one per piece, and the model
    learns that they sit inside values). Then an end that falls inside a word moves out to the word's
    edge (letters and digits; ``_`` and punctuation are edges, so ``scan_98765`` keeps its number
    apart): no value in the label set starts or stops mid-word, and a tag run that does is one sub-word
    piece short (``on written request`` for ``Upon written request``, ``1 Elm St`` for ``11 Elm St``).
    Measured on the demo model: test split exact span F1 0.918 -> 0.944, presidio 0.284 -> 0.319, with
    overlap F1 unchanged or up. A NAME's or ADDR's word also goes on across a hyphen or apostrophe
    (`_join_words`). Then brackets and quotes are balanced (`_balance`), and a NAME loses a possessive
    ``'s`` (``Moreau's`` is the name ``Moreau``). A PHONE written in digits and separators alone is dropped
    unless it has a phone number's count of digits (`checksums.PHONE_DIGITS`, the regex baseline's rule): a
    run over ``26`` or ``83393`` is no phone, while a spelled-out or encoded one (obfuscated) is kept; a
    PHONE with no digit and no digit word (`checksums.writes_digits`: ``Desaulniers``) is none either, nor
    is one right after a not-a-phone word with no phone cue (`regex_baseline.phone_context_ok`, the regex
    baseline's rule: ``order #``, ``Apt.``, ``Suite``). A PAN or SSN likewise needs a digit or a digit word
    (``FPO`` is neither); for its count of digits see `drop_lone_id_fragments`.
    """
    start, end = visible_bounds(text, start, end)
    if start == end:
        return None
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum() and text[end - 1].isalnum():
        end += 1
    if span_type in _JOINED_WORDS:
        start, end = _join_words(text, start, end)
    if span_type == "NAME":
        start, end = _census_neighbours(text, start, end)
    start, end = _balance(text, start, end)
    if span_type == "NAME" and text[start:end].endswith(_POSSESSIVES) and end - start > 2:
        end -= 2
    start, end = visible_bounds(text, start, end)
    if span_type == "PHONE" and (
        not writes_digits(text[start:end])
        or (_IN_DIGITS.fullmatch(text, start, end) and not phone_digit_count_ok(text[start:end]))
        or not phone_context_ok(text, start)
    ):
        return None
    if span_type in ID_TYPES and not writes_digits(text[start:end]):
        return None
    return (start, end) if start < end else None


def decode_spans(
    tag_logits: np.ndarray, offsets: Sequence[tuple[int, int]], text: str | None = None
) -> list[tuple[str, int, int, float]]:
    """Character spans ``(type, start, end, score)`` from per-token tag logits ``[T, 21]``.

    The `bio_viterbi` path cut into `tag_runs`; a run covers its first token's start to its last
    token's end, so a value split into several sub-word pieces is one span (whitespace between pieces
    included). With the encoded `text`, each span is `snap_span`-ed to it (and dropped when nothing
    visible is left). ``score`` is the mean over the run's tokens of the probability of its type
    (``p(B-x) + p(I-x)``): how sure the model is that these tokens are a value of this type.
    """
    return decode_spans_many([(tag_logits, offsets, text)])[0]


def decode_spans_many(
    items: Sequence[tuple[np.ndarray, Sequence[tuple[int, int]], str | None]],
) -> list[list[tuple[str, int, int, float]]]:
    """`decode_spans` of several messages ``(tag_logits, offsets, text)``, their paths found together
    (`_bio_paths`): the scanner decodes a batch in one call."""
    emits = []
    for tag_logits, offsets, _ in items:
        if np.shape(tag_logits)[0] != len(offsets):
            raise ValueError(f"{np.shape(tag_logits)[0]} tokens of logits for {len(offsets)} offsets")
        emits.append(log_softmax(tag_logits))
    out: list[list[tuple[str, int, int, float]]] = []
    for emit, path, (_, offsets, text) in zip(emits, _bio_paths(emits), items, strict=True):
        runs = tag_runs(path)
        spans: list[tuple[str, int, int, float]] = []
        if runs:
            probs = np.exp(emit)  # [T, 21]
            type_prob = probs[:, B_IDS] + probs[:, I_IDS]  # [T, n_types]
            for x, s, e in runs:
                span: tuple[int, int] | None = (int(offsets[s][0]), int(offsets[e - 1][1]))
                if text is not None and span is not None:
                    span = snap_span(text, *span, SPAN_TYPES[x])
                if span is None:
                    continue
                score = float(type_prob[s:e, x].mean())
                if text is not None and SPAN_TYPES[x] == "NDA":
                    spans.extend(("NDA", cs, ce, score) for cs, ce in clause_extents(text, *span))
                elif text is not None and SPAN_TYPES[x] == "NAME":
                    spans.extend(("NAME", ns, ne, score) for ns, ne in name_pieces(text, *span))
                else:
                    spans.append((SPAN_TYPES[x], span[0], span[1], score))
        out.append(drop_lone_id_fragments(join_spans(spans, text), text) if text is not None else spans)
    return out


ID_TYPES = ("PAN", "SSN")
ID_FRAGMENT_GAP = 12  # characters between two pieces of one split value ("453 then 201", "4532\n0151")


def drop_lone_id_fragments(
    spans: list[tuple[str, int, int, float]], text: str
) -> list[tuple[str, int, int, float]]:
    """`spans` without a PAN or SSN written in digits and separators alone with fewer digits than any card or
    SSN keeps (`checksums.ID_MIN_DIGITS`: an age, ``29``, is no SSN) and no other span of its type within
    `ID_FRAGMENT_GAP` characters. A value spread over pieces (``453 then 201 then ...``, the obfuscation the
    generator writes in chunks of 2 to 4 digits) is decoded as pieces of 2-4 digits side by side: those stay.
    """

    def lone_fragment(i: int) -> bool:
        kind, start, end, _ = spans[i]
        if (
            kind not in ID_TYPES
            or not _IN_DIGITS.fullmatch(text, start, end)
            or id_digit_count_ok(text[start:end])
        ):
            return False
        near = [
            sp
            for j, sp in enumerate(spans)
            if j != i
            and sp[0] == kind
            and sp[1] - ID_FRAGMENT_GAP <= end
            and start - ID_FRAGMENT_GAP <= sp[2]
        ]
        return not near

    return [sp for i, sp in enumerate(spans) if not lone_fragment(i)]


_CONJUNCTION = re.compile(r"\s+(?:and|or|&)\s+")
_LIST_COMMA = re.compile(r",\s*")
_WORD = re.compile(r"\S+")
# Lower-case words that begin a surname ("van Gogh", "da Costa"); any other lower-case first word is not a name's.
# fmt: off
NAME_PARTICLES = frozenset({"al", "bin", "da", "das", "de", "del", "della", "den", "der", "di", "do", "dos", "du", "el",
                            "ibn", "la", "le", "ten", "ter", "van", "von", "y"})
# fmt: on


def name_pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The names in a NAME run fitted to `text`: one, or several when the run covers a list.

    A name has no conjunction in it, so a run is cut at ``and`` / ``or`` / ``&`` (``Doyle and Gonzalez``);
    and at its commas when it has two or more (``Gaetane, Hannah, Anthony, Derek``), while one comma may be a
    name written surname first (``Ruiz, Mateo``). A piece with a capitalized word loses the lower-case words
    at its ends (``Julian Azevedo concert``, ``commenter Stephan Fenstermacher``), except a surname's particle
    in front (``van``, ``da``: `NAME_PARTICLES`); a piece of lower-case words only (a chat name, ``jack``)
    stays. No gold NAME in the presidio set has a comma, a conjunction or a lower-case word at an end; in
    the lake's examples 33 of 3,993 are ``Surname, First`` (kept) and 10 carry a Faker quirk (a ``pani``
    title, a trailing ``van``). Measured on top of the other decoding rules on eight checkpoints (two demo
    champions, six seeds on two lakes): presidio exact span F1 +0.001 to +0.038, never lower, the test
    split unchanged or up.
    """
    pieces = []
    for a, b in _cut(text, start, end, _CONJUNCTION, 1):
        pieces.extend(_cut(text, a, b, _LIST_COMMA, 2))
    out = []
    for a, b in pieces:
        words = [m.span() for m in _WORD.finditer(text, a, b)]
        if any(text[w].isupper() for w, _ in words):
            while len(words) > 1 and text[words[-1][0]].islower():
                words.pop()
            while (
                len(words) > 1
                and text[words[0][0]].islower()
                and text[slice(*words[0])] not in NAME_PARTICLES
            ):
                words.pop(0)
        if words:
            a, b = words[0][0], words[-1][1]
            while b > a and text[b - 1] in ",;:":
                b -= 1
            if b > a:
                out.append((a, b))
    return out


def _cut(text: str, start: int, end: int, sep: re.Pattern[str], at_least: int) -> list[tuple[int, int]]:
    """``text[start:end]`` cut at `sep`, when it occurs `at_least` times; else the whole."""
    found = list(sep.finditer(text, start, end))
    if len(found) < at_least:
        return [(start, end)]
    cuts = [start, *(x for m in found for x in m.span()), end]
    return [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts), 2) if cuts[i + 1] > cuts[i]]


_NAME_GAP = re.compile(r"[ \t]+")  # what may stand between two runs of one name


def join_spans(spans: Sequence[tuple[str, int, int, float]], text: str) -> list[tuple[str, int, int, float]]:
    """Decoded spans fitted to `text`, with the pieces of one value made one span, in text order.

    Fitting runs to the text can make two runs of one type overlap or meet (``Mei`` and ``-Ling`` both
    become ``Mei-Ling``; two runs in one clause both become the clause): they are one value. And the
    model sometimes opens a second NAME run at a surname (``B-NAME`` on ``Gupta`` in ``Luca Gupta``):
    two NAME spans with only spaces between them are one name (no gold label in the lake's examples or
    the presidio set has two people's names side by side with only a space between). The joined span's
    score is its pieces' scores weighted by their lengths.
    """
    out: list[tuple[str, int, int, float]] = []
    for span in sorted(spans, key=lambda sp: (sp[1], sp[2])):
        kind, start, end, score = span
        if out and out[-1][0] == kind:
            _, p_start, p_end, p_score = out[-1]
            if start <= p_end or (kind == "NAME" and _NAME_GAP.fullmatch(text, p_end, start)):
                a, b = p_end - p_start, end - start
                out[-1] = (kind, p_start, max(p_end, end), (p_score * a + score * b) / (a + b))
                continue
        out.append(span)
    return out
