"""Errors of the client, each with a stable `code` to classify by (never the message text)."""

from __future__ import annotations

from typing import Any


class WebscaleError(Exception):
    """Base error: `code` is stable, `retryable` says whether trying again can help."""

    code = "WEBSCALE"
    retryable = False

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.context = context


class DecodeError(WebscaleError):
    """A Kafka value that is not a record of ours (bad framing, unknown schema, bad Avro body)."""

    code = "CODEC"


class SchemaRegistryError(WebscaleError):
    """The schema registry could not be reached or answered with an error other than 404."""

    code = "SCHEMA_REGISTRY"
    retryable = True


class JudgeError(WebscaleError):
    """The judge model gave no usable verdict within its attempts."""

    code = "JUDGE"
    retryable = True
