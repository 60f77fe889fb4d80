"""Scanner fixtures shared by the scanner, service and CLI tests: a tiny random HRM-DLP on the committed
tokenizer, and a digit-tagging engine whose predictions are known in advance (for golden offsets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hrm_core.data.contract import TAG_TO_ID
from hrm_core.model.hrm import HRMDLP, ModelConfig
from hrm_core.serve.scanner import EngineOutput, Scanner, TorchEngine
from hrm_core.tokens.tokenizer import DlpTokenizer
from tests.fixtures.make_tiny_spm import TINY_SPM_PATH
from tests.fixtures.models import open_zero_entries

TINY_MAX_LEN = 64


class SeedRulePolicy:
    """Seed 002 §6 thresholds, used until `hrm_core.release.policy` lands in the checkout."""

    def decide(self, scores: dict[str, float], spans: list[dict]) -> tuple[str, list[str]]:
        if scores["sensitivity"] > 0.9 and (scores["exposure"] > 0.7 or scores["obfuscation"] > 0.6):
            return "BLOCK", ["High sensitivity leaving the organisation"]
        if scores["sensitivity"] < 0.2 and scores["exposure"] < 0.2:
            return "ALLOW", []
        return ("ALLOW_WITH_WARNING", ["PII detected"]) if spans else ("ALLOW", [])


def default_policy():
    """The project's default YAML policy (seed 002 §6 rules)."""
    from hrm_core.release.policy import load_policy

    return load_policy()


def build_tiny_bundle(out_dir: Path, span_min_score: float = 0.0) -> Path:
    """A real model bundle (`write_bundle`: manifest, content-derived model_version) of the tiny random
    model: fp32 + int8 ONNX, torch checkpoint, tokenizer, identity calibration (with `span_min_score`),
    default policy."""
    import tempfile

    from hrm_core.release.bundle import write_bundle
    from hrm_core.release.calibration import TemperatureCalibrator
    from hrm_core.release.export import export_onnx, quantize_int8

    tok = tiny_tokenizer()
    model = tiny_model(tok)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        export_onnx(model, src / "model.onnx")
        quantize_int8(src / "model.onnx", src / "model.int8.onnx")
        torch.save({"model": model.state_dict()}, src / "model.pt")
        return write_bundle(
            out_dir,
            onnx_fp32=src / "model.onnx",
            onnx_int8=src / "model.int8.onnx",
            tokenizer_model=TINY_SPM_PATH,
            calibration=TemperatureCalibrator(span_min_score=span_min_score, span_exact_f1={"0.0": 0.0}),
            model_config=model.cfg,
            policy_yaml_text=None,
            metrics={},
            torch_checkpoint=src / "model.pt",
        )


def tiny_tokenizer() -> DlpTokenizer:
    return DlpTokenizer.load(TINY_SPM_PATH)


def tiny_model(tok: DlpTokenizer, seed: int = 0) -> HRMDLP:
    torch.manual_seed(seed)
    cfg = ModelConfig.preset(
        "cpu-small",
        vocab_size=tok.vocab_size,
        max_len=TINY_MAX_LEN,
        d_model=32,
        n_heads=2,
        n_fast_layers=1,
        n_slow_blocks=1,
        slow_update_stride=16,
        H_cycles=1,
        L_cycles=1,
        segments=1,
    )
    return open_zero_entries(HRMDLP(cfg)).eval()


def tiny_scanner(**kwargs) -> Scanner:
    """A scanner over a tiny random model (torch backend): real pipeline, meaningless scores."""
    tok = tiny_tokenizer()
    model = tiny_model(tok)
    return Scanner(
        TorchEngine(model), tok, default_policy(), max_len=TINY_MAX_LEN,
        use_candidates=model.cfg.use_candidates, **kwargs,
    )  # fmt: skip


class DigitTaggingEngine:
    """Tags every run of digit tokens as a PAN (B- then I-) and scores documents by digit count.

    Its predictions are known from the text alone, so tests can check exact field offsets. The memory
    vector is the seed plus one, so thread seeding is observable.
    """

    name = "digits"
    fixed_batch: int | None = None
    fixed_len: int | None = None

    def __init__(self, tok: DlpTokenizer) -> None:
        self.digit = np.array([tok.id_to_piece(i).isdigit() for i in range(tok.vocab_size)])

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray, memory_seed: np.ndarray) -> EngineOutput:
        B, T = input_ids.shape
        is_digit = self.digit[input_ids] & (attention_mask > 0)  # [B, T]
        span = np.full((B, T, 21), -5.0, dtype=np.float32)
        span[:, :, TAG_TO_ID["O"]] = 5.0
        prev = np.concatenate([np.zeros((B, 1), bool), is_digit[:, :-1]], axis=1)
        span[is_digit & ~prev, TAG_TO_ID["B-PAN"]] = 10.0
        span[is_digit & prev, TAG_TO_ID["I-PAN"]] = 10.0
        n = is_digit.sum(1).astype(np.float32)  # [B]
        doc = np.stack([n - 3, -n, np.zeros_like(n), -np.ones_like(n)], axis=1)  # [B, 4]
        return EngineOutput(doc, span, (memory_seed + 1.0).astype(np.float32))


def digit_scanner(**kwargs) -> Scanner:
    tok = tiny_tokenizer()
    return Scanner(DigitTaggingEngine(tok), tok, SeedRulePolicy(), max_len=TINY_MAX_LEN, **kwargs)
