"""`turnout explain`: read an error or a log and say what it means and what to do."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from turnout.diagnosis import Diagnosis, diagnose

HELP = "explain a provider error or a pasted log: category, decision, what to do"

_BATCH_FIELDS = ("status", "headers", "body", "provider", "log")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", help="the error body or log; '-' or nothing reads stdin")
    parser.add_argument("-f", "--file", type=Path, help="read the error or log from FILE")
    parser.add_argument("--status", type=int, help="the HTTP status, if known")
    parser.add_argument("--provider", help="the provider kind, e.g. anthropic, openai, deepseek")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a response header (repeatable), e.g. --header 'retry-after: 30'",
    )
    parser.add_argument("--lang", choices=("en", "zh"), help="language (default: from locale)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--batch",
        action="store_true",
        help="read JSON Lines on stdin ({status, headers, body, provider, log}); "
        "print one JSON diagnosis per line, in order",
    )


def run(args: argparse.Namespace) -> int:
    from turnout.cli.main import CommandError

    if args.batch:
        return run_batch(sys.stdin, sys.stdout, args.lang)
    text = _read_input(args)
    headers: dict[str, str] = {}
    for raw in args.header:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            raise CommandError(f"bad --header {raw!r}", "write it as 'name: value'")
        headers[name.strip()] = value.strip()
    if not text.strip() and args.status is None:
        raise CommandError(
            "nothing to explain", "paste the error as an argument, with --file, or on stdin"
        )
    body, log = _as_body_or_log(text)
    diagnosis = diagnose(
        status=args.status,
        body=body,
        log=log,
        headers=headers,
        provider=args.provider,
        lang=args.lang,
    )
    if args.json:
        print(json.dumps(diagnosis.to_dict(), ensure_ascii=False, indent=2))
    else:
        from turnout.cli.render import render_diagnosis

        render_diagnosis(diagnosis)
    return 0


def _read_input(args: argparse.Namespace) -> str:
    from turnout.cli.main import CommandError

    if args.file is not None:
        try:
            return str(args.file.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            raise CommandError(f"cannot read {args.file}: {exc.strerror}") from exc
    if args.text is not None and args.text != "-":
        return str(args.text)
    if args.text is None and sys.stdin.isatty():
        return ""
    return sys.stdin.read()


def _as_body_or_log(text: str) -> tuple[str, str | None]:
    """A bare JSON or HTML body is a body; anything else (a log, an exception) is a log."""
    if text.lstrip()[:1] in ("{", "[", "<"):
        return text, None
    return "", text


def run_batch(source: TextIO, sink: TextIO, lang: str | None) -> int:
    """One JSON diagnosis per non-blank input line, in order; bad lines get an `error` field."""
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            result = diagnose_record(json.loads(line), lang).to_dict()
        except (ValueError, TypeError) as exc:
            result = diagnose(lang=lang).to_dict()
            result["error"] = f"line {number}: {exc}"
        sink.write(json.dumps(result, ensure_ascii=False) + "\n")
        sink.flush()
    return 0


def diagnose_record(record: Any, lang: str | None) -> Diagnosis:
    """Diagnose one batch record, checking its field types."""
    if not isinstance(record, dict):
        raise TypeError("each line must be a JSON object")
    status = record.get("status")
    if isinstance(status, str) and status.strip().isdigit():
        status = int(status)
    if status is not None and not isinstance(status, int):
        raise TypeError("status must be an integer or null")
    headers = record.get("headers") or {}
    if not isinstance(headers, dict):
        raise TypeError("headers must be an object")
    for name in ("body", "provider", "log"):
        if record.get(name) is not None and not isinstance(record[name], str):
            raise TypeError(f"{name} must be a string")
    return diagnose(
        status=status,
        body=record.get("body") or "",
        headers={str(k): str(v) for k, v in headers.items()},
        provider=record.get("provider"),
        log=record.get("log"),
        lang=record.get("lang") or lang,
    )
