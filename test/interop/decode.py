"""Decode Avro single-object encoded webscale-rl records with fastavro, using only schemas/.

An independent check of our wire format: this script knows nothing of the TypeScript codec. It
reads the .avsc files, computes each schema's CRC-64-AVRO fingerprint itself (fastavro's
implementation), and for every input record checks the 0xC3 0x01 magic, finds the schema whose
fingerprint equals the 8 header bytes (little-endian, as the Avro spec says), decodes the body
with fastavro.schemaless_reader and prints one JSON object per line:
  {"type": "<record name>", "value": {...}}
Input: one record per line on stdin, base64 encoded. Bytes are printed as base64 strings and
timestamp-millis values (which fastavro turns into datetimes) as epoch milliseconds again.

usage: python decode.py [--schemas DIR] [--type NAME] < records.b64
"""

import argparse
import base64
import datetime
import glob
import io
import json
import os
import sys

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def load_schemas(schemas_dir):
    by_fingerprint = {}
    paths = sorted(glob.glob(os.path.join(schemas_dir, "*.avsc")))
    paths += sorted(glob.glob(os.path.join(schemas_dir, "history", "*.avsc")))
    for path in paths:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        parsed = parse_schema(raw)
        canonical = to_parsing_canonical_form(raw)
        # fastavro returns the fingerprint's bytes in wire order (little-endian) as hex.
        fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        by_fingerprint[fp] = (raw["name"], parsed, path)
    return by_fingerprint


def to_json(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--schemas", default=os.path.join(here, "..", "..", "schemas"))
    parser.add_argument("--type", help="fail unless every record is of this record type")
    args = parser.parse_args()
    schemas = load_schemas(args.schemas)
    for n, line in enumerate(sys.stdin, start=1):
        line = line.strip()
        if not line:
            continue
        data = base64.b64decode(line)
        if len(data) < 10 or data[0:2] != b"\xc3\x01":
            sys.exit(f"record {n}: not single-object encoded")
        fp = data[2:10]
        if fp not in schemas:
            sys.exit(f"record {n}: fingerprint {fp.hex()} matches no schema in {args.schemas}")
        name, schema, _path = schemas[fp]
        if args.type and name != args.type:
            sys.exit(f"record {n}: is a {name}, expected {args.type}")
        body = io.BytesIO(data[10:])
        value = fastavro.schemaless_reader(body, schema)
        if body.tell() != len(data) - 10:
            sys.exit(f"record {n}: {len(data) - 10 - body.tell()} trailing bytes after the {name} body")
        print(json.dumps({"type": name, "value": to_json(value)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
