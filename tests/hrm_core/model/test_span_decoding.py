"""Validation decodes spans as the scanner does: `evaluate`'s whole-span figures, and one decoder for both."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import hrm_core.tokens.decoding as decoding
from hrm_core.data.contract import TAG_TO_ID
from hrm_core.data.dsl import serialize_example
from hrm_core.model.hrm import ModelConfig
from hrm_core.model.train_data import TokenizedSet
from hrm_core.model.trainer import evaluate, predict_rows
from hrm_core.serve.scanner import Scanner, TorchEngine, parse_scan_request
from tests.hrm_core.serve.scan_fixtures import TINY_MAX_LEN, default_policy, tiny_model, tiny_tokenizer


def _tag_logits(**mass: float) -> np.ndarray:
    p = np.full(21, 1e-4)
    for name, v in mass.items():
        p[TAG_TO_ID[name.replace("_", "-")]] = v
    p[0] = 0.0
    p[0] = 1.0 - p.sum()
    return np.log(p)


class LookupModel(torch.nn.Module):
    """Tag logits looked up by token id (`TABLE`), doc logits and memory zero: predictions known in advance."""

    TABLE = np.stack([
        _tag_logits(),                       # 0: O
        _tag_logits(B_PAN=0.8),              # 1
        _tag_logits(I_SSN=0.5, I_PAN=0.4),   # 2: argmax flips the type mid-value
        _tag_logits(I_PAN=0.8),              # 3
        _tag_logits(B_NAME=0.9),             # 4
    ])  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.cfg = ModelConfig(
            vocab_size=8, max_len=16, d_model=8, n_heads=1, n_fast_layers=1, n_slow_blocks=1
        )
        self.table = torch.tensor(self.TABLE, dtype=torch.float32)

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, seed: torch.Tensor, cand: torch.Tensor | None = None
    ) -> SimpleNamespace:
        b = ids.shape[0]
        return SimpleNamespace(
            doc_logits=torch.zeros(b, 4),
            span_logits=self.table[ids],
            memory=torch.zeros(b, self.cfg.memory_dim),
        )


def _set(ids: list[list[int]], bio: list[list[str]], types_present: list[list[int]]) -> TokenizedSet:
    n = len(ids)
    return TokenizedSet(
        ids=[f"m{k}" for k in range(n)],
        split=np.array(["val"] * n, dtype=object),
        thread_index=np.zeros(n, dtype=np.int64),
        input_ids=[np.asarray(x, dtype=np.int64) for x in ids],
        bio=[np.asarray([TAG_TO_ID[t] if t != "X" else -100 for t in row], dtype=np.int64) for row in bio],
        doc_labels=np.full((n, 4), -1, dtype=np.int64),
        types_present=np.asarray(types_present, dtype=np.int64),
        hard_negative=np.zeros(n, dtype=bool),
        obfuscated=np.zeros(n, dtype=bool),
        shuffled=np.zeros(n, dtype=np.int64),
        prev_row=np.full(n, -1),
    )


def test_evaluate_scores_whole_decoded_spans_exact_and_overlap():
    all_types = [1] * 10
    only_pan = [1 if k == 2 else -1 for k in range(10)]  # a source that annotates PAN alone
    data = _set(
        ids=[[0, 1, 2, 3, 0], [4, 0, 0], [4, 1, 3]],
        bio=[
            ["O", "B-PAN", "I-PAN", "I-PAN", "O"],  # the flip decodes to the whole PAN: exact hit
            ["B-NAME", "I-NAME", "O"],  # predicted NAME covers one token of two: overlap only
            ["X", "B-PAN", "I-PAN"],  # the NAME prediction is of a type this source does not score
        ],
        types_present=[all_types, all_types, only_pan],
    )
    m = evaluate(LookupModel(), data, np.arange(3), torch.device("cpu"))
    exact, overlap = m["spans"]["exact"]["micro"], m["spans"]["overlap"]["micro"]
    assert (exact["tp"], exact["fp"], exact["fn"]) == (2, 1, 1)
    assert exact["f1"] == pytest.approx(2 / 3)
    assert (overlap["tp"], overlap["fp"], overlap["fn"]) == (3, 0, 0)
    assert m["spans"]["exact"]["per_type"]["PAN"]["f1"] == 1.0
    assert m["spans"]["exact"]["per_type"]["NAME"]["f1"] == 0.0
    # Token-level figures stay: every gold token of row 0 is tagged PAN along the decoded path.
    assert m["spans_token"]["per_type"]["PAN"]["recall"] == 1.0
    assert "SSN" not in {t for t, v in m["spans_token"]["per_type"].items() if v["fp"]}


def test_validation_and_the_scanner_call_one_decoder(monkeypatch):
    tok = tiny_tokenizer()
    model = tiny_model(tok)
    message = {"body": "Card 4111 1111 1111 1111 for Ann Lee, ann@corp.example, SSN 123-45-6789."}
    ids = np.asarray(tok.encode(serialize_example(parse_scan_request(message).to_example()).text)[0])
    calls: list[tuple[str, np.ndarray]] = []
    original = decoding._bio_paths  # what `bio_viterbi` and `decode_spans_many` both decode with

    def spy(emits: list[np.ndarray]) -> list[np.ndarray]:
        paths = original(emits)
        calls.extend((caller, path) for path in paths)
        return paths

    monkeypatch.setattr(decoding, "_bio_paths", spy)
    caller = "scanner"
    scanner = Scanner(TorchEngine(model), tok, default_policy(), max_len=TINY_MAX_LEN,
                      window_multiple=model.cfg.slow_update_stride)  # fmt: skip
    result = scanner.scan(message)
    caller = "trainer"
    data = _set([ids.tolist()], [["O"] * len(ids)], [[1] * 10])
    _, tags = predict_rows(model, data, np.arange(1), torch.device("cpu"), overlap=TINY_MAX_LEN // 4)

    assert [c for c, _ in calls] == ["scanner", "trainer"]
    assert calls[0][1].tolist() == calls[1][1].tolist() == tags[0].tolist()
    # Each served span is one decoded run clipped to a field (runs over DSL tags alone are dropped).
    assert len(result["spans"]) <= len(decoding.tag_runs(tags[0]))
