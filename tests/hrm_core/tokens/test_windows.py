import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hrm_core.tokens.windows import (
    merge_doc_scores,
    merge_window_tag_logits,
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
