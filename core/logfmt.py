"""Plain-text log lines that keep their structured facts: `extra` fields are appended as key=value."""

from __future__ import annotations

import json
import logging

# Attributes every LogRecord has; anything else on a record came from `extra`.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def _value(value: str | int | float | bool | None) -> str:
    if isinstance(value, str) and value and not any(char in value for char in ' "=\n'):
        return value
    return json.dumps(value)


class KeyValueFormatter(logging.Formatter):
    """Appends scalar `extra` fields (` provider_configured=true`); objects such as requests are left out."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        facts = [
            f"{key}={_value(value)}"
            for key, value in record.__dict__.items()
            if key not in _RECORD_ATTRIBUTES
            and not key.startswith("_")
            and isinstance(value, str | int | float | bool | type(None))
        ]
        message = super().formatMessage(record)
        return f"{message} {' '.join(facts)}" if facts else message
