import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hrm_core.tokens.windows import (
    default_overlap,
    header_length,
    merge_doc_scores,
    merge_window_tag_logits,
    run_windows,
    window_bounds,
    window_indices,
    window_length,
    window_owner_bounds,
    window_starts,
)


@pytest.mark.parametrize(
    ("n", "max_len", "overlap", "expected"),
    [
        (0, 4, 1, [0]),
        (3, 4, 1, [0]),
        (4, 4, 1, [0]),
        (10, 4, 1, [0, 3, 6]),
        (11, 4, 1, [0, 3, 6, 7]),
        (10, 4, 2, [0, 2, 4, 6]),
        (9, 4, 0, [0, 4, 5]),
    ],
)
def test_window_starts_closed_form(n, max_len, overlap, expected):
    assert window_starts(n, max_len, overlap) == expected


@given(n=st.integers(0, 500), max_len=st.integers(1, 64), data=st.data())
def test_windows_cover_every_token_with_full_windows(n, max_len, data):
    overlap = data.draw(st.integers(0, max_len - 1))
    starts = window_starts(n, max_len, overlap)
    covered = set()
    for s in starts:
        covered.update(range(s, min(s + max_len, n)))
    assert covered == set(range(n))
    if n > max_len:
        assert len(starts) == 1 + math.ceil((n - max_len) / (max_len - overlap))
        assert all(s + max_len <= n for s in starts)  # no window runs past the end
    bounds = window_owner_bounds(starts, n, max_len)
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(bounds[i][1] == bounds[i + 1][0] for i in range(len(bounds) - 1))  # a partition
    for s, (lo, hi) in zip(starts, bounds, strict=True):
        assert s <= lo <= hi <= s + max_len  # each window only supplies tokens it has seen


def test_window_starts_rejects_bad_overlap():
    with pytest.raises(ValueError):
        window_starts(10, 4, 4)


def test_merge_tag_logits_takes_each_token_from_its_most_central_window():
    n, max_len = 10, 4
    starts = window_starts(n, max_len, overlap=2)  # [0, 2, 4, 6]
    # Window w reports logit 100*w + absolute token position in a 2-tag output.
    windows = [
        np.stack([np.arange(s, s + max_len) + 100 * w] * 2, axis=1).astype(np.float32)
        for w, s in enumerate(starts)
    ]
    merged = merge_window_tag_logits(windows, starts, n, max_len)
    owner = (merged[:, 0] // 100).astype(int)
    # Overlaps [2,4), [4,6), [6,8) are cut at their midpoints 3, 5, 7.
    assert owner.tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3, 3]
    assert (merged[:, 0] % 100).tolist() == list(range(n))  # every token gets its own position back
    assert merged.shape == (n, 2)


def test_merge_tag_logits_ignores_padding_of_a_short_window():
    windows = [np.array([[1.0], [2.0], [-9.0], [-9.0]])]  # 2 real tokens, padded to max_len 4
    assert merge_window_tag_logits(windows, [0], 2, 4).tolist() == [[1.0], [2.0]]


def test_merge_doc_scores_max_for_risk_heads_min_for_context():
    scores = np.array([[0.1, 0.9, 0.8, 0.0], [0.7, 0.2, 0.3, 0.4]])
    assert merge_doc_scores(scores).tolist() == [0.7, 0.9, 0.3, 0.4]
    assert merge_doc_scores(scores, reducers={"context": "mean"}).tolist() == pytest.approx(
        [0.7, 0.9, 0.55, 0.4]
    )


def test_merge_doc_scores_single_window_is_identity():
    assert merge_doc_scores([[0.2, 0.3, 0.4, 0.5]]).tolist() == [0.2, 0.3, 0.4, 0.5]
    with pytest.raises(ValueError):
        merge_doc_scores(np.zeros((0, 4)))
    with pytest.raises(ValueError):
        merge_doc_scores([[0.2, 0.3, 0.4, 0.5]], reducers={"context": "median"})


def test_default_overlap_and_bounds():
    assert [default_overlap(n) for n in (64, 512, 1024)] == [16, 128, 256]
    assert window_bounds(10, 64, 16) == [(0, 10)]
    assert window_bounds(150, 64, 16) == [(0, 64), (48, 112), (86, 150)]


class WindowEcho:
    """A runner whose outputs name the window: token ids are absolute positions + 1, so ``f`` (the first
    id of a window) is its start + 1. doc = [f, -f, f, f]; span = [position + 1, f]; memory = seed + f;
    probe = [f, -f]. Records every batch's shape and how many rows were real."""

    def __init__(self, probe: bool = True) -> None:
        self.calls: list[tuple[tuple[int, int], int]] = []
        self.candidates: list[np.ndarray] = []
        self.probe = probe

    def __call__(
        self, ids: np.ndarray, mask: np.ndarray, seed: np.ndarray, cand: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        self.calls.append((ids.shape, int((mask.sum(1) > 0).sum())))
        self.candidates.append(cand.copy())
        assert np.all(ids[mask == 0] == 0)  # padding is pad_id, masked out
        f = ids[:, :1].astype(np.float32)  # [B, 1]
        doc = np.concatenate([f, -f, f, f], axis=1)  # [B, 4]
        span = np.stack([ids.astype(np.float32), np.broadcast_to(f, ids.shape)], axis=-1)  # [B, T, 2]
        out = (doc, span, seed + f)
        return (*out, np.concatenate([f, -f], axis=1)) if self.probe else out


def test_run_windows_merges_doc_tags_memory_and_probe_by_the_module_rules():
    seqs = [np.arange(1, 151), np.arange(1, 11)]  # 150 tokens -> windows at 0, 48, 86; 10 tokens -> one
    seeds = np.array([[0.0, 1.0], [5.0, 5.0]], dtype=np.float32)
    # multiple=64: whole windows only, so they keep their full length (shrinking: the tests below).
    a, b = run_windows(WindowEcho(), seqs, seeds, max_len=64, overlap=16, multiple=64)
    assert a.starts == [0, 48, 86] and b.starts == [0]
    f = np.array([1.0, 49.0, 87.0])  # the windows' first ids
    # Risk heads: max over windows; context: min (here -f's max is -1, context's min is 1).
    assert a.doc_logits.tolist() == [87.0, -1.0, 1.0, 87.0]
    assert a.tag_logits[:, 0].tolist() == list(range(1, 151))  # every token its own logits back
    owner = a.tag_logits[:, 1]
    assert owner[:56].tolist() == [1.0] * 56  # cut at (48 + 64) // 2 = 56
    assert owner[56:99].tolist() == [49.0] * 43 and owner[99:].tolist() == [87.0] * 51  # (86 + 112) // 2
    assert a.memory.tolist() == pytest.approx([f.mean(), 1 + f.mean()])  # mean over windows
    assert a.probe_logits.tolist() == [87.0, -1.0]  # max over windows
    assert b.doc_logits.tolist() == [1.0, -1.0, 1.0, 1.0] and b.memory.tolist() == [6.0, 6.0]
    assert b.tag_logits.shape == (10, 2)
    none = run_windows(WindowEcho(probe=False), seqs[1:], seeds[1:], max_len=64)
    assert none[0].probe_logits is None


def test_run_windows_results_do_not_depend_on_batching():
    seqs = [np.arange(1, n + 1) for n in (150, 10, 64, 65, 200)]
    seeds = np.zeros((5, 2), dtype=np.float32)
    ref = run_windows(WindowEcho(), seqs, seeds, max_len=64, overlap=16, batch_size=100)
    one, fixed = WindowEcho(), WindowEcho()
    for runner, kwargs in ((one, {"batch_size": 1}), (fixed, {"fixed_batch": 4, "fixed_len": 80})):
        got = run_windows(runner, seqs, seeds, max_len=64, overlap=16, **kwargs)
        for r, g in zip(ref, got, strict=True):
            np.testing.assert_array_equal(r.doc_logits, g.doc_logits)
            np.testing.assert_array_equal(r.tag_logits, g.tag_logits)
            np.testing.assert_array_equal(r.memory, g.memory)
    n_windows = sum(len(r.starts) for r in ref)  # 3 + 1 + 1 + 2 + 4
    assert n_windows == 11 and len(one.calls) == 11
    # A static graph gets exactly its shape every call; the last call carries 3 real rows.
    assert [c[0] for c in fixed.calls] == [(4, 80)] * 3 and [c[1] for c in fixed.calls] == [4, 4, 3]


def test_run_windows_rejects_what_it_cannot_window():
    echo, seed = WindowEcho(), np.zeros((1, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="empty"):
        run_windows(echo, [np.array([], dtype=np.int64)], seed, max_len=8)
    with pytest.raises(ValueError, match="one memory seed per sequence"):
        run_windows(echo, [np.arange(1, 4)] * 2, seed, max_len=8)
    with pytest.raises(ValueError, match="fixed length"):
        run_windows(echo, [np.arange(1, 4)], seed, max_len=8, fixed_len=4)


def test_run_windows_cuts_candidate_tags_with_the_same_windows():
    seqs = [np.arange(1, 151)]  # windows at 0, 48, 86 (max_len 64, overlap 16)
    cand = [np.arange(1, 151) % 21]  # tag i % 21 on token i - 1
    echo = WindowEcho()
    run_windows(
        echo, seqs, np.zeros((1, 2), np.float32), max_len=64, overlap=16, candidates=cand, multiple=64
    )
    (batch,) = echo.candidates
    assert batch.shape == (3, 64)
    for row, start in zip(batch, (0, 48, 86), strict=True):
        assert row.tolist() == (np.arange(start + 1, start + 65) % 21).tolist()
    echo = WindowEcho()
    run_windows(echo, seqs, np.zeros((1, 2), np.float32), max_len=64, overlap=16)
    assert not echo.candidates[0].any()  # no candidates: zeros
    with pytest.raises(ValueError, match="one candidate tag per token"):
        run_windows(echo, seqs, np.zeros((1, 2), np.float32), max_len=64, candidates=[np.zeros(10)])


def test_header_length_is_through_the_first_body_tag_capped_at_a_quarter_window():
    seq = np.arange(1, 151)  # the "<BODY>" tag is id 6, at index 5
    assert header_length(seq, 6, 64) == 6
    assert header_length(np.r_[seq[:5], 6, seq[6:40], 6, seq[40:]], 6, 64) == 6  # a quoted tag comes later
    assert header_length(seq, 41, 64) == 16  # 41 tokens of header: the first quarter window repeats
    assert header_length(seq, 6, 150) == 0  # fits one window: nothing to repeat
    assert header_length(seq, 999, 64) == 0 and header_length(seq, -1, 64) == 0  # no tag / v1 model


def test_windows_with_a_header_repeat_it_and_still_give_every_token_its_own_logits():
    seq, head = np.arange(1, 151), 6
    starts = window_starts(150, 64, 16, head)
    # The tokens after the header slide in windows of 58 with the overlap less the header (16 - 6): the
    # same rule, shifted by the header. Header and overlap together repeat 16 tokens, as the overlap did.
    assert starts == [head + s for s in window_starts(144, 58, 10)] == [6, 54, 92]
    assert len(starts) == len(window_starts(150, 64, 16)) == 3
    assert window_indices(6, 150, 64, head).tolist() == list(range(64))  # the first window is the prefix
    assert window_indices(54, 150, 64, head).tolist() == [*range(6), *range(54, 112)]
    seen: list[np.ndarray] = []

    def record(ids, mask, seed, cand):
        seen.extend(row[m > 0] for row, m in zip(ids, mask, strict=True))
        return WindowEcho()(ids, mask, seed, cand)

    cand = [np.arange(150) % 3]
    (out,) = run_windows(record, [seq], np.zeros((1, 2), np.float32), max_len=64, overlap=16,
                         candidates=cand, heads=[head], multiple=64)  # fmt: skip
    assert out.starts == starts and [len(w) for w in seen] == [64] * 3
    assert all(w[:head].tolist() == [1, 2, 3, 4, 5, 6] for w in seen)  # sender, recipients... each time
    assert out.tag_logits[:, 0].tolist() == list(range(1, 151))  # each token back from its owner
    # Owners: the first window supplies the header and its slice up to the midpoint cut.
    assert window_owner_bounds(starts, 150, 64, head) == [(0, 59), (59, 102), (102, 150)]
    # Shrunk (segments of 1): three windows of 61 each still open with the header.
    seen.clear()
    (out,) = run_windows(record, [seq], np.zeros((1, 2), np.float32), max_len=64, overlap=16, heads=[head])
    assert [len(w) for w in seen] == [61] * 3 and all(w[:head].tolist() == [1, 2, 3, 4, 5, 6] for w in seen)
    assert out.tag_logits[:, 0].tolist() == list(range(1, 151))


@given(n=st.integers(1, 400), head=st.integers(0, 63), overlap=st.integers(0, 63))
def test_header_windows_cover_every_token_within_the_window_length(n, head, overlap):
    head = head if n > 64 else 0  # `header_length` never repeats anything for a sequence that fits
    # (`header_length` caps the header at a quarter window; any header short of the window must work)
    starts = window_starts(n, 64, overlap, head)
    covered = np.zeros(n, dtype=bool)
    for s in starts:
        idx = window_indices(s, n, 64, head)
        assert len(idx) <= 64 and (np.diff(idx) > 0).all()
        covered[idx] = True
    assert covered.all()
    lo_hi = window_owner_bounds(starts, n, 64, head)
    assert lo_hi[0][0] == 0 and lo_hi[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(lo_hi))


def test_a_header_as_long_as_the_window_is_a_clear_error():
    with pytest.raises(ValueError, match="repeated header of 64 tokens"):
        window_starts(150, 64, 16, 64)


@given(n=st.integers(1, 2000), head=st.integers(0, 40), data=st.data())
def test_window_length_is_the_shortest_that_needs_no_more_windows(n, head, data):
    max_len = data.draw(st.integers(head + 2, 128))
    overlap = data.draw(st.integers(0, max_len - 1))
    multiple = data.draw(st.sampled_from([1, 8, 32]))
    head = head if n > max_len else 0  # `header_length`: no header for a message that fits
    length = window_length(n, max_len, overlap, head, multiple)
    full = window_starts(n, max_len, overlap, head)
    starts = window_starts(n, length, overlap, head)
    assert length <= max_len and len(starts) == len(full)
    if len(full) == 1:
        assert length == max_len
        return
    assert length == max_len or length % multiple == 0
    shorter = length - multiple if multiple > 1 else length - 1
    if length < max_len and shorter > max(overlap, head):
        assert len(window_starts(n, shorter, overlap, head)) > len(full)  # one segment less needs more
    covered = np.zeros(n, dtype=bool)
    for s in starts:
        covered[window_indices(s, n, length, head)] = True
    assert covered.all()
    body = [(s, min(s + length - head, n)) for s in starts]
    kept = overlap if head == 0 else min(length - head - 1, max(overlap - head, overlap // 2))
    assert all(a_end - b_start >= kept for (_, a_end), (b_start, _) in itertools.pairwise(body))


def test_run_windows_shrinks_windows_to_whole_segments_and_gives_the_same_tokens_back():
    # Windows of 64 overlapping by 16. 150 tokens take three windows at any length from 61 up, so they
    # shrink to 61, or stay 64 in segments of 32. 100 tokens take two from 58 up: 64 in segments of 8.
    # 70 tokens take two from 43 up: 48 in segments of 8, i.e. 96 tokens run instead of 128.
    seqs, seeds = [np.arange(1, 151)], np.zeros((1, 2), dtype=np.float32)
    assert window_length(150, 64, 16) == 61 and window_length(150, 64, 16, multiple=32) == 64
    assert window_length(100, 64, 16, multiple=8) == 64  # two windows: 58 -> 64
    assert window_length(70, 64, 16, multiple=8) == 48  # 43 -> 48: two windows of 48, not 64
    echo = WindowEcho()
    (a,) = run_windows(echo, [np.arange(1, 71)], seeds, max_len=64, overlap=16, multiple=8, batch_size=1)
    assert a.starts == [0, 22] and [shape for shape, _ in echo.calls] == [(1, 48), (1, 48)]
    assert a.tag_logits[:, 0].tolist() == list(range(1, 71))  # every token its own logits back
    owner = a.tag_logits[:, 1]
    assert owner[:35].tolist() == [1.0] * 35 and owner[35:].tolist() == [23.0] * 35  # cut at (22+48)//2
    (b,) = run_windows(WindowEcho(), seqs, seeds, max_len=64, overlap=16)
    assert b.starts == [0, 45, 89] and b.tag_logits[:, 0].tolist() == list(range(1, 151))
