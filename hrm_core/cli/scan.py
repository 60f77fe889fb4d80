"""`hrm-dlp scan` and `hrm-dlp serve`: the scanner on the command line and as an HTTP service.

``hrm-dlp scan [--model DIR] [FILE|-]`` reads JSONL messages (one `ScanRequest` per line; a training
example's ``labels`` and ``spans`` are ignored) and writes one JSON result per line, in input order.
``hrm-dlp scan --text TEXT`` scans TEXT as one message body; ``--text -`` reads that body from stdin
(``git diff --cached | hrm-dlp scan --text - --fail-on block``).

Without ``--model`` the lake's champion answers, or the rules engine while none has been promoted
(one notice line on stderr; ``model_version`` says so). Exit status, for pre-commit hooks and CI:

    0  every message scanned and none reached the ``--fail-on`` level (always 0 without it)
    1  worst decision is a warning, with ``--fail-on warn``
    2  worst decision is a block, with ``--fail-on block`` or ``--fail-on warn``
    3  a message could not be scanned (invalid line: an ``{"line", "error", "detail"}`` record is
       written in its place), or the input or the ``--model`` bundle is missing or unreadable

Nothing is written to stderr but notices and the reason for status 3, never message content.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

EXIT_CANNOT_SCAN = 3
SEVERITY_OF_FAIL_ON = {"warn": 1, "block": 2}


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
    p.add_argument("--timeout", type=float, default=d.timeout_s, help="seconds per request before 504")
    p.add_argument("--workers", type=int, default=d.workers, help="scan threads")
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
    if loaded.notice:
        sys.stderr.write(f"hrm-dlp: {loaded.notice}\n")
    return loaded.scanner


def _read_lines(path: str) -> Iterator[str]:
    if path == "-":
        yield from sys.stdin
        return
    with open(path, encoding="utf-8") as f:
        yield from f


def _messages(args: argparse.Namespace) -> Iterator[tuple[int, Any]]:
    """(line number, decoded message or a ContractError) in input order."""
    from hrm_core.data.contract import ContractError
    from hrm_core.serve.scanner import parse_scan_request

    if args.text is not None:
        text = sys.stdin.read() if args.text == "-" else args.text
        yield 1, parse_scan_request({"body": text, "channel": args.channel})
        return
    for n, line in enumerate(_read_lines(args.input or "-"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if isinstance(obj, dict):  # a training example: scan it, ignore its answers
                obj = {k: v for k, v in obj.items() if k not in ("labels", "spans")}
            yield n, parse_scan_request(obj)
        except json.JSONDecodeError as err:
            yield n, ContractError([f"line is not JSON ({err.msg} at column {err.colno})"])
        except ContractError as err:
            yield n, err


def run_scan(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``hrm-dlp scan``: one JSON result per message on stdout; the exit status described above."""
    from hrm_core.data.contract import ContractError
    from hrm_core.serve.scanner import decision_severity

    out = out or sys.stdout
    if args.text is not None and args.input is not None:
        sys.stderr.write("hrm-dlp scan: give either --text TEXT or an input FILE, not both\n")
        return EXIT_CANNOT_SCAN
    if args.input not in (None, "-") and not Path(args.input).is_file():
        sys.stderr.write(f"hrm-dlp scan: no such file: {args.input}\n")
        return EXIT_CANNOT_SCAN
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

    for item in _messages(args):
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
        require_auth=args.auth,
        auth_token_env=args.auth_token_env,
        backend=args.backend,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(scanner, settings)
    scanner.warmup()
    # The service's own log line has the request id, sizes and decisions; uvicorn's access log would
    # only repeat the path (and any query string a client put there), so it is off.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_config=None)
    return 0
