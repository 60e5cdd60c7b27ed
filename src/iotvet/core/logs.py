"""Logging that cannot leak: every record passes the run's redactor before any handler sees it."""

from __future__ import annotations

import logging

from iotvet.core.redact import Redactor

LOGGER = "iotvet"
_FORMATTER = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Renders each record's message, redacts it, and freezes the result into the record."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.text(record.getMessage())
        record.args = None
        if record.exc_info:  # render the traceback now, so no handler formats it unredacted
            record.exc_text = _FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.text(record.stack_info)
        return True


def configure(redactor: Redactor, verbosity: int = 0) -> logging.Logger:
    """Send iotvet's logs to stderr through the redactor; -v for info, -vv for debug."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING - 10 * min(verbosity, 2))
    logger.propagate = False
    return logger
