"""Test driver for test/clients/python-codec.test.ts: decodes values with webscale_rl's
RecordDecoder. Input lines on stdin: `<record type> <base64 value>`; output one JSON line each,
`{"value": {...}}` (bytes as base64) or `{"error": "<code>: <message>"}`."""

from __future__ import annotations

import base64
import json
import sys

from webscale_rl import DecodeError, RecordDecoder


def plain(value: object) -> object:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def main() -> None:
    decoders: dict[str, RecordDecoder] = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        record_type, data = line.split()
        decoder = decoders.setdefault(record_type, RecordDecoder(record_type))
        try:
            print(json.dumps({"value": plain(decoder.decode(base64.b64decode(data)))}, ensure_ascii=False))
        except DecodeError as err:
            print(json.dumps({"error": f"{err.code}: {err}"}))


if __name__ == "__main__":
    main()
