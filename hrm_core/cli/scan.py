"""`hrm-dlp scan` and `hrm-dlp serve`: the scanner on the command line and as an HTTP service.

``hrm-dlp scan [--model DIR] [FILE|-]`` reads JSONL messages (one `ScanRequest` per line; a training
example's ``labels`` and ``spans`` are ignored) and writes one JSON result per line, in input order.
``hrm-dlp scan --text TEXT`` scans TEXT as one message body; ``--text -`` reads that body from stdin
(``git diff --cached | hrm-dlp scan --text - --fail-on block``).

Without ``--model`` the lake's champion answers, or the rules engine while none has been promoted
(one notice line on stderr; ``model_version`` says so). Exit status, for pre-commit hooks and CI (the
statuses every ``hrm-dlp`` command shares are in `hrm_core.cli.main`):

    0  every message scanned and none reached the ``--fail-on`` level (always 0 without it)
    1  worst decision is a warning, with ``--fail-on warn``
    2  worst decision is a block, with ``--fail-on block`` or ``--fail-on warn``
    3  a message could not be scanned, or nothing could: see below
    4  internal error (one line; the traceback with ``HRM_DLP_DEBUG=1``)

A line that is not a message (not UTF-8, e.g. a binary file; not JSON; not a valid `ScanRequest`;
longer than `MAX_LINE_BYTES`) gets an ``{"line", "error", "detail"}`` record in its place and scanning
goes on; the status is then 3 whatever the decisions. Status 3 with no output at all: the input is
missing, a directory or unreadable, or the ``--model`` bundle is missing or damaged (one line on
stderr). ``--text -`` reads raw bytes: invalid UTF-8 there becomes U+FFFD and a notice, so a diff
with one stray byte is still scanned.

Nothing is written to stderr but notices and the reason for status 3, never message content.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

EXIT_CANNOT_SCAN = 3  # hrm_core.cli.main.EXIT_USAGE: the same status for every command
SEVERITY_OF_FAIL_ON = {"warn": 1, "block": 2}
# Longest JSONL line read: a body at the contract's limit (1M characters) JSON-escaped, with headroom.
MAX_LINE_BYTES = 16 << 20


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", type=Path, default=None, help="model bundle dir (default: <lake>/models/champion)"
    )
    p.add_argument(
        "--backend",
        choices=("int8", "fp32", "torch"),
        default="int8",
        help="model runtime (default: int8 ONNX)",
    )


def add_scan_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``hrm-dlp scan``."""
    import typing

    from hrm_core.data.contract import Role

    _add_model_arguments(p)
    p.add_argument("input", nargs="?", default=None, help="JSONL file of messages, or - for stdin (default)")
    p.add_argument(
        "--text",
        metavar="TEXT",
        default=None,
        help="scan TEXT as one message body instead of JSONL ('-': read the body from stdin)",
    )
    p.add_argument(
        "--channel", choices=("email", "chat", "pr", "upload"), default="upload", help="channel for --text"
    )
    p.add_argument(
        "--role",
        choices=typing.get_args(Role),
        default="OTHER",
        help="the sender's role for --text: the workflow table decides which values it may send where "
        "(context); OTHER (default) may send nothing sensitive",
    )
    p.add_argument(
        "--fail-on", choices=("warn", "block"), default=None, help="exit 1/2 at this decision or worse"
    )
    p.add_argument("--batch-size", type=int, default=16, help="messages per model batch (JSONL input)")


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``hrm-dlp serve``."""
    from hrm_core.serve.service import ServiceSettings

    d = ServiceSettings()
    _add_model_arguments(p)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: local only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes, help="larger requests get 413")
    p.add_argument("--max-batch", type=int, default=d.max_batch, help="messages per /scan/batch request")
    p.add_argument(
        "--timeout",
        type=float,
        default=d.timeout_s,
        help="deadline per request in seconds: the answer comes within it (504 past it, the work stopped); "
        "it also sets the longest message served (longer ones get 413)",
    )
    p.add_argument("--workers", type=int, default=d.workers, help="scan threads")
    p.add_argument(
        "--max-pending",
        type=int,
        default=d.max_pending,
        help="scans admitted at once before 503 + Retry-After",
    )
    p.add_argument(
        "--max-wait",
        type=float,
        default=d.max_wait_s,
        help="longest expected wait for a scan thread before 503",
    )
    p.add_argument("--auth", action="store_true", help="require 'Authorization: Bearer <token>'")
    p.add_argument(
        "--auth-token-env", default=d.auth_token_env, help="env var holding the token (with --auth)"
    )


def _load_scanner(args: argparse.Namespace) -> Any:
    """The scanner `hrm_core.serve.loading` picks, its notice on stderr; None (after one line) if none."""
    from hrm_core.serve.loading import NoBundleError, load_scanner

    try:
        loaded = load_scanner(args.model, getattr(args, "lake", None), backend=args.backend)
    except NoBundleError as err:
        sys.stderr.write(f"hrm-dlp: {err}\n")
        return None
    except (OSError, ValueError) as err:  # a damaged bundle: a file missing, truncated or not parseable
        detail = " ".join(str(err).split()) or type(err).__name__
        sys.stderr.write(f"hrm-dlp: cannot load the model bundle: {detail}\n")
        return None
    if loaded.notice:
        sys.stderr.write(f"hrm-dlp: {loaded.notice}\n")
    return loaded.scanner


def _stdin_bytes() -> BinaryIO:
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        return buffer
    return io.BytesIO(sys.stdin.read().encode("utf-8", "surrogateescape"))  # a text-only stdin (tests)


def _open_input(path: str) -> BinaryIO:
    """The JSONL input as bytes (``-``: stdin); a missing, directory or unreadable path raises OSError."""
    if path == "-":
        return _stdin_bytes()
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if p.is_dir():
        raise IsADirectoryError(f"not a file: {path}")
    try:
        return open(p, "rb")
    except OSError as err:
        raise OSError(f"cannot read {path}: {err.strerror or err}") from err


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """(line number, raw line | None when longer than `MAX_LINE_BYTES`, skipped) without the newline."""
    n = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        n += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass  # drop the rest of the over-long line, a megabyte at a time
            yield n, None
            continue
        yield n, raw.rstrip(b"\r\n")


def _decode_text(raw: bytes | str) -> str:
    """A ``--text`` body as text; invalid UTF-8 becomes U+FFFD, with a notice (never the bytes)."""
    if isinstance(raw, str):  # argv: undecodable bytes arrive as lone surrogates
        raw = raw.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        sys.stderr.write("hrm-dlp scan: --text is not valid UTF-8; invalid bytes were replaced by U+FFFD\n")
        return raw.decode("utf-8", errors="replace")


def _messages(args: argparse.Namespace, stream: BinaryIO | None) -> Iterator[tuple[int, Any]]:
    """(line number, decoded message or a ContractError) in input order."""
    from hrm_core.data.contract import ContractError
    from hrm_core.serve.scanner import parse_scan_request

    if args.text is not None:
        text = _decode_text(_stdin_bytes().read() if args.text == "-" else args.text)
        try:
            yield 1, parse_scan_request({"body": text, "channel": args.channel, "user": {"role": args.role}})
        except ContractError as err:  # e.g. a body over the size limit
            yield 1, err
        return
    assert stream is not None
    for n, raw in _lines(stream):
        if raw is None:
            yield n, ContractError([f"line is longer than {MAX_LINE_BYTES} bytes"])
            continue
        if n == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM some editors add
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            where = f"byte 0x{raw[err.start]:02x} at offset {err.start}"
            yield n, ContractError([f"line is not valid UTF-8 ({where})"])
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if isinstance(obj, dict):  # a training example: scan it, ignore its answers
                obj = {k: v for k, v in obj.items() if k not in ("labels", "spans")}
            yield n, parse_scan_request(obj)
        except json.JSONDecodeError as err:
            yield n, ContractError([f"line is not JSON ({err.msg} at column {err.colno})"])
        except RecursionError:
            yield n, ContractError(["line is not JSON (nested too deeply)"])
        except ContractError as err:
            yield n, err


def run_scan(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``hrm-dlp scan``: one JSON result per message on stdout; the exit status described above."""
    out = out or sys.stdout
    if args.text is not None and args.input is not None:
        sys.stderr.write("hrm-dlp scan: give either --text TEXT or an input FILE, not both\n")
        return EXIT_CANNOT_SCAN
    stream = None
    if args.text is None:
        try:
            stream = _open_input(args.input or "-")  # before loading a model: a typo fails fast
        except OSError as err:
            sys.stderr.write(f"hrm-dlp scan: {err}\n")
            return EXIT_CANNOT_SCAN
    try:
        return _scan_stream(args, stream, out)
    finally:
        if stream is not None and args.input not in (None, "-"):
            stream.close()


def _scan_stream(args: argparse.Namespace, stream: BinaryIO | None, out: TextIO) -> int:
    from hrm_core.data.contract import ContractError
    from hrm_core.serve.scanner import decision_severity

    scanner = _load_scanner(args)
    if scanner is None:
        return EXIT_CANNOT_SCAN
    worst, invalid = 0, False
    pending: list[tuple[int, Any]] = []

    def flush() -> None:
        nonlocal worst, invalid
        valid = [m for _, m in pending if not isinstance(m, ContractError)]
        results = iter(scanner.scan_batch(valid)) if valid else iter(())
        for n, m in pending:
            if isinstance(m, ContractError):
                invalid = True
                record = {"line": n, "error": "invalid message", "detail": m.reasons}
            else:
                record = next(results)
                worst = max(worst, decision_severity(str(record["decision"])))
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()
        pending.clear()

    for item in _messages(args, stream):
        pending.append(item)
        if len(pending) >= max(1, args.batch_size):
            flush()
    flush()
    if invalid:
        sys.stderr.write("hrm-dlp scan: some lines were not valid messages (see their error records)\n")
        return EXIT_CANNOT_SCAN
    if args.fail_on is None:
        return 0
    return worst if worst >= SEVERITY_OF_FAIL_ON[args.fail_on] else 0


def run_serve(args: argparse.Namespace) -> int:
    """``hrm-dlp serve``: the scan service on ``--host``/``--port`` until interrupted."""
    import uvicorn

    from hrm_core.serve.service import ServiceSettings, create_app

    scanner = _load_scanner(args)
    if scanner is None:
        return EXIT_CANNOT_SCAN
    settings = ServiceSettings(
        max_body_bytes=args.max_body_bytes,
        max_batch=args.max_batch,
        timeout_s=args.timeout,
        workers=args.workers,
        max_pending=args.max_pending,
        max_wait_s=args.max_wait,
        require_auth=args.auth,
        auth_token_env=args.auth_token_env,
        backend=args.backend,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(scanner, settings)  # warms the model up and measures it (the window allowance)
    # The service's own log line has the request id, sizes and decisions; uvicorn's access log would
    # only repeat the path (and any query string a client put there), so it is off.
    try:
        uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_config=None)
    except SystemExit as stop:  # uvicorn exits 1 when it cannot bind: that is not --fail-on's 1
        if stop.code not in (0, None):
            sys.stderr.write(
                f"hrm-dlp serve: could not serve on {args.host}:{args.port} (see the log above)\n"
            )
            return EXIT_CANNOT_SCAN
    return 0
