"""Train HRM-DLP on the tokenized table: AdamW + cosine warmup, EMA, accumulation, curriculum, resume, DDP.

`train(data, out_dir, model_cfg, train_cfg)` runs epochs, evaluates the EMA weights on the validation
split after each one (AUPRC and FP@95R per doc head, token-level and whole-span F1), stops early when the
validation figure `TrainConfig.select_on` names (`selection_metric`) stops improving, and returns a
`TrainResult`. Validation scores windows exactly as
the scanner does (`predict_rows` -> `hrm_core.tokens.windows.run_windows`). The best epoch's EMA weights
go to best.pt with their validation figures (`val_metrics`, `epoch`, `step`). A checkpoint (plain dict)
is written atomically every `ckpt_every` optimizer steps and at each epoch end; `resume=True` continues
from it and replays exactly the batches and random draws an uninterrupted run would have made.

Thread memory: batches go by thread position, so each message's seed is the detached memory vector
its predecessor produced earlier in the same epoch (zeros when the predecessor was not seen, e.g. it
sits on another DDP rank or in another split). Under `torchrun` (RANK/WORLD_SIZE set) the model is
wrapped in DistributedDataParallel (gloo on CPU, nccl on GPU) and each rank takes its share of batches.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
import torch.distributed as dist
from tqdm import tqdm

from hrm_core.data.contract import DOC_HEADS, SPAN_TYPES
from hrm_core.model import metrics
from hrm_core.model.hrm import HRMDLP, ModelConfig
from hrm_core.model.losses import dlp_loss, mask_tokens
from hrm_core.model.train_data import TokenizedSet, collate, curriculum_rows, epoch_batches, load_tokenized
from hrm_core.tokens import decoding
from hrm_core.tokens.windows import WindowRunner, default_overlap, header_length, run_windows

DOC_PARAMS = ("readout.", "doc_head.")  # the doc heads' own parameters (`HRMDLP.readout` / `doc_head`)


def param_groups(model: torch.nn.Module, tcfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices but not on embeddings, norms and biases; with
    `TrainConfig.doc_lr` set, the doc heads' parameters (`DOC_PARAMS`) in groups of their own at that rate."""
    heads = (False, True) if tcfg.doc_lr else (False,)
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {
        (d, h): [] for h in heads for d in (True, False)
    }
    for n, p in model.named_parameters():
        if p.requires_grad:
            doc = bool(tcfg.doc_lr) and n.startswith(DOC_PARAMS)
            groups[(p.dim() >= 2 and "embed" not in n, doc)].append(p)
    return [
        {"params": ps, "weight_decay": tcfg.weight_decay if d else 0.0, **({"lr": tcfg.doc_lr} if h else {})}
        for (d, h), ps in groups.items()
    ]


CPU_BF16_MODES = ("off", "on", "auto")


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bf16 natively (the AVX512_BF16 or AMX_BF16 flag in /proc/cpuinfo).

    Without them bf16 matrix products have no native kernel, so bf16 is not expected to pay there (not
    measured: the one machine it was measured on has AVX512_BF16). Outside Linux it answers False."""
    if cpuinfo is None:
        return _this_cpu_has_bf16()
    flags = {
        f for line in cpuinfo.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split()
    }
    return bool(flags & {"avx512_bf16", "amx_bf16"})


@functools.cache
def _this_cpu_has_bf16() -> bool:
    """`cpu_has_bf16` of this machine, /proc/cpuinfo read once (the pricing asks at every timed step)."""
    try:
        return cpu_has_bf16(Path("/proc/cpuinfo").read_text())
    except OSError:
        return False


def trains_in_bf16(device: torch.device, tcfg: TrainConfig) -> bool:
    """Whether a training step runs under bf16 autocast: always on a GPU; on a CPU as
    `TrainConfig.cpu_bf16` says ("auto": where `cpu_has_bf16`)."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and (tcfg.cpu_bf16 == "on" or (tcfg.cpu_bf16 == "auto" and cpu_has_bf16()))


def autocast_for(device: torch.device, tcfg: TrainConfig) -> contextlib.AbstractContextManager[Any]:
    """The autocast a training step (and its pricing, `price_run`) runs under (`trains_in_bf16`), or none."""
    if trains_in_bf16(device, tcfg):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class TrainConfig:
    """Optimisation and run knobs (the model's own knobs live in `ModelConfig`)."""

    epochs: int = 3
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 3e-4
    doc_lr: float = 0.0  # the doc heads' learning rate (`DOC_PARAMS`); 0: lr, as every other parameter
    weight_decay: float = 0.02
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    ckpt_every: int = 200
    patience: int = 2
    # What picks best.pt and ends training early (`selection_metric`): "sensitivity_fp95" (validation
    # sensitivity FP@95R) or "all_heads" (the mean of every doc head's validation AUPRC and the whole-span
    # exact F1: what the release is judged on).
    select_on: str = "sensitivity_fp95"
    # On a tie of that figure, the later epoch's weights win best.pt when their every-head figure
    # ("all_heads") is better (`better_checkpoint`); early stopping still counts only the figure itself.
    tie_break: bool = True
    # With the tie-break, a figure within `tie_margin` of the lowest any epoch has reached counts as tied.
    # Validation sensitivity FP@95R moves in steps of one negative (about 0.01 on the demo's validation
    # split, whose standard error near 0.05 is about 0.02), so one negative must not outvote every other head.
    tie_margin: float = 0.02
    keep_epoch_checkpoints: bool = False  # also write every epoch's EMA weights to epoch_<k>.pt
    seed: int = 0
    curriculum: bool = True
    curriculum_window: int = 256  # first-epoch window; later epochs use the model's max_len
    use_threads: bool = True
    # A window cut from a long row learns only the labels it can see (`train_data.crop_doc_labels`);
    # False trains every window on its row's labels (the all_crop_labels ablation arm).
    unseen_labels: bool = True
    max_steps: int | None = (
        None  # end training after this many steps (validated and checkpointed as an epoch end)
    )
    # Wall-clock budget of the run, validation included (None or 0: the epochs decide). Before the first
    # step a few timed steps on a copy of the model price a step and a validation (`price_run`); the run
    # then stops after the steps that fit (`steps_within_budget`), validated and checkpointed there, on
    # the epochs' learning-rate schedule. At each epoch end the plan is made again from the seconds the
    # run has measured (`replan_budget`), never past the epochs. Resume keeps the latest plan.
    time_budget_s: float | None = None
    kill_after_steps: int | None = None  # tests of resume: stop dead after this many steps, like a crash
    resume: bool = False
    device: str | None = None  # None: cuda if available, else cpu
    # bf16 autocast on a CPU (`autocast_for`): "off" trains in fp32 (as every run before), "on" in bf16,
    # "auto" in bf16 where the CPU has bf16 instructions (`cpu_has_bf16`: AVX512_BF16 or AMX; on two such
    # 2-core EPYCs 19% and 25% more tokens/s, `presets.py`), else fp32. A GPU always trains under bf16 autocast.
    cpu_bf16: str = "off"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.cpu_bf16 not in CPU_BF16_MODES:
            raise ValueError(f"cpu_bf16 must be one of {CPU_BF16_MODES}, got {self.cpu_bf16!r}")


@dataclass
class TrainResult:
    """What a run produced. `val_metrics` are the last epoch's (last.pt); the figures of the weights that
    ship are `best_val_metrics`: the EMA weights of best.pt, evaluated on the validation split at the end
    of epoch `best_epoch` (optimizer step `best_step`)."""

    checkpoint_path: str
    best_checkpoint_path: str
    history: list[dict[str, Any]]
    val_metrics: dict[str, Any]
    param_count: int
    tokens_per_s: float
    wall_time_s: float
    device: str
    steps: int
    config: dict[str, Any] = field(default_factory=dict)
    best_val_metrics: dict[str, Any] = field(default_factory=dict)
    best_epoch: int | None = None
    best_step: int | None = None
    budget: dict[str, Any] | None = None  # with a time budget: its prices and the steps planned
    precision: str = "fp32"  # "bf16" when the steps ran under bf16 autocast (`trains_in_bf16`)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine decay to `min_ratio` at `total` steps."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _dist_info() -> tuple[int, int]:
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        return int(os.environ.get("RANK", 0)), int(os.environ["WORLD_SIZE"])
    return 0, 1


def _pick_device(requested: str | None, rank: int, world: int) -> torch.device:
    if requested:
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)) if world > 1 else 0)
    return torch.device("cpu")


# ---------------------------------------------------------------------------- evaluation


def _tag_type(tag: int) -> str | None:
    return SPAN_TYPES[(tag - 1) // 2] if tag > 0 else None


SELECT_ON = ("sensitivity_fp95", "all_heads")


def check_select_on(select_on: str) -> None:
    """ValueError naming the choices unless `select_on` is one (`TrainConfig.select_on`)."""
    if select_on not in SELECT_ON:
        raise ValueError(f"select_on must be one of {SELECT_ON}, got {select_on!r}")


def selection_metric(val: dict[str, Any], select_on: str) -> float:
    """The validation figure that picks best.pt and stops training early, lower is better (NaN when
    validation has none of it): sensitivity FP@95R, or for "all_heads" minus the mean of each doc head's
    AUPRC and the whole-span exact micro F1. FP@95R alone saturates within a few epochs on the demo
    data while context and obfuscation still improve, and ties do not count as improvements."""
    check_select_on(select_on)
    if select_on == "sensitivity_fp95":
        return float(val.get("doc", {}).get("sensitivity", {}).get("fp_at_95_recall", math.nan))
    auprcs = (float(v.get("auprc", math.nan)) for v in val.get("doc", {}).values())
    parts = [a for a in auprcs if not math.isnan(a)]
    exact = val.get("spans", {}).get("exact", {}).get("micro", {}).get("f1")
    parts += [float(exact)] if exact is not None else []
    return -float(np.mean(parts)) if parts else math.nan


def selection_key(val: dict[str, Any], select_on: str) -> tuple[float, float]:
    """What ranks an epoch's EMA weights for best.pt: the `selection_metric`, then the "all_heads"
    figure as tie-break (lower is better in both)."""
    return selection_metric(val, select_on), selection_metric(val, "all_heads")


def better_checkpoint(
    key: tuple[float, float],
    best: tuple[float, float] | None,
    tie_break: bool,
    floor: float | None = None,
    margin: float = 0.0,
) -> bool:
    """Whether weights ranked `key` replace best.pt's (ranked `best`, None before the first).

    Without `tie_break`: a lower selection figure. With it, the figures within `margin` of `floor` (the
    lowest any epoch so far has reached, this one included; None: the lower of the two) are tied, and
    among tied weights the lower tie-break figure wins; weights outside the tie never do. So best.pt is
    always within `margin` of the best figure seen. Sensitivity FP@95R moves in steps of one validation
    negative, so near-equal figures are common while the other heads still improve."""
    if best is None or not math.isfinite(best[0]):
        return True
    if not tie_break:
        return key[0] < best[0] - 1e-9
    floor = min(key[0], best[0]) if floor is None else floor

    def tied(figure: float) -> bool:
        return figure <= floor + margin + 1e-9

    return tied(key[0]) and (not tied(best[0]) or key[1] < best[1] - 1e-9)


def best_epoch(
    history: list[dict[str, Any]], select_on: str, tie_break: bool, margin: float = 0.0
) -> int | None:
    """The epoch `train` keeps in best.pt for a run's validation `history` (replayed with
    `better_checkpoint`: how another selection rule would have chosen among a run's epochs)."""
    best, chosen, floor = None, None, math.inf
    for record in history:
        key = selection_key(record["val"], select_on)
        floor = min(floor, key[0])
        if better_checkpoint(key, best, tie_break, floor, margin):
            best, chosen = key, record["epoch"]
    return chosen


def torch_window_runner(model: HRMDLP, device: torch.device) -> WindowRunner:
    """`model` as a `run_windows` runner: NumPy batches in, fp32 NumPy outputs back (no gradient)."""

    @torch.no_grad()
    def run(ids: np.ndarray, mask: np.ndarray, seed: np.ndarray, cand: np.ndarray) -> tuple[np.ndarray, ...]:
        out = model(*(torch.from_numpy(x).to(device) for x in (ids, mask, seed, cand)))
        return tuple(t.float().cpu().numpy() for t in (out.doc_logits, out.span_logits, out.memory))

    return run


@torch.no_grad()
def predict_rows(
    model: HRMDLP, data: TokenizedSet, rows: np.ndarray, device: torch.device, batch_size: int = 16,
    overlap: int | None = None, use_threads: bool = True,
) -> tuple[np.ndarray, list[np.ndarray]]:  # fmt: skip
    """Doc logits [len(rows), 4] and per-token tag ids of `model` on `rows`, as the scanner computes them.

    Windows, batching and merging are `hrm_core.tokens.windows.run_windows` (the scanner's function);
    tag ids are the BIO-constrained path `hrm_core.tokens.decoding.bio_viterbi` (the scanner's decoder);
    ``overlap`` None is the served `default_overlap(max_len)`. Rows go by thread position, so a message
    is seeded with the merged memory of its predecessor (zeros when that was not scored here).
    """
    model.eval()
    cfg = model.cfg
    run = torch_window_runner(model, device)
    memory: dict[int, np.ndarray] = {}
    doc: dict[int, np.ndarray] = {}
    tags: dict[int, np.ndarray] = {}
    for pos in np.unique(data.thread_index[rows]):
        # Shortest first: windows of similar length share a batch with little padding.
        group = sorted(
            (int(r) for r in rows if data.thread_index[r] == pos), key=lambda r: len(data.input_ids[r])
        )
        seeds = np.zeros((len(group), cfg.memory_dim), dtype=np.float32)  # [N, D]
        for i, r in enumerate(group):
            if use_threads and int(data.prev_row[r]) in memory:
                seeds[i] = memory[int(data.prev_row[r])]
        merged = run_windows(
            run, [data.input_ids[r] for r in group], seeds, max_len=cfg.max_len, overlap=overlap,
            pad_id=cfg.pad_id, batch_size=batch_size, candidates=[data.candidates[r] for r in group],
            heads=[header_length(data.input_ids[r], cfg.body_tag_id, cfg.max_len) for r in group],
            multiple=cfg.slow_update_stride,
        )  # fmt: skip
        for r, m in zip(group, merged, strict=True):
            doc[r], tags[r], memory[r] = m.doc_logits, decoding.bio_viterbi(m.tag_logits), m.memory
    doc_scores = np.stack([doc[int(r)] for r in rows]) if len(rows) else np.zeros((0, cfg.n_doc))
    return doc_scores, [tags[int(r)] for r in rows]


def evaluate(
    model: HRMDLP, data: TokenizedSet, rows: np.ndarray, device: torch.device, batch_size: int = 16,
    overlap: int | None = None, use_threads: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Validation metrics of `model` on `rows`: per doc head AUPRC / FP@95R / accuracy, and spans.

    Scores and tags come from `predict_rows`, i.e. windowed, merged and decoded exactly as the scanner
    serves them. ``spans_token``: per-token typed tags scored as one-token spans. ``spans``: whole spans
    in token space (``exact`` and ``overlap`` match, as the evaluation report scores characters), the
    decoded path's `hrm_core.tokens.decoding.tag_runs` against the gold BIO runs; a row scores only the
    types its source annotates (``types_present >= 0``).
    """
    doc_scores, pred_tags = predict_rows(model, data, rows, device, batch_size, overlap, use_threads)
    gold_tokens: list[list[tuple[str, int, int]]] = []
    pred_tokens: list[list[tuple[str, int, int]]] = []
    gold_spans: list[list[tuple[str, int, int]]] = []
    pred_spans: list[list[tuple[str, int, int]]] = []
    scored: list[list[str]] = []
    for i, r in enumerate(rows):
        tags = pred_tags[i]
        gold = data.bio[r]
        valid = gold >= 0
        gold_tokens.append([(_tag_type(int(t)), j, j + 1) for j, t in enumerate(gold) if valid[j] and t > 0])  # type: ignore[misc]
        pred_tokens.append([(_tag_type(int(t)), j, j + 1) for j, t in enumerate(tags) if valid[j] and t > 0])  # type: ignore[misc]
        gold_spans.append([(SPAN_TYPES[x], s, e) for x, s, e in decoding.tag_runs(gold)])
        pred_spans.append([(SPAN_TYPES[x], s, e) for x, s, e in decoding.tag_runs(tags)])
        scored.append([t for t, v in zip(SPAN_TYPES, data.types_present[r], strict=True) if v >= 0])
    out_metrics: dict[str, Any] = {"doc": {}}
    labels = data.doc_labels[rows]
    for h, head in enumerate(DOC_HEADS):
        y = labels[:, h]
        lab = y >= 0
        if not lab.any():
            continue  # a head the data does not label is absent, not zero
        out_metrics["doc"][head] = {
            "auprc": metrics.auprc(y[lab], doc_scores[lab, h]),
            "fp_at_95_recall": metrics.fp_rate_at_recall(y[lab], doc_scores[lab, h], 0.95),
            "accuracy": float(((doc_scores[lab, h] > 0) == (y[lab] == 1)).mean()),
        }
    out_metrics["spans_token"] = metrics.span_prf(gold_tokens, pred_tokens, SPAN_TYPES, match="exact")
    out_metrics["spans"] = {
        match: metrics.span_prf(gold_spans, pred_spans, SPAN_TYPES, match=match, scored_types=scored)
        for match in ("exact", "overlap")
    }
    return out_metrics


# ---------------------------------------------------------------------------- checkpoints


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write atomically: a kill mid-write leaves the previous checkpoint intact."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict written by `train`."""
    return torch.load(path, map_location=map_location, weights_only=False)


def model_from_checkpoint(path: str | Path | dict[str, Any], use_ema: bool = True) -> HRMDLP:
    """The trained model (EMA weights by default) in eval mode on CPU, from a checkpoint file or its
    already-loaded dict (so a caller that also reads the checkpoint's metrics loads it once)."""
    ckpt = path if isinstance(path, dict) else load_checkpoint(path)
    model = HRMDLP(ModelConfig.from_dict(ckpt["config"]["model"]))
    model.load_state_dict(ckpt["ema"] if use_ema else ckpt["model"])
    return model.eval()


# ---------------------------------------------------------------------------- training


def steps_within_budget(budget_s: float, epoch_steps: list[int], step_s: list[float], val_s: float) -> int:
    """The most optimizer steps of a run planned as `epoch_steps` steps per epoch whose estimated time fits
    `budget_s`: each epoch's steps at its price `step_s`, plus one validation (`val_s`) at every epoch
    end and where the run is cut. 0 when not even one step and its validation fit."""
    spent, steps = 0.0, 0
    for n, cost in zip(epoch_steps, step_s, strict=True):
        if spent + n * cost + val_s <= budget_s:
            spent, steps = spent + n * cost + val_s, steps + n
            continue
        steps += max(0, int((budget_s - spent - val_s) // cost)) if cost > 0 else n
        break
    return steps


def replan_budget(
    budget: dict[str, Any], epoch_steps: list[int], windows: list[int], history: list[dict[str, Any]],
    spent_s: float,
) -> int:  # fmt: skip
    """The steps the run may take in all, planned again at the end of epoch `len(history) - 1` from what
    the run measured: each finished epoch's training seconds (`history[k]["train_s"]`) against its priced
    seconds give a factor per window (all finished epochs' where a window has none yet), which scales the
    price of the epochs to come; their validations cost the mean measured one (`val_s`). `spent_s` is the
    budget spent so far, pricing included. Never past the epochs (`epoch_steps`); the schedule is theirs,
    so moving the cut changes no step before it. The steps done when nothing more fits."""
    done, step = len(history), history[-1]["step"]
    priced = [epoch_steps[k] * budget["step_s"][k] for k in range(done)]
    trained = [float(h["train_s"]) for h in history]

    def factor(ks: list[int]) -> float:
        p = sum(priced[k] for k in ks)
        return sum(trained[k] for k in ks) / p if p > 0 else 1.0

    overall = factor(list(range(done)))
    by_window = {w: factor([k for k in range(done) if windows[k] == w]) for w in set(windows[:done])}
    step_s = [budget["step_s"][k] * by_window.get(windows[k], overall) for k in range(done, len(epoch_steps))]
    val_s = float(np.mean([h["val_s"] for h in history]))
    rest = steps_within_budget(budget["time_budget_s"] - spent_s, epoch_steps[done:], step_s, val_s)
    return min(sum(epoch_steps), step + rest)


def price_run(
    model: HRMDLP, ds: TokenizedSet, plans: list[tuple[list[list[int]], int]], val_rows: np.ndarray,
    mcfg: ModelConfig, tcfg: TrainConfig, device: torch.device, n_timed: int = 3,
) -> dict[str, Any]:  # fmt: skip
    """Seconds per optimizer step of each epoch (`plans`: its batches and window) and per validation,
    timed on a copy of `model` so the run itself is untouched: one untimed step, then `n_timed` timed
    ones per distinct window, and a validation of 48 rows spread over `val_rows`, scaled to all of them
    by tokens. Batches are length-bucketed, so a step is priced by its padded tokens (`padded_tokens`)
    at the timed steps' seconds per padded token, and an epoch's step price is the mean over its batches."""
    probe = copy.deepcopy(model).train()
    opt = torch.optim.AdamW(probe.parameters(), lr=tcfg.lr)
    per_window: dict[int, float] = {}  # seconds per padded token
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for batches, window in plans:
            if window in per_window or not batches:
                continue
            micro = batches[: (1 + n_timed) * tcfg.grad_accum]
            rng = np.random.default_rng([tcfg.seed, 2**31, window])  # apart from every training draw
            # The first step is untimed (allocation, kernel choice) unless it is the only one.
            untimed = tcfg.grad_accum if len(micro) >= 2 * tcfg.grad_accum else 0
            t0 = time.perf_counter()
            for i, rows in enumerate(micro):
                if i == untimed:
                    t0 = time.perf_counter()
                b = training_batch(ds, rows, window, rng, {}, mcfg, tcfg, device)
                with autocast_for(device, tcfg):  # priced as the run will step
                    res = probe(b["input_ids"], b["attention_mask"], b["memory_seed"] if tcfg.use_threads else None,
                                b["candidate_ids"])  # fmt: skip
                    loss = dlp_loss(probe, res, b)[0]
                loss.backward()
                if (i + 1) % tcfg.grad_accum == 0:
                    opt.step()
                    opt.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            tokens = sum(padded_tokens(ds, rows, window) for rows in micro[untimed:])
            per_window[window] = (time.perf_counter() - t0) / max(1, tokens)
        # Every k-th row, priced by its tokens: decoding and windows make a validation cost what its
        # tokens do, and the first rows of the split can be much shorter than the rest.
        sample = val_rows[:: max(1, len(val_rows) // 48)][:48]
        t0 = time.perf_counter()
        if len(sample):
            evaluate(
                probe.eval(),
                ds,
                sample,
                device,
                tcfg.batch_size,
                default_overlap(mcfg.max_len),
                tcfg.use_threads,
            )
        val_tokens, sample_tokens = (sum(len(ds.input_ids[r]) for r in rows) for rows in (val_rows, sample))
        val_s = (time.perf_counter() - t0) * val_tokens / max(1, sample_tokens)
    step_s = [
        per_window.get(w, 0.0)
        * sum(padded_tokens(ds, rows, w) for rows in b)
        / max(1, len(b) // tcfg.grad_accum)
        for b, w in plans
    ]
    return {"step_s": step_s, "val_s": val_s}


def padded_tokens(ds: TokenizedSet, rows: list[int], window: int) -> int:
    """Tokens a micro-batch of `rows` runs: every row padded to the batch's longest, at most `window`."""
    return len(rows) * min(window, max((len(ds.input_ids[r]) for r in rows), default=0))


def training_batch(
    ds: TokenizedSet, rows: list[int], window: int, rng: np.random.Generator, memory: dict[int, np.ndarray],
    mcfg: ModelConfig, tcfg: TrainConfig, device: torch.device,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """One micro-batch as training feeds it: collated windows, thread seeds, masked-token targets."""
    b = collate(
        ds, rows, window, rng, memory if tcfg.use_threads else None, mcfg.memory_dim, mcfg.pad_id,
        mcfg.body_tag_id, tcfg.unseen_labels, mcfg.context_evidence,
    )  # fmt: skip
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    masked, targets = mask_tokens(
        b["input_ids"],
        b["attention_mask"],
        mcfg.mask_denoise_prob,
        mcfg.mask_id,
        gen,
        mcfg.denoise_target_share,
    )
    return {k: v.to(device) for k, v in {**b, "input_ids": masked, "denoise_targets": targets}.items()}


def clear_run_checkpoints(out: Path) -> list[Path]:
    """Remove the checkpoints an earlier run left in ``out`` (``last.pt``, ``best.pt``, ``epoch_<k>.pt``),
    before a run that does not resume starts there; returns what was removed.

    Every reader of a run directory takes these files as the run's own: an ablation re-run into the
    directory of a longer run kept its ``epoch_3.pt``, which the epoch history then read as the new
    run's, and a new run that stops before its first validation would leave the old ``best.pt`` behind.
    Only the trainer's own file names are touched.
    """
    stale = [p for p in (out / "last.pt", out / "best.pt", *out.glob("epoch_*.pt")) if p.is_file()]
    for p in stale:
        p.unlink()
    return stale


def train(
    data: str | Path | pa.Table | TokenizedSet,
    out_dir: str | Path,
    model_cfg: ModelConfig | None = None,
    train_cfg: TrainConfig | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train on the `train` split, validate on `val`; see the module docstring."""
    mcfg = model_cfg or ModelConfig.preset("cpu-small")
    tcfg = train_cfg or TrainConfig()
    check_select_on(tcfg.select_on)  # before any work, not at the first validation
    ds = data if isinstance(data, TokenizedSet) else load_tokenized(data)
    mcfg = mcfg.with_(dsl_version=ds.dsl_version)  # the model reads the DSL it was trained on
    if mcfg.name_candidates and "name" not in ds.candidate_marks:  # its embedding row would stay untrained
        raise ValueError(
            "the model reads the census-name candidate mark, but the tokenized table predates it: "
            "materialize tokenized_examples again (or train with name_candidates=False)"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    last_path, best_path = out / "last.pt", out / "best.pt"

    rank, world = _dist_info()
    device = _pick_device(tcfg.device, rank, world)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    seed_everything(tcfg.seed)
    model = HRMDLP(mcfg).to(device)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(param_groups(model, tcfg), lr=tcfg.lr, betas=tcfg.betas)
    train_rows, val_rows = ds.rows("train"), ds.rows("val")

    def plan(epoch: int) -> tuple[list[list[int]], int]:
        first = tcfg.curriculum and epoch == 0
        rows = curriculum_rows(ds, train_rows, clean_only=first)
        window = min(tcfg.curriculum_window, mcfg.max_len) if first else mcfg.max_len
        return epoch_batches(ds, rows, tcfg.batch_size, tcfg.seed, epoch, rank, world, window), window

    plans = [plan(e) for e in range(tcfg.epochs)]  # each epoch's batches and window, fixed by the seed
    epoch_steps = [len(batches) // tcfg.grad_accum for batches, _ in plans]
    total_steps, cap = sum(epoch_steps), tcfg.max_steps
    ckpt = load_checkpoint(last_path, device) if tcfg.resume and last_path.exists() else None
    if ckpt is None and rank == 0:
        clear_run_checkpoints(out)
    budget: dict[str, Any] | None = None
    if tcfg.time_budget_s:
        budget = ckpt["state"].get("budget") if ckpt is not None else None
        if budget is None:
            t_price = time.perf_counter()
            prices = price_run(model, ds, plans, val_rows, mcfg, tcfg, device)
            prices["price_s"] = time.perf_counter() - t_price  # spent from the budget too
            left = tcfg.time_budget_s - prices["price_s"]
            steps = _rank0(
                max(1, steps_within_budget(left, epoch_steps, prices["step_s"], prices["val_s"])),
                device,
                world,
            )
            budget = {"time_budget_s": tcfg.time_budget_s, **prices, "planned_steps": total_steps,
                      "steps": min(steps, total_steps)}  # fmt: skip
        # The run stops at the budget's last step on the epochs' own learning-rate schedule: ending the
        # schedule there instead (a shorter, complete cosine) trained worse at the same step (presets.py).
        cap = _step_cap(tcfg.max_steps, budget["steps"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, tcfg.warmup_steps, total_steps, tcfg.min_lr_ratio)
    )
    state: dict[str, Any] = {"step": 0, "epoch": 0, "batch_pos": 0, "history": [], "best_metric": math.inf,
                             "bad_epochs": 0, "memory": {}, "tokens": 0, "train_time": 0.0,
                             "best": {"epoch": None, "step": None, "val": {}}, "budget": budget,
                             "run_s": 0.0}  # fmt: skip
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        ema.load_state_dict(ckpt["ema"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        state.update(ckpt["state"])
        random.setstate(ckpt["rng"]["python"])
        np.random.set_state(ckpt["rng"]["numpy"])
        torch.set_rng_state(ckpt["rng"]["torch"])

    def run_s() -> float:  # wall seconds of the training loop, over every process of a resumed run
        return run_s_before + time.perf_counter() - t_start

    def checkpoint() -> None:
        state["run_s"] = run_s()
        if rank == 0:
            save_checkpoint(
                {"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict(), "step": state["step"], "best_metric": state["best_metric"],
                 "config": {"model": mcfg.to_dict(), "train": asdict(tcfg)}, "state": dict(state),
                 "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}},
                last_path,
            )  # fmt: skip

    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    autocast = autocast_for(device, tcfg)
    t_start, run_s_before = time.perf_counter(), float(state.get("run_s", 0.0))
    killed = capped = False
    while state["epoch"] < tcfg.epochs and not killed:
        epoch = state["epoch"]
        batches, window = plans[epoch]
        memory: dict[int, np.ndarray] = state["memory"]
        model.train()
        n_micro = len(batches) - len(batches) % tcfg.grad_accum
        bar = tqdm(total=n_micro, initial=state["batch_pos"], desc=f"epoch {epoch}",
                   disable=not tcfg.progress or rank != 0, leave=False)  # fmt: skip
        losses: list[float] = []
        t_epoch = time.perf_counter()
        for pos in range(state["batch_pos"], n_micro):
            # Per-batch randomness derived from (seed, epoch, pos): resume replays the same draws.
            rng = np.random.default_rng([tcfg.seed, epoch, pos, rank])
            b = training_batch(ds, batches[pos], window, rng, memory, mcfg, tcfg, device)
            last_micro = (pos + 1) % tcfg.grad_accum == 0
            sync = net.no_sync() if world > 1 and not last_micro else contextlib.nullcontext()  # type: ignore[operator]
            with sync, autocast:
                res = net(
                    b["input_ids"],
                    b["attention_mask"],
                    b["memory_seed"] if tcfg.use_threads else None,
                    b["candidate_ids"],
                )
                loss, parts = dlp_loss(model, res, b)
                (loss / tcfg.grad_accum).backward()
            for i, r in enumerate(batches[pos]):
                memory[r] = res.memory[i].detach().float().cpu().numpy()
            losses.append(parts["total"])
            state["tokens"] += int(b["attention_mask"].sum()) * world
            bar.update(1)
            if not last_micro:
                continue
            torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            state["step"] += 1
            with torch.no_grad():  # EMA with a warmup so short runs are not dominated by the init
                d = min(tcfg.ema_decay, (1 + state["step"]) / (10 + state["step"]))
                for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                    pe.lerp_(pm, 1 - d)
            state["batch_pos"] = pos + 1
            bar.set_postfix(loss=f"{parts['total']:.3f}", lr=f"{sched.get_last_lr()[0]:.2e}")
            if tcfg.kill_after_steps is not None and state["step"] >= tcfg.kill_after_steps:
                killed = True
                break
            if cap is not None and state["step"] >= cap:
                capped = True
                break
            if state["step"] % tcfg.ckpt_every == 0:
                state["train_time"] += time.perf_counter() - t_epoch
                t_epoch = time.perf_counter()
                checkpoint()
        bar.close()
        state["train_time"] += time.perf_counter() - t_epoch
        if killed:
            break
        # Validation windows as served (`default_overlap`), so these figures are the scanner's.
        t_val = time.perf_counter()
        val = (
            evaluate(
                ema, ds, val_rows, device, tcfg.batch_size, default_overlap(mcfg.max_len), tcfg.use_threads
            )
            if len(val_rows)
            else {}
        )
        metric, tie = selection_key(val, tcfg.select_on)
        if math.isnan(metric):
            metric = float(np.mean(losses) if losses else math.inf)
        val_s = time.perf_counter() - t_val
        # This epoch's training seconds: the run's so far less the finished epochs' (resume included).
        train_s = state["train_time"] - sum(h.get("train_s", 0.0) for h in state["history"])
        record = {"epoch": epoch, "step": state["step"], "train_loss": float(np.mean(losses)) if losses else math.nan,
                  "val": val, "window": window, "lr": sched.get_last_lr()[0], "train_s": train_s, "val_s": val_s}  # fmt: skip
        state["history"].append(record)
        # Patience counts improvements of the selection figure only, so a tie-break never lengthens a run.
        improved = better_checkpoint((metric, tie), (state["best_metric"], math.inf), tie_break=False)
        # A run resumed from a checkpoint older than the tie-break knows only the selection figure.
        kept = better_checkpoint(
            (metric, tie),
            state.get("best_key") or (state["best_metric"], math.inf),
            tcfg.tie_break,
            floor=min(metric, state["best_metric"]),
            margin=tcfg.tie_margin,
        )
        state["best_metric"] = min(metric, state["best_metric"])
        state["bad_epochs"] = 0 if improved else state["bad_epochs"] + 1
        state["epoch"], state["batch_pos"] = epoch + 1, 0
        if state["bad_epochs"] >= tcfg.patience or capped:
            state["epoch"] = tcfg.epochs  # early stop, or the step cap
        elif (
            budget is not None
            and state["epoch"] < tcfg.epochs
            and all("train_s" in h for h in state["history"])
        ):
            # The pricing ran on a cold process; this run's own epochs say what a step costs here.
            steps = replan_budget(budget, epoch_steps, [w for _, w in plans], state["history"],
                                  budget["price_s"] + run_s())  # fmt: skip
            steps = _rank0(steps, device, world)
            budget["steps"] = steps
            budget.setdefault("replanned", []).append(steps)
            cap = _step_cap(tcfg.max_steps, steps)
            if cap <= state["step"]:
                state["epoch"] = tcfg.epochs  # nothing more fits the budget
        if kept:  # the figures of best.pt travel with it (and with last.pt's state, for resume)
            state["best"] = {"epoch": epoch, "step": state["step"], "val": val}
            state["best_key"] = (metric, tie)
        checkpoint()
        if rank == 0 and tcfg.keep_epoch_checkpoints:
            save_checkpoint({"ema": ema.state_dict(), "step": state["step"], "epoch": epoch, "val_metrics": val,
                             "config": {"model": mcfg.to_dict(), "train": asdict(tcfg)}},
                            out / f"epoch_{epoch}.pt")  # fmt: skip
        if kept and rank == 0:
            save_checkpoint({"model": model.state_dict(), "ema": ema.state_dict(), "step": state["step"],
                             "epoch": epoch, "best_metric": metric, "val_metrics": val,
                             "config": {"model": mcfg.to_dict(), "train": asdict(tcfg)}},
                            best_path)  # fmt: skip
        if on_epoch_end is not None and rank == 0:
            on_epoch_end(
                {"epoch": epoch, "step": state["step"], "train_loss": record["train_loss"], **_flat(val)}
            )
    if world > 1:
        dist.barrier()  # rank 0 has written its checkpoint before anyone reads it
    wall = time.perf_counter() - t_start
    return TrainResult(
        checkpoint_path=str(last_path), best_checkpoint_path=str(best_path), history=state["history"],
        val_metrics=state["history"][-1]["val"] if state["history"] else {}, param_count=model.num_params(),
        tokens_per_s=state["tokens"] / max(state["train_time"], 1e-9), wall_time_s=wall, device=str(device),
        steps=state["step"], config={"model": mcfg.to_dict(), "train": asdict(tcfg)},
        best_val_metrics=state["best"]["val"], best_epoch=state["best"]["epoch"], best_step=state["best"]["step"],
        budget=state["budget"], precision="bf16" if trains_in_bf16(device, tcfg) else "fp32",
    )  # fmt: skip


def _step_cap(max_steps: int | None, budget_steps: int) -> int:
    """The step a budgeted run stops at: its plan's, or `max_steps` where that comes first."""
    return min(max_steps or budget_steps, budget_steps)


def _rank0(n: int, device: torch.device, world: int) -> int:
    """Rank 0's `n` on every rank (a budget's plan: the ranks' clocks differ)."""
    if world <= 1:
        return n
    agreed = torch.tensor([n], device=device)
    dist.broadcast(agreed, 0)
    return int(agreed.item())


def _flat(val: dict[str, Any]) -> dict[str, float]:
    """Validation metrics flattened to `doc/sensitivity/auprc`-style keys (for a run log)."""
    flat = {f"doc/{h}/{k}": float(v) for h, m in val.get("doc", {}).items() for k, v in m.items()}
    spans = val.get("spans_token", {})
    flat.update(
        {
            f"span/micro/{k}": float(v)
            for k, v in spans.get("micro", {}).items()
            if isinstance(v, (int, float))
        }
    )
    for match, block in val.get("spans", {}).items():  # whole spans, decoded as served
        flat[f"span_{match}/micro/f1"] = float(block["micro"]["f1"])
    flat.update({f"span/{t}/f1": float(m["f1"]) for t, m in spans.get("per_type", {}).items()})
    return flat


def plot_loss_curves(history: list[dict[str, Any]], path: str | Path) -> Path:
    """PNG of train loss and validation sensitivity FP@95R / span F1 per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(epochs, [h["train_loss"] for h in history], marker="o")
    a.set(xlabel="epoch", ylabel="train loss", title="training loss")
    fp = [h["val"].get("doc", {}).get("sensitivity", {}).get("fp_at_95_recall", math.nan) for h in history]
    f1 = [h["val"].get("spans_token", {}).get("micro", {}).get("f1", math.nan) for h in history]
    b.plot(epochs, fp, marker="o", label="sensitivity FP@95R")
    b.plot(epochs, f1, marker="s", label="span token F1")
    b.set(xlabel="epoch", title="validation")
    b.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
