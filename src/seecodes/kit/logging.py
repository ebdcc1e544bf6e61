"""Structured logs: one JSON object per line outside dev, the request id on every line.

Nothing logs a FIT, request key, launch code, permit, provider key or Jira token. Code never passes one to a
logger; `scrub_credentials` is the safety net for what slips through anyway (an exception message
quoting a header, a library's debug line).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_CREDENTIAL = re.compile(
    # Storage URL signatures (ours and S3's) are bearer credentials too; `sk-` keys are OpenAI's and Anthropic's.
    r"(sc_jira_req_|sc_launch_|sc_enroll_|sc_link_|sc_admin_|av_inst_|[Ss]ignature=|\bsk-)[A-Za-z0-9_%-]{8,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
)


def redact(text: str) -> str:
    return _CREDENTIAL.sub(lambda match: (match.group(1) or "jwt:") + "[redacted]", text)


def scrub_credentials(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    for name, value in event.items():
        if isinstance(value, str):
            event[name] = redact(value)
    return event


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when the line is written, not when logging was set up:
    a CLI runner (or anything else) that swaps stderr and closes its stand-in leaves no handler
    writing to a closed file."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _stream: Any) -> None:
        pass


def configure_logging(*, json_lines: bool, level: str = "INFO") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        scrub_credentials,
    ]
    # Colour only for a person at a terminal: a file or a pipe gets plain text, without escape codes.
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        # A line below the level is dropped before any processor runs: at WARNING the access
        # line of every request would otherwise be built, timestamped and scrubbed for nothing.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _CurrentStderr()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # Uvicorn's access log prints the full URL, query string included (the launcher's `c=`):
    # our own access line replaces it.
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic announces each of its plugins at INFO on every start; its migration lines stay.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
