"""QaStream and the adapters on the real Kafka broker (KAFKA_BROKERS, default 127.0.0.1:19092),
with records this test writes itself (fastavro, single-object encoding, the bundled schemas):
read_committed (an aborted transaction is never seen), domain and language filters, a start
time, commit-and-resume within the uncommitted batch, and sharding across ranks. The sink the
TypeScript pipeline fills is tested from test/clients/python-stream.test.ts."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import uuid
from collections.abc import Iterator

import fastavro
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from webscale_rl import QaStream
from webscale_rl.adapters import hf_iterable_dataset, shard_rows
from webscale_rl.schemas import bundled_schema_dir, schema_fingerprint
from webscale_rl.sharding import Shard
from webscale_rl.stream import KafkaClientError

BROKERS = os.environ.get("KAFKA_BROKERS", "127.0.0.1:19092")
# Recent timestamps: records older than the broker's retention (7 days by default) are deleted by
# its next retention check, which once emptied the topic between two tests of this module.
T0 = (int(time.time()) // 60) * 60_000 - 2 * 3_600_000
T1 = T0 + 3_600_000
LANGUAGES = ["en", "de", None]
DOMAINS = ["Math", "Coding", "Other"]


def record(i: int) -> dict:
    return {
        "id": f"qa-{i}",
        "doc_id": f"doc-{i // 2}",
        "question": f"What is {i} plus one?",
        "answer": str(i + 1),
        "domain": DOMAINS[i % 3],
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
            "language": LANGUAGES[(i // 3) % 3],
        },
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "by_stage": {}},
        "created_at": T0,
    }


def encode(value: dict) -> bytes:
    raw = json.loads(bundled_schema_dir().joinpath("QaRecord.avsc").read_text(encoding="utf-8"))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(raw), value)
    return b"\xc3\x01" + schema_fingerprint(raw) + out.getvalue()


N = 60


@pytest.fixture(scope="module")
def prefix() -> Iterator[str]:
    prefix = f"pytest.{uuid.uuid4().hex[:10]}."
    topic = f"{prefix}qa.verified"
    admin = AdminClient({"bootstrap.servers": BROKERS})
    new_topic = NewTopic(topic, num_partitions=3, replication_factor=1, config={"retention.ms": "-1"})
    for future in admin.create_topics([new_topic]).values():
        future.result(30)
    # Committed: records 0..N-1 (the first half stamped T0, the second T1); aborted: N..N+9.
    producer = Producer({"bootstrap.servers": BROKERS, "transactional.id": f"{prefix}writer"})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(N):
        ts = T0 if i < N // 2 else T1
        producer.produce(topic, key=f"doc-{i // 2}", value=encode(record(i)), timestamp=ts)
    producer.commit_transaction(30)
    producer.begin_transaction()
    for i in range(N, N + 10):
        producer.produce(topic, key=f"doc-{i}", value=encode(record(i)), timestamp=T1)
    producer.flush(30)
    producer.abort_transaction(30)
    yield prefix
    admin.delete_topics([topic], operation_timeout=30)
    groups = [g.group_id for g in admin.list_consumer_groups().result(30).valid if g.group_id.startswith(prefix)]
    if groups:
        for future in admin.delete_consumer_groups(groups).values():
            # A group still settling is left behind; its topic is gone anyway.
            with contextlib.suppress(Exception):
                future.result(30)


def stream(prefix: str, group: str, **kwargs) -> QaStream:
    return QaStream(BROKERS, f"{prefix}{group}", prefix, stop_at_end=True, **kwargs)


def read_ids(s: QaStream) -> list[str]:
    with s:
        return [r["id"] for r in s]


ALL = {f"qa-{i}" for i in range(N)}


def test_reads_only_committed_records_each_once(prefix: str) -> None:
    ids = read_ids(stream(prefix, "all"))
    assert len(ids) == N
    assert set(ids) == ALL


def test_overlapping_aborted_transactions_are_never_seen() -> None:
    """Two transactions on one partition that overlap and are aborted in the other order than they
    began. The broker lists a fetch's aborted transactions in the order they ended; kafkajs 2.2.4
    took it for the order they began and delivered the first one (our fix:
    patches/kafkajs+2.2.4.patch). The trainer's consumer (librdkafka) must not deliver it either."""
    prefix = f"pytest.{uuid.uuid4().hex[:10]}."
    topic = f"{prefix}qa.verified"
    admin = AdminClient({"bootstrap.servers": BROKERS})
    for future in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
        future.result(30)
    producers = []
    try:
        for name in ("first", "second", "third"):
            p = Producer({"bootstrap.servers": BROKERS, "transactional.id": f"{prefix}{name}"})
            p.init_transactions(30)
            producers.append(p)
        first, second, third = producers
        first.begin_transaction()
        first.produce(topic, key="doc-aborted-first", value=encode(record(1000)), partition=0)
        first.flush(30)
        second.begin_transaction()
        second.produce(topic, key="doc-aborted-second", value=encode(record(1001)), partition=0)
        second.flush(30)
        second.abort_transaction(30)
        first.abort_transaction(30)
        third.begin_transaction()
        for i in range(3):
            third.produce(topic, key=f"doc-{i}", value=encode(record(i)), partition=0)
        third.commit_transaction(30)
        # The commit is answered before its markers move the last stable offset: read (each time
        # as a new group) until the committed records show; a leaked aborted one shows with them.
        ids: list[str] = []
        for attempt in range(30):
            ids = read_ids(stream(prefix, f"overlap-{attempt}"))
            if len(ids) >= 3:
                break
            time.sleep(0.5)
        assert sorted(ids) == ["qa-0", "qa-1", "qa-2"]
    finally:
        admin.delete_topics([topic], operation_timeout=30)


def test_filters_by_domain_and_language(prefix: str) -> None:
    math = read_ids(stream(prefix, "math", domains=["Math"]))
    assert set(math) == {f"qa-{i}" for i in range(N) if DOMAINS[i % 3] == "Math"}
    english_or_unknown = read_ids(stream(prefix, "lang", languages=["en", None]))
    assert set(english_or_unknown) == {f"qa-{i}" for i in range(N) if LANGUAGES[(i // 3) % 3] in ("en", None)}
    both = read_ids(stream(prefix, "both", domains=["Coding"], languages=["de"]))
    expected = {f"qa-{i}" for i in range(N) if DOMAINS[i % 3] == "Coding" and LANGUAGES[(i // 3) % 3] == "de"}
    assert set(both) == expected and expected


def test_starts_from_a_timestamp_or_the_beginning(prefix: str) -> None:
    later = read_ids(stream(prefix, "time", from_timestamp=T1))
    assert set(later) == {f"qa-{i}" for i in range(N // 2, N)}
    with pytest.raises(ValueError):
        QaStream(BROKERS, "g", prefix, from_beginning=True, from_timestamp=T1)


def test_commit_then_resume_repeats_only_the_uncommitted_batch(prefix: str) -> None:
    first: list[list[str]] = []
    with stream(prefix, "resume") as s:
        for n, batch in enumerate(s.batches(7)):
            first.append([r["id"] for r in batch])
            if n == 2:
                break  # batch 2 handed out, never committed
            s.commit()
    assert [len(b) for b in first] == [7, 7, 7]
    again = read_ids(stream(prefix, "resume"))
    delivered_twice = set(again) & {i for b in first for i in b}
    assert delivered_twice == set(first[2])
    assert set(again) | {i for b in first[:2] for i in b} == ALL
    assert len(again) == len(set(again))
    # from_beginning ignores the committed offsets.
    assert set(read_ids(stream(prefix, "resume", from_beginning=True))) == ALL


def test_reading_a_missing_topic_to_its_end_is_an_error_not_a_hang() -> None:
    started = time.monotonic()
    with pytest.raises(KafkaClientError, match="does not exist"):
        read_ids(stream(f"pytest.missing.{uuid.uuid4().hex[:8]}.", "g"))
    assert time.monotonic() - started < 30


def test_close_is_idempotent(prefix: str) -> None:
    s = stream(prefix, "close")
    s.close()
    s.close()
    assert list(s) == []


def test_refuses_settings_that_break_its_guarantees(prefix: str) -> None:
    with pytest.raises(ValueError, match="enable.auto.commit"):
        QaStream(BROKERS, "g", prefix, kafka_config={"enable.auto.commit": True})
    with pytest.raises(ValueError, match="isolation.level"):
        QaStream(BROKERS, "g", prefix, kafka_config={"isolation.level": "read_uncommitted"})


def test_shards_of_three_ranks_are_disjoint_and_cover_the_sink(prefix: str) -> None:
    options = {"brokers": BROKERS, "group_id": f"{prefix}shards", "topic_prefix": prefix, "stop_at_end": True}
    seen = [[row["id"] for row in shard_rows(Shard(r, 3), "openrlhf", 10, options)] for r in range(3)]
    assert all(seen)
    assert sum(len(s) for s in seen) == N
    assert set().union(*seen) == ALL


def test_datasets_adapter_yields_verl_rows(prefix: str) -> None:
    dataset = hf_iterable_dataset(
        0, 1, "verl", brokers=BROKERS, group_id=f"{prefix}hf", topic_prefix=prefix, stop_at_end=True
    )
    rows = list(dataset)
    assert {r["extra_info"]["id"] for r in rows} == ALL
    assert sorted(r["extra_info"]["index"] for r in rows) == list(range(N))
    assert all(r["reward_model"]["style"] == "rule" and r["data_source"] == "webscale-rl" for r in rows)


def test_torch_adapter_splits_ranks_and_dataloader_workers(prefix: str) -> None:
    torch_data = pytest.importorskip("torch.utils.data")
    from webscale_rl.adapters import QaIterableDataset

    seen = []
    for rank in range(2):
        dataset = QaIterableDataset(
            rank, 2, "trl", brokers=BROKERS, group_id=f"{prefix}torch", topic_prefix=prefix, stop_at_end=True
        )
        loader = torch_data.DataLoader(dataset, batch_size=None, num_workers=2)
        seen.append([row["id"] for row in loader])
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == sorted(ALL)
