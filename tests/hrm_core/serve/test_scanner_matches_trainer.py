"""One windowing rule: the scanner and the trainer's `predict_rows` give the same merged outputs.

Calibration is fitted on `predict_rows` logits and production serves the scanner's, so the two must be
the same statistic: same windows, same doc-score merge (``min`` for context), same tag merge and the
same thread memory handed to the next message.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hrm_core.serve.scanner as scanner_mod
from hrm_core.data.dsl import serialize_example
from hrm_core.model.train_data import TokenizedSet
from hrm_core.model.trainer import predict_rows
from hrm_core.serve.scanner import Scanner, TorchEngine, parse_scan_request
from hrm_core.tokens.decoding import bio_viterbi
from hrm_core.tokens.features import candidate_tags
from hrm_core.tokens.windows import default_overlap, window_starts
from tests.hrm_core.serve.scan_fixtures import TINY_MAX_LEN, default_policy, tiny_model, tiny_tokenizer


def _ids(tok, message: dict) -> np.ndarray:
    text = serialize_example(parse_scan_request(message).to_example()).text
    return np.asarray(tok.encode(text)[0], dtype=np.int64)


def _candidates(tok, message: dict) -> np.ndarray:
    """The recognizer channel as the tokenized table stores it (`features.candidate_tags`)."""
    serialized = serialize_example(parse_scan_request(message).to_example())
    return np.asarray(candidate_tags(serialized, tok.encode(serialized.text)[1]), dtype=np.int64)


def _three_window_body(tok) -> str:
    """The shortest body of numbered invoice lines whose message cuts into exactly three windows."""
    for k in range(1, 200):
        body = "card 4111 1111 1111 1111. " + " ".join(
            f"invoice {i} for account {1000 + 37 * i} is due" for i in range(k)
        )
        n = len(_ids(tok, {"body": body}))
        if len(window_starts(n, TINY_MAX_LEN, default_overlap(TINY_MAX_LEN))) == 3:
            return body
    raise AssertionError("no body gives three windows")


def _tokenized(rows: list[np.ndarray], candidates: list[np.ndarray]) -> TokenizedSet:
    """A one-thread TokenizedSet: row k is message k of thread "t" (row k-1 is its predecessor)."""
    n = len(rows)
    return TokenizedSet(
        ids=[f"m{k}" for k in range(n)],
        split=np.array(["val"] * n, dtype=object),
        thread_index=np.arange(n),
        input_ids=rows,
        bio=[np.zeros(len(r), dtype=np.int64) for r in rows],
        candidates=candidates,
        dest_evidence=[np.full(len(r), -1, dtype=np.int64) for r in rows],
        doc_labels=np.zeros((n, 4), dtype=np.int64),
        types_present=np.zeros((n, 10), dtype=np.int64),
        hard_negative=np.zeros(n, dtype=bool),
        obfuscated=np.zeros(n, dtype=bool),
        shuffled=np.zeros(n, dtype=np.int64),
        prev_row=np.arange(n) - 1,
    )


@pytest.mark.parametrize("repeat_header", [False, True])
def test_scanner_and_predict_rows_merge_three_windows_the_same_way(monkeypatch, repeat_header):
    tok = tiny_tokenizer()
    model = tiny_model(tok)
    if repeat_header:  # every window after the first starts with the message's header again
        model.cfg = model.cfg.with_(body_tag_id=tok.body_tag_id)
    messages = [
        {"body": _three_window_body(tok), "thread_id": "t"},
        {"body": "see above", "thread_id": "t"},  # seeded by the first's memory
    ]
    ids = [_ids(tok, m) for m in messages]
    assert [len(window_starts(len(x), TINY_MAX_LEN, TINY_MAX_LEN // 4)) for x in ids] == [3, 1]

    # The scanner's merged tag logits, seen where it decodes them, through the decoder validation uses.
    seen_tags: list[np.ndarray] = []
    decode = scanner_mod.decode_spans_many

    def spy(items):
        seen_tags.extend(bio_viterbi(tag_logits) for tag_logits, _, _ in items)
        return decode(items)

    monkeypatch.setattr(scanner_mod, "decode_spans_many", spy)
    # The model's own scores (no workflow veto on context): this test pins down the window merge.
    scanner = Scanner.over_model(model, tok, default_policy(), calibrate=lambda z: z, workflow_veto=False)
    assert scanner.max_len == TINY_MAX_LEN and scanner.body_tag_id == model.cfg.body_tag_id
    head = scanner._prepare(parse_scan_request(messages[0])).head
    assert (head > 3) == repeat_header  # channel, user, body tags at least
    cands = [_candidates(tok, m) for m in messages]
    assert model.cfg.use_candidates and cands[0].any()  # the card is a candidate in both paths
    served = scanner.scan_batch(messages)

    doc, tags = predict_rows(
        model, _tokenized(ids, cands), np.arange(2), torch.device("cpu"), overlap=TINY_MAX_LEN // 4
    )
    for k, result in enumerate(served):
        scores = [result["scores"][h] for h in ("sensitivity", "exposure", "context", "obfuscation")]
        assert scores == pytest.approx(doc[k].tolist(), abs=1e-5), f"message {k}"
        assert seen_tags[k].tolist() == tags[k].tolist(), f"message {k}"
    # The windows disagree on every head, so the merge rule is what this test pins down.
    per_window = TorchEngine(model).run(
        np.stack([ids[0][s : s + TINY_MAX_LEN] for s in window_starts(len(ids[0]), TINY_MAX_LEN, 16)]),
        np.ones((3, TINY_MAX_LEN), dtype=np.int64),
        np.zeros((3, model.cfg.memory_dim), dtype=np.float32),
    )
    assert np.all(per_window.doc_logits.max(0) - per_window.doc_logits.min(0) > 1e-4)
