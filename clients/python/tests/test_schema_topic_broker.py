"""A trainer whose package predates the pipeline release that wrote the sink, on the real broker
(KAFKA_BROKERS, default 127.0.0.1:19092): a QaRecord written with a newer schema (an added
optional field) is found by its fingerprint in `<prefix>schemas`, where the pipeline's writers
publish their schemas, and read into the bundled schema; one whose schema nobody published, and a
topic entry whose key is not its schema's fingerprint, are not."""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
from collections.abc import Iterator

import fastavro
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from test_stream_broker import record

from webscale_rl import QaStream
from webscale_rl.schemas import bundled_schema_dir, schema_fingerprint

BROKERS = os.environ.get("KAFKA_BROKERS", "127.0.0.1:19092")


def newer_schema(field: str) -> dict:
    raw = json.loads(bundled_schema_dir().joinpath("QaRecord.avsc").read_text(encoding="utf-8"))
    raw["fields"].append({"name": field, "type": ["null", "string"], "default": None})
    return raw


def encode(raw: dict, value: dict) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(raw), value)
    return b"\xc3\x01" + schema_fingerprint(raw) + out.getvalue()


@pytest.fixture(scope="module")
def prefix() -> Iterator[str]:
    prefix = f"pytest.{uuid.uuid4().hex[:10]}."
    admin = AdminClient({"bootstrap.servers": BROKERS})
    topics = [
        NewTopic(f"{prefix}qa.verified", num_partitions=2, replication_factor=1, config={"retention.ms": "-1"}),
        NewTopic(f"{prefix}schemas", num_partitions=1, replication_factor=1, config={"cleanup.policy": "compact"}),
    ]
    for future in admin.create_topics(topics).values():
        future.result(30)
    yield prefix
    admin.delete_topics([t.topic for t in topics], operation_timeout=30)
    groups = [g.group_id for g in admin.list_consumer_groups().result(30).valid if g.group_id.startswith(prefix)]
    if groups:
        for future in admin.delete_consumer_groups(groups).values():
            with contextlib.suppress(Exception):
                future.result(30)


def test_reads_a_newer_writers_record_through_the_schemas_topic(prefix: str) -> None:
    published = newer_schema("difficulty")
    unpublished = newer_schema("never_published")
    mislabelled = newer_schema("mislabelled")
    producer = Producer({"bootstrap.servers": BROKERS})
    producer.produce(f"{prefix}schemas", key=schema_fingerprint(published).hex(), value=json.dumps(published))
    # Published under another schema's fingerprint: must not be trusted for that fingerprint.
    producer.produce(f"{prefix}schemas", key=schema_fingerprint(unpublished).hex(), value=json.dumps(mislabelled))
    newer = {**record(1), "difficulty": "hard"}
    producer.produce(f"{prefix}qa.verified", key="doc-1", value=encode(published, newer), partition=0)
    producer.produce(
        f"{prefix}qa.verified",
        key="doc-2",
        value=encode(unpublished, {**record(2), "never_published": "x"}),
        partition=0,
    )
    producer.produce(f"{prefix}qa.verified", key="doc-3", value=encode(published, record(3)), partition=1)
    producer.flush(30)

    with QaStream(BROKERS, f"{prefix}trainer", prefix, stop_at_end=True, from_beginning=True) as s:
        got = list(s)
    assert sorted(r["id"] for r in got) == ["qa-1", "qa-3"]
    first = next(r for r in got if r["id"] == "qa-1")
    assert "difficulty" not in first  # resolved into the bundled schema, which has no such field
    assert first["question"] == record(1)["question"]
    assert s.stats.undecodable == 1
    assert "matches no known schema" in s.undecodable[0].error
    # The unknown fingerprint does not re-read the topic per record.
    assert s.schema_topic is not None and s.schema_topic.reads <= 2

    with QaStream(
        BROKERS, f"{prefix}no-lookup", prefix, stop_at_end=True, from_beginning=True, schema_lookup=False
    ) as s:
        assert list(s) == []
    assert s.stats.undecodable == 3
