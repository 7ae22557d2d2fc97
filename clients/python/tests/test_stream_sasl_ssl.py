"""QaStream over the development broker's SASL_SSL listener (scripts/kafka.sh makes it, with a CA
and SCRAM users, and writes what a client needs to <broker home>/security/client.json): the
librdkafka settings passed in kafka_config reach the broker, and the stream reads every committed
record, with SCRAM-SHA-512 and with PLAIN. Records are written over the PLAINTEXT listener
(KAFKA_BROKERS, default 127.0.0.1:19092). A broker without the listener fails the test with the
fix; for a second broker set KAFKA_BROKERS and WEBSCALE_KAFKA_HOME."""

from __future__ import annotations

import io
import json
import os
import pathlib
import time
import uuid
from collections.abc import Iterator

import fastavro
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from webscale_rl import QaStream
from webscale_rl.schemas import bundled_schema_dir, schema_fingerprint

BROKERS = os.environ.get("KAFKA_BROKERS", "127.0.0.1:19092")
N = 12


def broker_home() -> pathlib.Path:
    home = os.environ.get("WEBSCALE_KAFKA_HOME")
    if home:
        return pathlib.Path(home)
    cache = os.environ.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")
    return pathlib.Path(cache) / "webscale-rl" / "kafka" / os.environ.get("KAFKA_VERSION", "4.4.0")


@pytest.fixture(scope="module")
def secure() -> dict:
    path = broker_home() / "security" / "client.json"
    if not path.exists():
        pytest.fail(
            f"{path} is missing: the broker at {BROKERS} has no SASL_SSL listener. Restart it with the current "
            "scripts/kafka.sh (npm run kafka:stop && npm run kafka:start), or set WEBSCALE_KAFKA_HOME and KAFKA_BROKERS"
        )
    info = json.loads(path.read_text(encoding="utf-8"))
    if BROKERS not in info["plaintextBrokers"]:
        pytest.fail(f"{path} describes the broker at {info['plaintextBrokers']}, not KAFKA_BROKERS={BROKERS}")
    return info


def record(i: int) -> dict:
    return {
        "id": f"sec-qa-{i}",
        "doc_id": f"sec-doc-{i}",
        "question": f"What is {i} times two?",
        "answer": str(2 * i),
        "domain": "Math",
        "persona": "a student",
        "source_url": None,
        "source": None,
        "source_text": None,
        "checks": {"has_context": True, "answer_correct": True, "info_leakage": False, "reasoning": "ok"},
        "provenance": {
            "pipeline_version": "0.1.0",
            "prompt_versions": {},
            "models": {},
            "fewshot_ids": [],
            "truncated_chars": 0,
            "language": "en",
        },
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "by_stage": {}},
        # Recent: the broker's retention check deletes records older than its 7 days.
        "created_at": int(time.time() * 1000),
    }


def encode(value: dict) -> bytes:
    raw = json.loads(bundled_schema_dir().joinpath("QaRecord.avsc").read_text(encoding="utf-8"))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(raw), value)
    return b"\xc3\x01" + schema_fingerprint(raw) + out.getvalue()


@pytest.fixture(scope="module")
def prefix(secure: dict) -> Iterator[str]:
    prefix = f"pytest.sec.{uuid.uuid4().hex[:10]}."
    topic = f"{prefix}qa.verified"
    admin = AdminClient({"bootstrap.servers": BROKERS})
    for future in admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": BROKERS, "transactional.id": f"{prefix}writer"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(N):
        producer.produce(topic, key=f"sec-doc-{i}", value=encode(record(i)))
    producer.commit_transaction(30)
    yield prefix
    admin.delete_topics([topic], operation_timeout=30)


def sasl_ssl(secure: dict, mechanism: str) -> dict:
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": mechanism,
        "sasl.username": "webscale",
        "sasl.password": secure["users"]["webscale"],
        "ssl.ca.location": secure["caFile"],
    }


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_reads_the_sink_over_sasl_ssl(secure: dict, prefix: str, mechanism: str) -> None:
    brokers = ",".join(secure["saslSslBrokers"])
    group = f"{prefix}trainer-{mechanism.lower()}"
    with QaStream(brokers, group, prefix, stop_at_end=True, kafka_config=sasl_ssl(secure, mechanism)) as stream:
        ids = [r["id"] for r in stream]
    assert sorted(ids) == sorted(f"sec-qa-{i}" for i in range(N))
