"""The server's logging: uvicorn's, every other logger at the same level, and no
private link tokens in access lines.

The app itself logs nothing that a person or staff member wrote (tests/web/test_logs.py
checks it at DEBUG). A private link's token opens that person's answers, so access
lines show ``…`` in its place.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

# A path segment long enough to be a token: 20 or more unreserved URL characters
# (resume links and access tokens are longer); screening ids (UUIDs) stay, they open
# nothing by themselves.
_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9._~-]{20,}(?=[/?#]|$)")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def redact_path(path: str) -> str:
    """The path with every token-like segment replaced by ``…``."""
    return _SEGMENT.sub(
        lambda m: m.group(0) if _UUID.fullmatch(m.group(0)) else "…", path
    )


class PrivateLinks(logging.Filter):
    """Takes private link tokens out of uvicorn's access lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the path argument (client, method, path, HTTP version, status)."""
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging config with every logger at ``level`` on standard error.

    Args:
        level: a level name (``debug`` … ``critical``).

    Returns:
        A ``logging.config.dictConfig`` dictionary (also for worker processes).
    """
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"private_links": {"()": f"{__name__}.PrivateLinks"}}
    config["handlers"]["access"]["filters"] = ["private_links"]
    config["root"] = {"handlers": ["default"], "level": level.upper()}
    return config
