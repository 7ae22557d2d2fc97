"""Decoding Kafka values written by the pipeline: Avro single-object encoding or Confluent framing.

Single-object encoding (the default on the wire): `C3 01`, the writer schema's 8-byte CRC-64-AVRO
fingerprint (little-endian), the Avro body. The writer schema is looked up among every bundled
version (current and history), then through `writer_lookup` (the `<prefix>schemas` topic, for a
newer pipeline's schemas), and the body is resolved into the current schema of the expected
record type. Confluent framing (with a schema registry): `00`, a 4-byte big-endian schema id, the
body; the writer schema is fetched from the registry by id.

Every way a value can fail to be a record of ours raises `DecodeError`. Each item of every array
and map in our schemas takes at least one byte, so a body that declares more items than it holds
hits the end of the value (EOFError) after at most as many items as it has bytes: memory stays
bounded by the message size.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import fastavro

from webscale_rl.errors import DecodeError, SchemaRegistryError
from webscale_rl.registry import SchemaRegistryReader
from webscale_rl.schemas import SchemaVersion, current_schemas, parse_writer_schema, schemas_by_fingerprint

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = 0


class RecordDecoder:
    """Decodes values of one record type (default the sink's `QaRecord`) into dicts."""

    def __init__(
        self,
        record_type: str = "QaRecord",
        schema_registry_url: str | None = None,
        writer_lookup: Callable[[bytes], SchemaVersion | None] | None = None,
        *,
        schema_registry_token: str | None = None,
        schema_registry_ca: str | None = None,
    ) -> None:
        current = current_schemas()
        if record_type not in current:
            raise ValueError(f"unknown record type {record_type!r}; known: {sorted(current)}")
        self.record_type = record_type
        self._reader = current[record_type].parsed
        self._reader_fingerprint = current[record_type].fingerprint
        self._registry = (
            SchemaRegistryReader(schema_registry_url, token=schema_registry_token, ca_file=schema_registry_ca)
            if schema_registry_url
            else None
        )
        self._registry_writers: dict[int, Any] = {}
        # Finds writer schemas the package does not bundle (a newer pipeline's), e.g. in <prefix>schemas.
        self._writer_lookup = writer_lookup

    def decode(self, value: bytes | None) -> dict[str, Any]:
        if not value:
            raise DecodeError("empty value")
        if value[:2] == SINGLE_OBJECT_MAGIC:
            return self._decode_single_object(value)
        if value[0] == CONFLUENT_MAGIC:
            return self._decode_confluent(value)
        raise DecodeError(f"unknown framing (first byte 0x{value[0]:02x})")

    def _decode_single_object(self, value: bytes) -> dict[str, Any]:
        if len(value) < 10:
            raise DecodeError("single-object header cut short")
        fingerprint = bytes(value[2:10])
        writer = schemas_by_fingerprint().get(fingerprint)
        if writer is None and self._writer_lookup is not None:
            writer = self._writer_lookup(fingerprint)
        if writer is None:
            raise DecodeError(f"fingerprint {bytes(value[2:10]).hex()} matches no known schema")
        if writer.name != self.record_type:
            raise DecodeError(f"value is a {writer.name}, expected {self.record_type}")
        # A record written with the current schema needs no resolution (the common case, and faster).
        current = writer.fingerprint == self._reader_fingerprint
        return self._read_body(value, 10, writer.parsed, resolve=not current)

    def _decode_confluent(self, value: bytes) -> dict[str, Any]:
        if len(value) < 5:
            raise DecodeError("Confluent header cut short")
        if self._registry is None:
            raise DecodeError("Confluent-framed value but no schema registry URL configured")
        schema_id = int.from_bytes(value[1:5], "big")
        writer = self._registry_writers.get(schema_id)
        if writer is None:
            raw = self._registry.schema_by_id(schema_id)
            try:
                writer = parse_writer_schema(raw)
            except Exception as err:  # noqa: BLE001 - any parse failure means an unusable schema
                raise DecodeError(f"schema id {schema_id} does not parse: {err}") from None
            self._registry_writers[schema_id] = writer
        return self._read_body(value, 5, writer)

    def _read_body(self, value: bytes, start: int, writer: Any, resolve: bool = True) -> dict[str, Any]:
        body = io.BytesIO(value)
        body.seek(start)
        try:
            record = fastavro.schemaless_reader(body, writer, self._reader if resolve else None)
        except SchemaRegistryError:
            raise
        except Exception as err:  # noqa: BLE001 - fastavro raises many types for bad bytes
            raise DecodeError(f"Avro body does not decode as {self.record_type}: {type(err).__name__} {err}") from None
        trailing = len(value) - body.tell()
        if trailing:
            raise DecodeError(f"{trailing} trailing bytes after the {self.record_type} body")
        return record
