"""The scanner: one outgoing message in, scores, spans, memory, decision and a redacted body out.

Pipeline per message (SPEC "Scanner and service"):
    validate (`ScanRequest`) -> serialize to DSL -> tokenize -> windows, model (ONNX int8 by default,
    ONNX fp32 or torch on request) and window merge in `hrm_core.tokens.windows.run_windows` (the
    function the trainer's validation and calibration call too) -> calibrated doc scores -> BIO tags decoded to spans in the ORIGINAL fields (body, subject,
    attachment names, recipients, links) -> decision policy -> response dict.

Deterministic: the model runs in eval mode without dropout, windows and batches go in a fixed order,
and the response holds no clock value but `latency_ms`. The scanner never logs or stores message
content; thread memory keeps only the 256-d memory vector per thread id (`ThreadMemory`).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hrm_core.data.contract import (
    DOC_HEADS,
    MAX_BODY_CHARS,
    SPAN_TYPES,
    Attachment,
    Channel,
    ContractError,
    Example,
    Meta,
    User,
    format_validation_error,
)
from hrm_core.data.dsl import DSL_VERSION, DSL_VERSIONS, Serialized, serialize_example
from hrm_core.model.thread_memory import ThreadMemory
from hrm_core.release.onnx_session import make_session
from hrm_core.release.onnx_session import select_providers as select_providers  # re-export
from hrm_core.release.onnx_session import usable_cpu_count as usable_cpu_count  # re-export
from hrm_core.release.policy import workflow_context
from hrm_core.serve.budget import ScanBudget
from hrm_core.tokens.decoding import decode_spans_many
from hrm_core.tokens.features import candidate_tags, spans_in_fields
from hrm_core.tokens.tokenizer import DlpTokenizer
from hrm_core.tokens.windows import (
    MergedOutput,
    default_overlap,
    header_length,
    run_windows,
    window_starts,
)

# Order of fields in the response's span list (then attachment/recipient/link index, then start).
FIELD_ORDER = {"subject": 0, "body": 1, "attachment": 2, "recipient": 3, "link": 4}
MAX_TEXT_FIELD_CHARS = 10_000  # subject, recipient, attachment name, link: a header, not a document
MAX_LIST_ITEMS = 1_000  # recipients, attachments, links
# Windows per engine call, so per budget check: on CPU `OnnxEngine` runs them one by one side by side
# anyway, so this sets how soon a cancelled scan stops (8 windows: ~0.1-0.2 s on 2 cores).
DEFAULT_WINDOW_BATCH = 8


# ---------------------------------------------------------------------------- request schema


OutsideClass = Literal["counsel", "payroll", "processor", "partner", "webmail", "public"]


class ScanMeta(BaseModel):
    """What the scanner reads from ``meta``: the sender's organisation domains (for exposure), and the
    outside parties the organisation has classed (``{"lawfirm.example": "counsel"}``: the workflow veto
    on context reads it, as the label rules do; an unlisted outside domain is a ``partner``).

    Other keys are ignored, as the contract's ``meta`` is open (``source``, generator notes...).
    """

    model_config = ConfigDict(extra="ignore")
    org_domains: Annotated[list[Annotated[str, Field(max_length=253)]], Field(max_length=100)] = []
    partner_classes: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=253)], OutsideClass], Field(max_length=100)
    ] = {}


ShortText = Annotated[str, Field(max_length=MAX_TEXT_FIELD_CHARS)]


class ScanRequest(BaseModel):
    """One message to scan: the training contract without labels and spans, most fields optional."""

    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    thread_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    channel: Channel = "email"
    user: User = User(role="OTHER")
    recipients: Annotated[list[ShortText], Field(max_length=MAX_LIST_ITEMS)] = []
    subject: ShortText = ""
    body: Annotated[str, Field(max_length=MAX_BODY_CHARS)]
    attachments: Annotated[list[Attachment], Field(max_length=MAX_LIST_ITEMS)] = []
    links: Annotated[list[ShortText], Field(max_length=MAX_LIST_ITEMS)] = []
    meta: ScanMeta = ScanMeta()

    @model_validator(mode="after")
    def _text_is_valid_unicode(self) -> ScanRequest:
        # JSON allows lone surrogates ("\\ud800"); the tokenizer cannot encode them, so refuse here.
        texts = [
            ("id", self.id),
            ("thread_id", self.thread_id),
            ("subject", self.subject),
            ("body", self.body),
        ]
        texts += [("user.dept", self.user.dept)]
        texts += [(f"recipients[{i}]", r) for i, r in enumerate(self.recipients)]
        texts += [(f"links[{i}]", u) for i, u in enumerate(self.links)]
        texts += [(f"meta.org_domains[{i}]", d) for i, d in enumerate(self.meta.org_domains)]
        texts += [(f"meta.partner_classes[{d!r}]", d) for d in self.meta.partner_classes]
        for i, a in enumerate(self.attachments):
            texts += [(f"attachments[{i}].name", a.name), (f"attachments[{i}].mime", a.mime)]
        for name, text in texts:
            if text is not None and not _utf8_encodable(text):
                raise ValueError(f"{name}: text holds a lone surrogate, not valid Unicode")
        return self

    def to_example(self) -> Example:
        """The contract `Example` the DSL serializer reads (no labels, no spans)."""
        meta = Meta(org_domains=self.meta.org_domains, source="scan")
        if self.meta.partner_classes:  # an open key of the contract's meta, read by the label rules
            meta.partner_classes = dict(self.meta.partner_classes)  # type: ignore[attr-defined]
        return Example(
            id=self.id or "scan",
            thread_id=self.thread_id,
            channel=self.channel,
            user=self.user,
            recipients=self.recipients,
            subject=self.subject,
            body=self.body,
            attachments=self.attachments,
            links=self.links,
            meta=meta,
        )


def _utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_scan_request(obj: Any) -> ScanRequest:
    """Validate a decoded JSON object into a `ScanRequest`; raises `ContractError` naming each bad field."""
    if isinstance(obj, ScanRequest):
        return obj
    if isinstance(obj, Example):
        partners = getattr(obj.meta, "partner_classes", None)
        obj = obj.model_dump(exclude={"labels", "spans", "meta"}) | {
            "meta": {
                "org_domains": obj.meta.org_domains,
                **({"partner_classes": partners} if partners else {}),
            }
        }
    if not isinstance(obj, dict):
        raise ContractError([f"message must be a JSON object, got {type(obj).__name__}"])
    try:
        return ScanRequest.model_validate(obj)
    except ValidationError as err:
        raise ContractError(format_validation_error(err)) from None


# ---------------------------------------------------------------------------- inference engines


@dataclass
class EngineOutput:
    doc_logits: np.ndarray  # [B, 4]
    span_logits: np.ndarray  # [B, T, 21]
    memory: np.ndarray  # [B, 256]
    probe_logits: np.ndarray | None = None  # [B, 10 + 4] when the engine exposes the memory probe


class InferenceEngine(Protocol):
    """A model runner: `run(ids [B,T] int64, mask [B,T] int64, seed [B,256] float32, candidate_ids
    [B,T] int64 or None) -> EngineOutput`. A model trained without the candidate channel ignores it."""

    name: str
    fixed_batch: int | None  # the only batch size a static-shape ONNX graph accepts, else None
    fixed_len: int | None  # the only sequence length it accepts (windows are padded to it), else None

    def run(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        memory_seed: np.ndarray,
        candidate_ids: np.ndarray | None = None,
    ) -> EngineOutput: ...


class TorchEngine:
    """Runs an `HRMDLP` module in eval mode under `torch.inference_mode` (no dropout, no graph)."""

    name = "torch"
    fixed_batch: int | None = None
    fixed_len: int | None = None

    def __init__(self, model: Any) -> None:
        self.model = model.eval()

    def run(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        memory_seed: np.ndarray,
        candidate_ids: np.ndarray | None = None,
    ) -> EngineOutput:
        import torch

        with torch.inference_mode():
            out = self.model(
                torch.from_numpy(input_ids),
                torch.from_numpy(attention_mask),
                torch.from_numpy(memory_seed),
                None if candidate_ids is None else torch.from_numpy(candidate_ids),
            )
        return EngineOutput(
            out.doc_logits.float().numpy(),
            out.span_logits.float().numpy(),
            out.memory.float().numpy(),
            out.probe_logits.float().numpy(),
        )


class OnnxEngine:
    """Runs an exported model with ONNX Runtime; inputs and outputs are matched by name.

    The session comes from `hrm_core.release.onnx_session.make_session`, the factory the export's parity
    and int8 checks use, so what was checked is configured as what is served.

    On CPU each window runs alone, cut to its own length: int8 dynamic quantization scales activations
    per tensor, so in a padded batch a window's logits moved with its neighbours and its padding (by up
    to 0.05 on the demo bundle); alone, a window always gets the same answer. ``parallel`` > 1 runs that
    many windows side by side, each on one thread (a session is thread-safe), instead of one run over
    all cores: on 2 cores the cpu-small int8 graph takes ~23 ms a 512-token window that way against
    ~40 ms (one 2-thread run, any batch size). A static-shape graph or a GPU gets whole batches.
    """

    def __init__(
        self, path: str, name: str = "onnx", intra_op_threads: int | None = None, parallel: int = 1
    ) -> None:
        self.session = make_session(path, threads=1 if parallel > 1 else intra_op_threads)
        self.name = name
        self._inputs = {i.name: i for i in self.session.get_inputs()}
        self._outputs = [o.name for o in self.session.get_outputs()]
        ids_shape = self._inputs[self._input_name("input_ids")].shape
        self.fixed_batch = ids_shape[0] if isinstance(ids_shape[0], int) else None
        self.fixed_len = ids_shape[1] if isinstance(ids_shape[1], int) else None
        on_gpu = self.session.get_providers()[0] != "CPUExecutionProvider"
        self.per_window = self.fixed_batch is None and self.fixed_len is None and not on_gpu
        self._pool = (
            ThreadPoolExecutor(parallel, thread_name_prefix=f"{name}-run")
            if parallel > 1 and self.per_window
            else None
        )

    def _input_name(self, wanted: str) -> str:
        if wanted in self._inputs:
            return wanted
        raise ValueError(f"ONNX model has no input {wanted!r} (inputs: {sorted(self._inputs)})")

    def run(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        memory_seed: np.ndarray,
        candidate_ids: np.ndarray | None = None,
    ) -> EngineOutput:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask, "memory_seed": memory_seed}
        if candidate_ids is not None:  # a graph exported without the channel does not declare it
            feeds["candidate_ids"] = candidate_ids
        feeds = {k: v.astype(_ort_dtype(self._inputs[k].type)) for k, v in feeds.items() if k in self._inputs}
        if not self.per_window:
            return self._output(self.session.run(self._outputs, feeds))
        B, T = input_ids.shape
        # Each row alone, cut at its last real token (run_windows pads at the end): [1, n_r] inputs.
        lengths = [max(1, int(np.flatnonzero(m).max(initial=0)) + 1) for m in attention_mask]
        rows = [{k: _row(k, v, r, lengths[r]) for k, v in feeds.items()} for r in range(B)]
        outs = (
            list(self._pool.map(self._run, rows)) if self._pool is not None else [self._run(f) for f in rows]
        )
        per_output = list(zip(*outs, strict=True))  # output -> its [1, ...] array of each row
        span_at = self._outputs.index("span_logits")
        span = np.zeros((B, T, *per_output[span_at][0].shape[2:]), dtype=np.float32)  # [B, T, 21]
        for r, (n, logits) in enumerate(zip(lengths, per_output[span_at], strict=True)):
            span[r, :n] = logits[0]
        return self._output([span if j == span_at else np.concatenate(a) for j, a in enumerate(per_output)])

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(self.session.run(self._outputs, feeds))

    def _output(self, arrays: Sequence[np.ndarray]) -> EngineOutput:
        values = dict(zip(self._outputs, arrays, strict=True))
        return EngineOutput(
            values["doc_logits"], values["span_logits"], values["memory"], values.get("probe_logits")
        )


def _row(name: str, value: np.ndarray, r: int, n: int) -> np.ndarray:
    """Row ``r`` of an input, token inputs cut to their first ``n`` positions."""
    return value[r : r + 1] if name == "memory_seed" else value[r : r + 1, :n]


def _ort_dtype(ort_type: str) -> type:
    return {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}.get(
        ort_type, np.float32
    )


# ---------------------------------------------------------------------------- the scanner


class DecisionPolicy(Protocol):
    def decide(self, scores: dict[str, float], spans: list[dict]) -> tuple[str, list[str]]: ...


@dataclass
class _Prepared:
    request: ScanRequest
    example: Example  # `request.to_example()`: what the DSL and the workflow veto read
    serialized: Serialized
    ids: list[int]
    offsets: list[tuple[int, int]]
    candidates: list[int] | None  # `candidate_tags`, when the model reads them
    head: int = 0  # header tokens every window repeats (`header_length`)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class Scanner:
    """Scans messages with one inference engine; build one with `Scanner.from_bundle(dir)`.

    ``calibrate`` maps merged doc logits ``[4]`` to calibrated probabilities ``[4]`` (the bundle's
    per-head temperatures); ``policy.decide(scores, spans)`` gives the decision and its rationale.
    """

    def __init__(
        self,
        engine: InferenceEngine,
        tokenizer: DlpTokenizer,
        policy: DecisionPolicy,
        *,
        max_len: int,
        window_overlap: int | None = None,
        memory_dim: int = 256,
        calibrate: Callable[[np.ndarray], np.ndarray] | None = None,
        model_version: str = "unversioned",
        batch_size: int = DEFAULT_WINDOW_BATCH,
        thread_memory: ThreadMemory | None = None,
        use_candidates: bool = False,
        leet_candidates: bool = False,
        name_candidates: bool = False,
        span_min_score: float = 0.0,
        body_tag_id: int = -1,
        dsl_version: int = DSL_VERSION,
        window_multiple: int = 1,
        workflow_veto: bool = True,
    ) -> None:
        self.engine = engine
        # The served context score is at most 1 - the score of the most confident detected value that
        # the sender's workflow does not allow here (`workflow_veto`); False serves the model's alone.
        self.workflow_veto = workflow_veto
        # The model reads the recognizers' candidate tags (`features.candidate_tags`): compute them.
        self.use_candidates = use_candidates
        # ... and the leetspeak mark, only for a model trained with it (a graph without it cannot take it).
        self.leet_candidates = leet_candidates
        self.name_candidates = name_candidates  # ... and the census-name mark, likewise
        self.span_min_score = span_min_score  # the bundle's validation-chosen floor (calibration.json)
        self.body_tag_id = body_tag_id  # long messages repeat their header per window (`header_length`)
        if dsl_version not in DSL_VERSIONS:  # at load, not as a failure of every scan
            raise ValueError(
                f"model dsl_version {dsl_version!r} is not one this scanner writes: {DSL_VERSIONS}"
            )
        self.dsl_version = dsl_version  # the DSL the model was trained on (`serialize_example`)
        self.window_multiple = window_multiple  # the model's segment: windows shrink by whole ones
        self.tokenizer = tokenizer
        self.policy = policy
        self.max_len = int(engine.fixed_len or max_len)
        # The trainer's validation and calibration use the same rule (`default_overlap`).
        self.window_overlap = window_overlap if window_overlap is not None else default_overlap(self.max_len)
        self.memory_dim = memory_dim
        self.calibrate = calibrate or _sigmoid
        self.model_version = model_version
        self.batch_size = int(engine.fixed_batch or batch_size)
        self.thread_memory = (
            thread_memory if thread_memory is not None else ThreadMemory(memory_dim=memory_dim)
        )
        # No piece covers more characters than its own length (identity normalisation), so a text of
        # n characters has at least n / _max_piece_chars tokens; x2 leaves room for a normalising one.
        self._max_piece_chars = 2 * max(len(tokenizer.id_to_piece(i)) for i in range(tokenizer.vocab_size))
        self.chars_per_token = 4.0  # typical ratio, updated from each scanned message (for estimates)
        # Typical repeated header of a long message (`header_length`), updated like chars_per_token.
        self.header_tokens = float(self.max_len // 8 if body_tag_id >= 0 else 0)
        self.seconds_per_token: float | None = None  # model time per token of full windows (`warmup`)

    @classmethod
    def over_model(
        cls, model: Any, tokenizer: DlpTokenizer, policy: DecisionPolicy, **kwargs: Any
    ) -> Scanner:
        """A torch scanner over an `HRMDLP` module (validation, calibration, ablations), set up from its
        config as a bundle's scanner is (`model_settings`)."""
        return cls(TorchEngine(model), tokenizer, policy, **{**model_settings(model.cfg.to_dict()), **kwargs})

    @classmethod
    def from_bundle(cls, bundle_dir: Any, backend: str = "int8", **kwargs: Any) -> Scanner:
        """A scanner over a model bundle directory; ``backend`` is ``int8`` (default), ``fp32`` or ``torch``."""
        return cls(**_bundle_parts(Path(bundle_dir), backend), **kwargs)

    # -- public API ------------------------------------------------------------------------------

    def scan(self, message: Any, thread_id: str | None = None) -> dict[str, Any]:
        """Scan one message (dict, `ScanRequest` or `Example`); ``thread_id`` overrides the message's own."""
        return self.scan_batch([message], [thread_id])[0]

    def scan_batch(
        self,
        messages: Sequence[Any],
        thread_ids: Sequence[str | None] | None = None,
        *,
        budget: ScanBudget | None = None,
    ) -> list[dict[str, Any]]:
        """Scan messages together (their windows share model batches); results in input order.

        Messages of one thread are scanned in order, each seeded with the previous one's memory, so a
        batch gives the same results as scanning its messages one by one. With a ``budget``, messages
        needing more windows than it allows raise `ScanTooLong` before any model work, and the scan
        stops with `ScanCancelled` between window batches once the budget's deadline passes.
        """
        t0 = time.perf_counter()
        requests = [parse_scan_request(m) for m in messages]
        if thread_ids is not None:
            if len(thread_ids) != len(requests):
                raise ValueError(f"{len(thread_ids)} thread ids for {len(requests)} messages")
            requests = [
                r.model_copy(update={"thread_id": t}) if t is not None else r
                for r, t in zip(requests, thread_ids, strict=True)
            ]
        if budget is not None:
            budget.check()
            self._refuse_early(requests, budget)
        prepared = [self._prepare(r) for r in requests]
        if budget is not None:
            budget.admit_windows(sum(self._windows(len(p.ids), p.head) for p in prepared))
        results: list[dict[str, Any] | None] = [None] * len(requests)
        for wave in _thread_waves(requests):
            for i, result in zip(wave, self._run_wave([prepared[i] for i in wave], budget), strict=True):
                results[i] = result
        latency_ms = round((time.perf_counter() - t0) * 1000 / max(1, len(requests)), 3)
        for r in results:
            r["latency_ms"] = latency_ms  # type: ignore[index]
        return results  # type: ignore[return-value]

    def estimate_windows(self, messages: Sequence[ScanRequest]) -> int:
        """Windows the messages will probably take (typical characters per token): to price work."""
        head = round(self.header_tokens)
        return sum(self._windows(int(_text_chars(m) / self.chars_per_token) + 8, head) for m in messages)

    def warmup(self) -> float:
        """Run one tiny message, then one batch of full windows (measures `seconds_per_token`); ms."""
        t0 = time.perf_counter()
        self.scan_batch([{"body": "warmup"}])
        ms = (time.perf_counter() - t0) * 1000
        rows, width = self.batch_size, self.max_len
        ids = np.full((rows, width), (self.tokenizer.pad_id + 1) % self.tokenizer.vocab_size, dtype=np.int64)
        seed = np.zeros((rows, self.memory_dim), dtype=np.float32)
        cand = np.zeros_like(ids) if self.use_candidates else None  # a graph with the channel requires it
        t1 = time.perf_counter()
        self._run_engine(ids, np.ones_like(ids), seed, cand)
        self.seconds_per_token = (time.perf_counter() - t1) / (rows * width)
        return ms

    # -- steps -----------------------------------------------------------------------------------

    def _prepare(self, request: ScanRequest) -> _Prepared:
        example = request.to_example()
        serialized = serialize_example(example, version=self.dsl_version)
        ids, offsets = self.tokenizer.encode(serialized.text)
        if not ids:  # cannot happen for DSL text (tags are tokens); keeps the model input non-empty
            ids, offsets = [self.tokenizer.pad_id], [(0, 0)]
        if len(serialized.text) > 1000:  # a benign race between threads: it is only an estimate
            self.chars_per_token = 0.9 * self.chars_per_token + 0.1 * len(serialized.text) / len(ids)
        cand = (
            candidate_tags(serialized, offsets, self.leet_candidates, self.name_candidates)
            if self.use_candidates
            else None
        )
        head = header_length(ids, self.body_tag_id, self.max_len)
        if head:
            self.header_tokens = 0.9 * self.header_tokens + 0.1 * head
        return _Prepared(request, example, serialized, ids, offsets, cand, head)

    def _windows(self, n_tokens: int, head: int = 0) -> int:
        return len(window_starts(max(1, n_tokens), self.max_len, self.window_overlap, head))

    def _min_tokens(self, request: ScanRequest) -> int:
        return _text_chars(request) // self._max_piece_chars

    def _refuse_early(self, requests: Sequence[ScanRequest], budget: ScanBudget) -> None:
        """`ScanTooLong` before the messages are tokenized whole (a 2 MB body held as tokens and offsets
        takes ~400 MB): from a lower bound on the token count (characters / longest piece), then, for
        messages that may well be too long, from counting body tokens a piece at a time. Both counts
        leave the repeated header out (it only adds windows), so they stay lower bounds: the exact count
        after tokenizing refuses what they let through."""
        if budget.max_windows is None:
            return
        budget.admit_windows(sum(self._windows(self._min_tokens(r)) for r in requests), estimated=True)
        if sum(self.estimate_windows([r]) for r in requests) <= budget.max_windows // 2:
            return  # far within the allowance: the exact count after tokenizing decides
        cap = self.max_len + budget.max_windows * (self.max_len - self.window_overlap)
        counted = [self._count_body_tokens(r.body, cap) for r in requests]
        budget.admit_windows(sum(self._windows(n) for n in counted), estimated=True)

    def _count_body_tokens(self, body: str, cap: int, piece: int = 32_768) -> int:
        """Tokens of ``body`` counted ``piece`` characters at a time (stops past ``cap``); a cut can add a
        token or two at each side, so two per cut are taken off: about a lower bound."""
        n, cuts = 0, 0
        for start in range(0, len(body), piece):
            n += len(self.tokenizer.encode(body[start : start + piece])[0])
            cuts += 1
            if n - 2 * cuts > cap:
                break
        return max(0, n - 2 * max(0, cuts - 1))

    def _run_wave(self, prepared: list[_Prepared], budget: ScanBudget | None = None) -> list[dict[str, Any]]:
        seeds = np.stack([self._seed(p.request.thread_id) for p in prepared])  # [N, 256]
        merged = run_windows(
            self._run_engine if budget is None else budget.metered(self._run_engine),
            [p.ids for p in prepared],
            seeds,
            max_len=self.max_len,
            overlap=self.window_overlap,
            pad_id=self.tokenizer.pad_id,
            batch_size=self.batch_size,
            fixed_batch=self.engine.fixed_batch,
            fixed_len=self.engine.fixed_len,
            candidates=[p.candidates or [] for p in prepared] if self.use_candidates else None,
            heads=[p.head for p in prepared],
            multiple=self.window_multiple,
        )
        # The whole wave is decoded in one call (its uncertain stretches share the Viterbi loop).
        decoded = decode_spans_many(
            [(m.tag_logits, p.offsets, p.serialized.text) for p, m in zip(prepared, merged, strict=True)]
        )
        return [self._respond(p, m, d) for p, m, d in zip(prepared, merged, decoded, strict=True)]

    def _run_engine(
        self, ids: np.ndarray, mask: np.ndarray, seed: np.ndarray, cand: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...]:
        # An engine of a model without the channel may take only the three v1 inputs.
        out = (
            self.engine.run(ids, mask, seed, cand)
            if self.use_candidates
            else self.engine.run(ids, mask, seed)
        )
        probe = () if out.probe_logits is None else (out.probe_logits,)
        return (out.doc_logits, out.span_logits, out.memory, *probe)

    def _seed(self, thread_id: str | None) -> np.ndarray:
        vec = self.thread_memory.get(thread_id)
        return vec if vec is not None else np.zeros(self.memory_dim, dtype=np.float32)

    def _respond(
        self, p: _Prepared, merged: MergedOutput, decoded: list[tuple[str, int, int, float]]
    ) -> dict[str, Any]:
        memory = merged.memory  # [256]
        probs = np.asarray(self.calibrate(np.asarray(merged.doc_logits, dtype=np.float64)), dtype=np.float64)
        scores = {h: round(float(v), 6) for h, v in zip(DOC_HEADS, probs, strict=True)}
        spans = self._spans(p, decoded)
        if self.workflow_veto:
            scores["context"] = workflow_context(p.example, scores["context"], spans)
        probe = merged.probe_logits
        type_probs = _sigmoid(probe[: len(SPAN_TYPES)]) if probe is not None else None
        flags = {
            f"has_{t.lower()}": bool(
                any(s["type"] == t for s in spans) or (type_probs is not None and type_probs[j] >= 0.5)
            )
            for j, t in enumerate(SPAN_TYPES)
        }
        decision, rationale = self.policy.decide(scores, spans)
        self.thread_memory.put(p.request.thread_id, memory)
        return {
            "id": p.request.id,
            "scores": scores,
            "spans": spans,
            "memory": {
                "vec": base64.b64encode(memory.astype("<f4").tobytes()).decode("ascii"),
                "flags": flags,
            },
            "decision": decision,
            "rationale": list(rationale),
            "redacted_body": redact_body(p.request.body, spans),
            "model_version": self.model_version,
        }

    def _spans(self, p: _Prepared, decoded: list[tuple[str, int, int, float]]) -> list[dict]:
        # `decoded`: BIO-constrained whole spans of this message's tag logits, from the decoder the
        # trainer's validation uses (hrm_core.tokens.decoding), fitted to the serialized text (no
        # invisible ends, whole words). Spans the model rates below the bundle's validation-chosen floor
        # are not served.
        scored = [
            (span_type, start, end, round(score, 6))
            for span_type, start, end, score in decoded
            if score >= self.span_min_score
        ]
        spans = spans_in_fields(scored, p.serialized)
        spans = [s for s in spans if s["end"] > s["start"]]
        return sorted(spans, key=lambda s: (FIELD_ORDER.get(s["field"], 9), s["index"], s["start"]))


BACKEND_FILES = {"int8": "model.int8.onnx", "fp32": "model.onnx"}


def _bundle_parts(bundle: Path, backend: str) -> dict[str, Any]:
    """Constructor arguments for `Scanner` from a model bundle directory (SPEC "model bundle").

    The bundle is verified against its manifest first (`hrm_core.release.bundle.read_bundle`), so a
    changed, truncated or missing file is a one-line `BundleError` naming it, and the scanner's
    ``model_version`` is the one derived from the files it loads.
    """
    from hrm_core.release.bundle import BundleError, read_bundle

    if backend not in (*BACKEND_FILES, "torch"):
        raise ValueError(f"backend must be int8, fp32 or torch, got {backend!r}")
    bundle = Path(bundle).resolve()  # the champion link may be swapped meanwhile: load one target
    b = read_bundle(bundle)
    model_cfg = b.config["model"]
    part = "model.pt" if backend == "torch" else BACKEND_FILES[backend]
    if not (bundle / part).is_file():  # model.pt is optional in a bundle
        raise BundleError(f"{bundle / part}: missing (needed by the {backend} backend)")
    try:
        if backend == "torch":
            engine: InferenceEngine = TorchEngine(_load_torch_model(bundle, model_cfg))
        else:
            engine = OnnxEngine(str(bundle / part), name=f"onnx-{backend}", parallel=usable_cpu_count())
    except Exception as err:  # verified bytes that still do not load: say which file, in one line
        raise BundleError(f"{bundle / part}: cannot load: {_one_line(err)}") from err
    try:
        tokenizer = DlpTokenizer.load(bundle / "tokenizer.model")
    except Exception as err:
        raise BundleError(f"{bundle / 'tokenizer.model'}: cannot load: {_one_line(err)}") from err
    return {
        "engine": engine,
        "tokenizer": tokenizer,
        "policy": b.policy,
        **model_settings(model_cfg),
        "window_overlap": b.config.get("window_overlap"),
        "calibrate": b.calibration.apply,
        "model_version": b.model_version,
        "span_min_score": b.calibration.span_min_score,
    }


def model_settings(model_cfg: dict[str, Any]) -> dict[str, Any]:
    """`Scanner` arguments a model's config decides: window length, memory size, whether it reads the
    candidate channel, the header its windows repeat, the segment its compute pads to, the DSL version it
    reads. Keys a config predates take the v1 values (a config without a segment length shrinks windows
    by single tokens)."""
    return {
        "max_len": int(model_cfg.get("max_len", 512)),
        "memory_dim": int(model_cfg.get("memory_dim", 256)),
        "use_candidates": bool(model_cfg.get("use_candidates", False)),
        "leet_candidates": bool(model_cfg.get("leet_candidates", False)),
        "name_candidates": bool(model_cfg.get("name_candidates", False)),
        "body_tag_id": int(model_cfg.get("body_tag_id", -1)),
        "window_multiple": int(model_cfg.get("slow_update_stride", 1)),
        "dsl_version": int(model_cfg.get("dsl_version", 1)),
    }


def _one_line(err: BaseException) -> str:
    first = next((line for line in str(err).splitlines() if line.strip()), "")
    return f"{type(err).__name__}: {first.strip()}"[:300]


def _load_torch_model(bundle: Path, model_cfg: dict) -> Any:
    import torch

    from hrm_core.model.hrm import HRMDLP, ModelConfig

    model = HRMDLP(ModelConfig.from_dict(model_cfg))
    state = torch.load(bundle / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state.get("model", state))
    return model


def _text_chars(m: ScanRequest) -> int:
    """Characters of the message text the tokenizer will see (the DSL adds a few tags on top)."""
    lists = (*m.recipients, *m.links, *(a.name for a in m.attachments))
    return len(m.body) + len(m.subject) + sum(len(x) for x in lists)


def _thread_waves(requests: Sequence[ScanRequest]) -> list[list[int]]:
    """Indices grouped so that the k-th message of each thread runs in wave k (its seed is ready)."""
    seen: dict[str, int] = {}
    waves: list[list[int]] = []
    for i, r in enumerate(requests):
        k = 0
        if r.thread_id is not None:
            k = seen.get(r.thread_id, -1) + 1
            seen[r.thread_id] = k
        while len(waves) <= k:
            waves.append([])
        waves[k].append(i)
    return waves


def redact_body(body: str, spans: Iterable[dict]) -> str:
    """``body`` with every body span replaced by ``[TYPE]`` (spans are non-overlapping)."""
    out, pos = [], 0
    for s in sorted((s for s in spans if s["field"] == "body"), key=lambda s: s["start"]):
        if s["start"] < pos:
            continue
        out.append(body[pos : s["start"]])
        out.append(f"[{s['type']}]")
        pos = s["end"]
    out.append(body[pos:])
    return "".join(out)


def decision_severity(decision: str) -> int:
    """0 for an allow, 1 for a warning, 2 for a block (the CLI's exit status under ``--fail-on``)."""
    d = decision.upper()
    if "BLOCK" in d:
        return 2
    if "WARN" in d:
        return 1
    return 0
