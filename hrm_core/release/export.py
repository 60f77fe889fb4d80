"""ONNX export of HRM-DLP, torch/ONNX parity and int8 dynamic quantization.

The graph is the model unrolled for its fixed compute budget (``segments x H_cycles x L_cycles``
steps; the Python loops are static, so tracing unrolls them), opset 17, one graph for every call:

    inputs   input_ids [B, T] int64, attention_mask [B, T] int64 (1 = real token, padding trailing),
             memory_seed [B, memory_dim] float32 (all zeros = no previous message; the model treats
             a missing seed as zeros, so this is the same computation, not an approximation),
             candidate_ids [B, T] int64 (the recognizers' candidate tags, `features.candidate_tags`;
             only in graphs of models with ``use_candidates``: the exporter drops an unused input)
    outputs  doc_logits [B, 4], span_logits [B, T, 21], memory [B, memory_dim], probe_logits [B, 14]

Batch and sequence axes are dynamic. The model pads T up to a multiple of ``slow_update_stride``
with Python arithmetic on the shape, which the TorchScript tracer would freeze at the export length;
`OnnxGraph` therefore pads with a graph-friendly concat + slice so any T gives the same logits as
torch (checked by `check_parity` and the tests at several lengths). The TorchScript exporter
(``dynamo=False``) is used: the dynamo exporter needs `onnxscript`, which is not a dependency.

Sessions come from `hrm_core.release.onnx_session.make_session` (re-exported here), the scanner's own
factory, so parity and the int8 check are measured on sessions configured as served.
"""

from __future__ import annotations

import copy
import json
import logging
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hrm_core.data.contract import DOC_HEADS
from hrm_core.model.hrm import HRMDLP
from hrm_core.model.metrics import auprc
from hrm_core.release.onnx_session import make_session as make_session  # re-export: callers import it here

OPSET = 17
ONNX_INPUTS = ("input_ids", "attention_mask", "memory_seed", "candidate_ids")
ONNX_OUTPUTS = ("doc_logits", "span_logits", "memory", "probe_logits")
DYNAMIC_AXES: dict[str, dict[int, str]] = {
    "input_ids": {0: "batch", 1: "seq"},
    "attention_mask": {0: "batch", 1: "seq"},
    "memory_seed": {0: "batch"},
    "candidate_ids": {0: "batch", 1: "seq"},
    "doc_logits": {0: "batch"},
    "span_logits": {0: "batch", 1: "seq"},
    "memory": {0: "batch"},
    "probe_logits": {0: "batch"},
}
PARITY_TOL = 1e-4
# Node-name fragments of the small output heads: they cost nothing at fp32 and carry the final logits,
# so int8 rounding there would show up directly in the scores.
HEAD_NODES = ("doc_head", "readout", "span_head", "memory_head", "probe")

Batch = Mapping[str, Any]


class OnnxGraph(nn.Module):
    """The exported computation: HRMDLP's inference outputs as a tuple, padding done in-graph."""

    def __init__(self, model: HRMDLP) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        memory_seed: torch.Tensor,
        candidate_ids: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        stride = self.model.cfg.slow_update_stride
        B, T0 = input_ids.shape
        T = (T0 + stride - 1) // stride * stride
        # Append stride-1 pads then cut at T: traced as Concat + Slice with a dynamic end, so the pad
        # length follows the input length instead of being frozen at the export length.
        ids = torch.cat([input_ids, input_ids.new_zeros(B, stride - 1) + self.model.cfg.pad_id], 1)[:, :T]
        mask = torch.cat([attention_mask, attention_mask.new_zeros(B, stride - 1)], 1)[:, :T]  # [B, T]
        cand = torch.cat([candidate_ids, candidate_ids.new_zeros(B, stride - 1)], 1)[:, :T]
        out = self.model(ids, mask, memory_seed, cand)
        return out.doc_logits, out.span_logits[:, :T0], out.memory, out.probe_logits


def export_onnx(model: HRMDLP, path: Path, *, opset: int = OPSET, sample_len: int | None = None) -> Path:
    """Trace `model` (a copy, on CPU, eval mode, fp32) to an ONNX file with dynamic batch and sequence.

    The model config is stored in the ONNX metadata (`hrm_dlp.model_config`) so a graph found alone
    still says what it is.
    """
    import onnx

    cfg = model.cfg
    graph = OnnxGraph(copy.deepcopy(model).float().cpu().eval())
    T = sample_len or min(cfg.max_len, 4 * cfg.slow_update_stride)
    ids = torch.randint(1, cfg.vocab_size - 1, (2, T))
    mask = torch.ones(2, T, dtype=torch.int64)
    mask[1, T // 2 :] = 0
    seed = torch.zeros(2, cfg.memory_dim)
    cand = torch.randint(0, cfg.n_tags, (2, T))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about shape arithmetic, handled by OnnxGraph
        torch.onnx.export(
            graph,
            (ids, mask, seed, cand),
            str(path),
            opset_version=opset,
            input_names=list(ONNX_INPUTS),
            output_names=list(ONNX_OUTPUTS),
            dynamic_axes=DYNAMIC_AXES,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    meta = proto.metadata_props.add()
    meta.key, meta.value = "hrm_dlp.model_config", json.dumps(cfg.to_dict(), sort_keys=True)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def _np(x: Any, dtype: Any) -> np.ndarray:
    return (x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)).astype(dtype)


def session_inputs(batch: Batch, memory_dim: int) -> dict[str, np.ndarray]:
    """ONNX feeds from a collated batch (torch or numpy); a missing memory_seed or candidate_ids
    becomes zeros."""
    ids = _np(batch["input_ids"], np.int64)
    seed = batch.get("memory_seed")
    cand = batch.get("candidate_ids")
    return {
        "input_ids": ids,
        "attention_mask": _np(batch["attention_mask"], np.int64),
        "memory_seed": _np(seed, np.float32)
        if seed is not None
        else np.zeros((ids.shape[0], memory_dim), np.float32),
        "candidate_ids": _np(cand, np.int64) if cand is not None else np.zeros_like(ids),
    }


def run_session(session: Any, batch: Batch, memory_dim: int) -> dict[str, np.ndarray]:
    """Run the ONNX graph on one batch (feeding the inputs the graph declares); outputs by name."""
    declared = {i.name for i in session.get_inputs()}
    feeds = {k: v for k, v in session_inputs(batch, memory_dim).items() if k in declared}
    outs = session.run(list(ONNX_OUTPUTS), feeds)
    return dict(zip(ONNX_OUTPUTS, outs, strict=True))


@dataclass
class ParityReport:
    """Largest |torch - onnx| per output over the compared examples."""

    n_examples: int
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    tol: float = PARITY_TOL

    @property
    def max_abs_logit_diff(self) -> float:
        """The reported parity figure: doc and span logits together."""
        return max(self.max_abs_diff.get("doc_logits", 0.0), self.max_abs_diff.get("span_logits", 0.0))

    @property
    def passed(self) -> bool:
        return self.n_examples > 0 and self.max_abs_logit_diff <= self.tol

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "max_abs_logit_diff": self.max_abs_logit_diff, "passed": self.passed}


def _take(batches: Iterable[Batch], max_examples: int) -> Iterable[Batch]:
    """Batches until `max_examples` rows have been yielded (the last one cut)."""
    seen = 0
    for batch in batches:
        if seen >= max_examples:
            return
        n = min(len(batch["input_ids"]), max_examples - seen)
        seen += n
        yield {k: v[:n] for k, v in batch.items()}


@torch.no_grad()
def check_parity(
    model: HRMDLP, session: Any, batches: Iterable[Batch], max_examples: int = 200, tol: float = PARITY_TOL
) -> ParityReport:
    """Compare the ONNX session with the torch model on up to `max_examples` validation rows.

    Span logits are compared on real tokens only (padding positions are never read by the scanner).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    dim = model.cfg.memory_dim
    report = ParityReport(n_examples=0, max_abs_diff=dict.fromkeys(ONNX_OUTPUTS, 0.0), tol=tol)
    for batch in _take(batches, max_examples):
        feeds = session_inputs(batch, dim)
        ref = model(*(torch.from_numpy(feeds[k]).to(device) for k in ONNX_INPUTS))
        got = run_session(session, batch, dim)
        real = feeds["attention_mask"].astype(bool)  # [B, T]
        for name in ONNX_OUTPUTS:
            diff = np.abs(getattr(ref, name).float().cpu().numpy() - got[name])
            if name == "span_logits":
                diff = diff[real]  # [n_real, 21]
            if diff.size:
                report.max_abs_diff[name] = max(report.max_abs_diff[name], float(diff.max()))
        report.n_examples += len(feeds["input_ids"])
    model.train(was_training)
    return report


def quantize_int8(
    fp32_path: Path, int8_path: Path, *, per_channel: bool = True, keep_heads_fp32: bool = True
) -> Path:
    """int8 dynamic quantization (weights int8, activations quantized at run time) of the MatMuls.

    Per-channel weight scales (one per output column) keep the many small-magnitude columns of the
    attention and SwiGLU projections from being rounded to zero by one large column. The embedding
    lookup and, by default, the output heads stay fp32: they are cheap and feed the scores directly.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    proto = onnx.load(str(fp32_path))
    bypass_weight_identities(proto)
    exclude = (
        [n.name for n in proto.graph.node if any(h in n.name for h in HEAD_NODES)] if keep_heads_fp32 else []
    )
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=int8_path.parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        onnx.save(proto, str(prepared))
        quiet = logging.getLogger()
        level = quiet.level
        quiet.setLevel(
            logging.ERROR
        )  # the "consider pre-processing" advice: bypass_weight_identities is ours
        try:
            quantize_dynamic(
                str(prepared),
                str(int8_path),
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                # 7-bit weights: without VNNI (AVX2, AVX-512F) the u8 x s8 kernel sums pairs of products
                # in int16 and saturates; on an AVX2 machine the demo model's doc logits moved by up to
                # 0.51 with 8-bit weights and 0.14 with 7 (U8U8: 0.23, 20% slower). Bundles are served on
                # machines other than the one that exported them, so every export takes the safe range.
                reduce_range=True,
                op_types_to_quantize=["MatMul", "Gemm"],
                nodes_to_exclude=exclude,
            )
        finally:
            quiet.setLevel(level)
    return int8_path


def bypass_weight_identities(proto: Any) -> int:
    """Remove the Identity nodes the TorchScript exporter puts between a shared weight and its uses.

    The unrolled recurrence reuses each block's weights at every step, and each reuse reads the
    initializer through an Identity; `quantize_dynamic` only quantizes a MatMul whose weight *is* an
    initializer, so without this only the first step of each block would run in int8 (and the int8
    file would carry every weight twice). Returns the number of nodes removed.
    """
    inits = {i.name for i in proto.graph.initializer}
    outputs = {o.name for o in proto.graph.output}
    alias = {
        n.output[0]: n.input[0]
        for n in proto.graph.node
        if n.op_type == "Identity" and n.input[0] in inits and n.output[0] not in outputs
    }
    keep = [n for n in proto.graph.node if not (n.op_type == "Identity" and n.output[0] in alias)]
    for node in keep:
        for i, name in enumerate(node.input):
            if name in alias:
                node.input[i] = alias[name]
    del proto.graph.node[:]
    proto.graph.node.extend(keep)
    return len(alias)


def doc_logits_and_labels(
    session: Any, batches: Iterable[Batch], memory_dim: int, max_examples: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Doc logits [N, 4] from an ONNX session and the batches' `doc_labels` [N, 4] (-1 = null)."""
    logits, labels = [], []
    for batch in _take(batches, max_examples) if max_examples else batches:
        logits.append(run_session(session, batch, memory_dim)["doc_logits"])
        labels.append(_np(batch["doc_labels"], np.float64))
    return np.concatenate(logits), np.concatenate(labels)


def int8_delta_auprc(
    fp32_session: Any, int8_session: Any, batches: Sequence[Batch], memory_dim: int
) -> dict[str, Any]:
    """AUPRC per head of the fp32 and int8 graphs on the same validation batches, and the change.

    ``delta`` is int8 minus fp32 (negative = int8 lost ranking quality); a head with no labeled row
    is absent. Also reports the largest doc-logit difference between the two graphs.
    """
    z32, y = doc_logits_and_labels(fp32_session, batches, memory_dim)
    z8, _ = doc_logits_and_labels(int8_session, batches, memory_dim)
    y_null = np.where(y < 0, np.nan, y)
    heads: dict[str, dict[str, float]] = {}
    for j, head in enumerate(DOC_HEADS):
        if not np.isfinite(y_null[:, j]).any():
            continue
        a32, a8 = auprc(y_null[:, j], z32[:, j]), auprc(y_null[:, j], z8[:, j])
        heads[head] = {"auprc_fp32": a32, "auprc_int8": a8, "delta": a8 - a32}
    return {
        "n_examples": len(y),
        "heads": heads,
        "max_abs_delta": max((abs(h["delta"]) for h in heads.values()), default=0.0),
        "max_abs_doc_logit_diff": float(np.abs(z32 - z8).max()) if len(y) else 0.0,
    }
