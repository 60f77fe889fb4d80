"""A trained tiny bundle scores hidden values (base64 / homoglyph / zero-width) with `obfuscation` high.

End to end with real parts: synthetic examples with many obfuscated positives -> thread-keyed splits
-> SentencePiece tokenizer on the DSL texts -> tokenized table -> a small HRM-DLP trained for a bounded
number of steps -> temperature calibration on validation logits -> ONNX export + int8 -> bundle ->
`Scanner.from_bundle`. Hand-written messages then carry the same SSN / card / key once in plain form
and once hidden; the hidden forms must score clearly higher on the obfuscation head.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hrm_core.data.dsl import serialize_example
from hrm_core.data.splits import assign_split
from hrm_core.model.hrm import ModelConfig
from hrm_core.model.train_data import load_tokenized
from hrm_core.model.trainer import TrainConfig, model_from_checkpoint, predict_rows, train
from hrm_core.release.bundle import write_bundle
from hrm_core.release.calibration import TemperatureCalibrator
from hrm_core.release.export import export_onnx, quantize_int8
from hrm_core.serve.scanner import Scanner
from hrm_core.synth import SynthConfig, generate_examples
from hrm_core.synth.obfuscation import insert_zero_width, to_base64, to_homoglyphs
from hrm_core.tokens.features import build_tokenized_table
from hrm_core.tokens.tokenizer import DlpTokenizer, train_tokenizer

pytestmark = pytest.mark.slow

N_EXAMPLES = 1000
# Many hidden values, no threads (every message stands alone), so the head sees enough positives.
SYNTH = SynthConfig(positive_rate=0.6, hard_negative_rate=0.2, obfuscation_rate=0.7, thread_share=0.0)

# (template, value, the hiding techniques that fit it): the value sits where the message says it is.
MESSAGES: list[tuple[str, str, tuple[str, ...]]] = [
    ("Hi, payroll needs the employee SSN {v} before Friday's run.", "123-45-6789", ("base64", "zero_width")),
    ("Please charge the renewal to card {v} today, thanks.", "4111 1111 1111 1111", ("base64", "zero_width")),
    (
        "Here is the deploy key for prod, do not share: {v}",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        ("base64", "homoglyph", "zero_width"),
    ),
    (
        "Backup the billing db from {v} tonight.",
        "postgres://svc:Xk9pLq2@db.corp.example:5432/billing",
        ("homoglyph", "zero_width"),
    ),
]
HIDE = {"base64": to_base64, "homoglyph": to_homoglyphs, "zero_width": insert_zero_width}


def _message(body: str) -> dict:
    return {
        "channel": "email",
        "user": {"role": "ENG", "dept": "ENG", "seniority": "MID"},
        "recipients": ["alex@partner.example"],
        "subject": "quick one",
        "body": body,
        "meta": {"org_domains": ["corp.example"]},
    }


@pytest.fixture(scope="module")
def trained_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Build the bundle once for the module; returns its directory and what the build observed."""
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    root = tmp_path_factory.mktemp("obfuscation")
    examples = generate_examples(N_EXAMPLES, seed=11, config=SYNTH)
    splits = {e.id: assign_split(e.thread_id or e.id, (0.8, 0.2, 0.0)) for e in examples}
    train_texts = [serialize_example(e).text for e in examples if splits[e.id] == "train"]
    train_tokenizer(train_texts, root / "tokenizer.model", vocab_size=1000, seed=0)
    tok = DlpTokenizer.load(root / "tokenizer.model")
    table, _ = build_tokenized_table(examples, tok, splits=splits, shuffle_prob=0.0)
    cfg = ModelConfig.preset(
        "cpu-small", vocab_size=tok.vocab_size, max_len=256, d_model=64, n_heads=2, n_fast_layers=1,
        n_slow_blocks=1, slow_update_stride=32, H_cycles=1, L_cycles=1, segments=1, mask_denoise_prob=0.0,
    )  # fmt: skip
    tcfg = TrainConfig(
        epochs=12, batch_size=16, lr=2e-3, warmup_steps=20, ema_decay=0.9, curriculum=False, patience=100,
        ckpt_every=100_000, progress=False, max_steps=600, device="cpu",
    )  # fmt: skip
    t_train = time.perf_counter()
    result = train(table, root / "run", cfg, tcfg)
    train_s = time.perf_counter() - t_train
    model = model_from_checkpoint(result.checkpoint_path)
    data = load_tokenized(table)
    val = data.rows("val")
    logits, _ = predict_rows(model, data, val, torch.device("cpu"))  # windows as the scanner serves them
    calibrator = TemperatureCalibrator().fit(logits, data.doc_labels[val].astype(np.float64))
    fp32 = export_onnx(model, root / "export" / "model.onnx")
    int8 = quantize_int8(fp32, root / "export" / "model.int8.onnx")
    torch.save({"model": model.state_dict()}, root / "export" / "model.pt")
    bundle = write_bundle(
        root / "bundle", onnx_fp32=fp32, onnx_int8=int8, tokenizer_model=root / "tokenizer.model",
        calibration=calibrator, model_config=cfg, policy_yaml_text=None,
        metrics={"doc": result.val_metrics.get("doc", {})}, torch_checkpoint=root / "export" / "model.pt",
    )  # fmt: skip
    observed = {
        "steps": result.steps,
        "train_s": round(train_s, 1),
        "total_s": round(time.perf_counter() - t0, 1),
        "val_obfuscation": result.val_metrics.get("doc", {}).get("obfuscation"),
        "n_train_obfuscated": int(((data.split == "train") & (data.doc_labels[:, 3] == 1)).sum()),
    }
    print("bundle build:", observed)
    return bundle, observed


def _variants() -> tuple[list[dict], list[dict], list[str]]:
    """Plain messages, their hidden variants (one per fitting technique), and each variant's technique."""
    rng = random.Random(5)
    plain, hidden, kinds = [], [], []
    for template, value, techniques in MESSAGES:
        plain.append(_message(template.format(v=value)))
        for kind in techniques:
            hidden.append(_message(template.format(v=HIDE[kind](value, rng))))
            kinds.append(kind)
    return plain, hidden, kinds


def test_hidden_values_score_obfuscation_clearly_above_plain_ones(trained_bundle) -> None:
    bundle, observed = trained_bundle
    scanner = Scanner.from_bundle(bundle)  # the int8 graph, as served
    plain, hidden, kinds = _variants()
    plain_scores = [r["scores"]["obfuscation"] for r in scanner.scan_batch(plain)]
    hidden_scores = [r["scores"]["obfuscation"] for r in scanner.scan_batch(hidden)]
    print("observed:", observed, "plain:", np.round(plain_scores, 3), "hidden:",
          list(zip(kinds, np.round(hidden_scores, 3), strict=True)))  # fmt: skip
    # Observed on 2 cores with model v2 (600 steps, ~21 s build): val AUPRC 0.96; plain 0.00-0.49, hidden
    # 0.66-1.00 (the lowest: the base64 Stripe key, whose decoded form the recognizer channel marks as a
    # SECRET candidate). v1 separated them by a wider margin (plain 0.04-0.11, hidden 0.92-1.00); so do
    # v2 without candidates or with v1's pooled readout on hidden values, but each then lets a plain
    # message through above 0.3 (`benchmarks/ablation.py` measures the heads at demo scale).
    assert observed["val_obfuscation"]["auprc"] >= 0.9, observed
    assert np.mean(hidden_scores) > np.mean(plain_scores) + 0.5
    # Every hidden form ranks above every plain form: a threshold exists that separates them all.
    assert min(hidden_scores) > max(plain_scores), (
        plain_scores,
        list(zip(kinds, hidden_scores, strict=True)),
    )
    # Each hidden form beats the plain form of the same message: the head reads the hiding, not the topic.
    per_message = [len(t) for _, _, t in MESSAGES]
    plain_of_variant = np.repeat(plain_scores, per_message)
    assert np.all(np.asarray(hidden_scores) > plain_of_variant + 0.3)
