"""QaStream: the verified QA records of the Kafka sink, for a trainer.

A read_committed consumer of `<prefix>qa.verified` with auto-commit off. The trainer calls
`commit()` after it has trained on what it was given: the committed offset of each partition is
then the one after the last record handed out (records skipped by a filter, by sharding or because
they do not decode count as handed out), so a trainer that crashes resumes at the first record it
had not finished with. Nothing is committed on a rebalance or on close: what was handed out but
not committed is delivered again, and that is the only repetition there is.

Where a partition starts the first time this stream is assigned it: the group's committed offset
(default; the earliest offset when the group has none), the beginning (`from_beginning=True`), or
the first record at or after a time (`from_timestamp`, epoch ms or an aware datetime; the end when
there is none). Later assignments of the same partition (after a rebalance) use committed offsets.

A value whose writer schema the package does not bundle (a newer pipeline release's) is looked up
in `<prefix>schemas`, where the pipeline's writers publish their schemas (`schema_lookup=False`
turns that off). A value that does not decode is logged with its topic, partition and offset, counted in
`stats.undecodable` and kept in `undecodable` (the last `max_undecodable_kept`); iteration goes on.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from webscale_rl.codec import RecordDecoder
from webscale_rl.errors import DecodeError, WebscaleError
from webscale_rl.schema_topic import SCHEMAS_SUFFIX, SchemaTopicReader
from webscale_rl.sharding import Shard

log = logging.getLogger("webscale_rl.stream")

DEFAULT_BROKERS = "127.0.0.1:19092"
DEFAULT_PREFIX = "webscale-rl."
SINK_SUFFIX = "qa.verified"
# Settings the stream's guarantees rest on; a kafka_config that contradicts them is refused.
_FIXED = {"enable.auto.commit": False, "isolation.level": "read_committed"}


_MISSING_TOPIC = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC)
# A commit the group coordinator refuses because this member's generation is gone.
_GENERATION_LOST = (
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError._ASSIGNMENT_LOST,
    KafkaError.FENCED_INSTANCE_ID,
)


class KafkaClientError(WebscaleError):
    """librdkafka reported a fatal error, or a commit failed."""

    code = "KAFKA"


@dataclass
class StreamStats:
    delivered: int = 0
    filtered: int = 0
    other_shard: int = 0
    undecodable: int = 0
    commits: int = 0
    commits_refused: int = 0


@dataclass(frozen=True)
class Undecodable:
    topic: str
    partition: int
    offset: int
    error: str


def _epoch_ms(value: int | float | datetime.datetime) -> int:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError("from_timestamp datetime must be timezone-aware")
        return int(value.timestamp() * 1000)
    return int(value)


class QaStream:
    """Iterate verified QA records (dicts shaped like the `QaRecord` schema) from the sink topic."""

    def __init__(
        self,
        brokers: str = DEFAULT_BROKERS,
        group_id: str = "webscale-rl.trainer",
        topic_prefix: str = DEFAULT_PREFIX,
        *,
        topic: str | None = None,
        from_beginning: bool = False,
        from_timestamp: int | float | datetime.datetime | None = None,
        domains: Iterable[str] | None = None,
        languages: Iterable[str | None] | None = None,
        rank: int = 0,
        world_size: int = 1,
        shard: Shard | None = None,
        schema_registry_url: str | None = None,
        stop_at_end: bool = False,
        poll_timeout: float = 0.5,
        max_undecodable_kept: int = 1000,
        kafka_config: dict[str, Any] | None = None,
        schema_lookup: bool = True,
        schema_registry_token: str | None = None,
        schema_registry_ca: str | None = None,
    ) -> None:
        if from_beginning and from_timestamp is not None:
            raise ValueError("give from_beginning or from_timestamp, not both")
        self.topic = topic or f"{topic_prefix}{SINK_SUFFIX}"
        self.shard = shard or Shard(rank, world_size)
        self.group_id = self.shard.group_id(group_id)
        self.from_beginning = from_beginning
        self.from_timestamp = None if from_timestamp is None else _epoch_ms(from_timestamp)
        self.domains = None if domains is None else frozenset(domains)
        self.languages = None if languages is None else frozenset(languages)
        self.stop_at_end = stop_at_end
        self.poll_timeout = poll_timeout
        self.stats = StreamStats()
        self.undecodable: deque[Undecodable] = deque(maxlen=max_undecodable_kept)
        # Records of a newer pipeline release carry schemas this package does not bundle: look them up
        # where the pipeline's writers publish them.
        self.schema_topic = (
            SchemaTopicReader(brokers, f"{topic_prefix}{SCHEMAS_SUFFIX}", kafka_config) if schema_lookup else None
        )
        self._decoder = RecordDecoder(
            "QaRecord",
            schema_registry_url,
            self.schema_topic.lookup if self.schema_topic is not None else None,
            schema_registry_token=schema_registry_token,
            schema_registry_ca=schema_registry_ca,
        )
        self._positions: dict[tuple[str, int], int] = {}
        self._committed: dict[tuple[str, int], int] = {}
        self._assigned: set[tuple[str, int]] = set()
        self._at_eof: set[tuple[str, int]] = set()
        self._started: set[tuple[str, int]] = set()
        self._finished = False
        self._closed = False
        self._consumer = Consumer(self._config(brokers, kafka_config or {}))
        self._incremental = self._consumer_config.get("partition.assignment.strategy") == "cooperative-sticky"
        self._consumer.subscribe(
            [self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )

    # -- configuration -------------------------------------------------------------------------

    def _config(self, brokers: str, extra: dict[str, Any]) -> dict[str, Any]:
        for key, required in _FIXED.items():
            if key in extra and str(extra[key]).lower() != str(required).lower():
                raise ValueError(f"kafka_config {key}={extra[key]!r} is not allowed: QaStream needs {required!r}")
        if "group.id" in extra or "bootstrap.servers" in extra:
            raise ValueError("pass brokers and group_id as arguments, not in kafka_config")
        conf = {
            "bootstrap.servers": brokers,
            "group.id": self.group_id,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "enable.auto.offset.store": False,
            "logger": log,
            **extra,
            **_FIXED,
        }
        self._consumer_config = conf
        return conf

    # -- rebalance callbacks -------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        fresh = [p for p in partitions if (p.topic, p.partition) not in self._started]
        if fresh and self.from_beginning:
            for p in fresh:
                p.offset = OFFSET_BEGINNING
        elif fresh and self.from_timestamp is not None:
            self._seek_to_time(consumer, fresh)
        for p in partitions:
            key = (p.topic, p.partition)
            self._started.add(key)
            self._assigned.add(key)
            self._at_eof.discard(key)
        if self._incremental:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)

    def _seek_to_time(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        query = [TopicPartition(p.topic, p.partition, self.from_timestamp) for p in partitions]
        found = {(f.topic, f.partition): f.offset for f in consumer.offsets_for_times(query, timeout=30)}
        for p in partitions:
            offset = found.get((p.topic, p.partition), -1)
            p.offset = OFFSET_END if offset < 0 else offset

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Handed-out records of a lost partition are not committed: the new owner delivers them again.
        for p in partitions:
            key = (p.topic, p.partition)
            self._assigned.discard(key)
            self._at_eof.discard(key)
            self._positions.pop(key, None)
            self._committed.pop(key, None)
        if self._incremental:
            consumer.incremental_unassign(partitions)
        else:
            consumer.unassign()

    # -- iteration -----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.records()

    def records(self) -> Iterator[dict[str, Any]]:
        """Records one at a time; ends only with `stop_at_end` (or when the stream is closed)."""
        while not self._finished:
            msg = self._consumer.poll(self.poll_timeout)
            if msg is None:
                self._check_end()
                continue
            record = self._handle(msg)
            if record is not None:
                yield record

    def batches(self, size: int, max_wait: float | None = None) -> Iterator[list[dict[str, Any]]]:
        """Lists of up to `size` records; a shorter one after `max_wait` seconds or at the end."""
        if size < 1:
            raise ValueError("batch size must be at least 1")
        batch: list[dict[str, Any]] = []
        started = time.monotonic()
        while not self._finished:
            msg = self._consumer.poll(self.poll_timeout)
            record = self._handle(msg) if msg is not None else None
            if msg is None:
                self._check_end()
            if record is not None:
                if not batch:
                    started = time.monotonic()
                batch.append(record)
            waited = max_wait is not None and bool(batch) and time.monotonic() - started >= max_wait
            if len(batch) >= size or waited or (self._finished and batch):
                yield batch
                batch = []

    def _handle(self, msg: Any) -> dict[str, Any] | None:
        err = msg.error()
        key = (msg.topic(), msg.partition())
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                self._at_eof.add(key)
                self._check_end()
                return None
            if err.fatal():
                raise KafkaClientError(f"fatal Kafka error: {err.str()}", code=err.name())
            if self.stop_at_end and err.code() in _MISSING_TOPIC:
                # Reading "to the end" of a topic that is not there would wait forever.
                raise KafkaClientError(f"topic {self.topic} does not exist: {err.str()}", code=err.name())
            log.warning("kafka: %s", err.str())
            return None
        self._at_eof.discard(key)
        self._positions[key] = msg.offset() + 1
        try:
            record = self._decoder.decode(msg.value())
        except DecodeError as exc:
            self._report_undecodable(msg, exc)
            return None
        return self._select(record)

    def _select(self, record: dict[str, Any]) -> dict[str, Any] | None:
        if not self.shard.owns(record["id"]):
            self.stats.other_shard += 1
            return None
        if self.domains is not None and record["domain"] not in self.domains:
            self.stats.filtered += 1
            return None
        if self.languages is not None and record["provenance"].get("language") not in self.languages:
            self.stats.filtered += 1
            return None
        self.stats.delivered += 1
        return record

    def _report_undecodable(self, msg: Any, exc: DecodeError) -> None:
        self.stats.undecodable += 1
        item = Undecodable(msg.topic(), msg.partition(), msg.offset(), str(exc))
        self.undecodable.append(item)
        log.warning(
            "undecodable record skipped: topic=%s partition=%d offset=%d: %s",
            item.topic,
            item.partition,
            item.offset,
            item.error,
        )

    def _check_end(self) -> None:
        if self.stop_at_end and self._assigned and self._at_eof >= self._assigned:
            self._finished = True

    # -- offsets -------------------------------------------------------------------------------

    def commit(self) -> int:
        """Commits, synchronously, the offsets after every record handed out so far.

        Returns the number of partitions whose committed offset moved.
        """
        moved = [
            TopicPartition(t, p, offset)
            for (t, p), offset in self._positions.items()
            if self._committed.get((t, p)) != offset
        ]
        if not moved:
            return 0
        try:
            self._consumer.commit(offsets=moved, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() in _GENERATION_LOST:
                return self._drop_after_lost_generation(error)
            raise KafkaClientError(f"offset commit failed: {exc}") from exc
        for tp in moved:
            self._committed[(tp.topic, tp.partition)] = tp.offset
        self.stats.commits += 1
        return len(moved)

    def _drop_after_lost_generation(self, error: KafkaError) -> int:
        # The group moved on without us (a pause past the session timeout, a rebalance): the
        # broker refused the commit. What we handed out since the last commit will be delivered
        # again, to us or the partition's new owner; nothing is skipped.
        log.warning(
            "commit refused, the group rebalanced (%s); uncommitted records will be delivered again", error.str()
        )
        self.stats.commits_refused += 1
        self._positions.clear()
        self._committed.clear()
        return 0

    def positions(self) -> dict[tuple[str, int], int]:
        """The offset after the last record handed out, per (topic, partition)."""
        return dict(self._positions)

    def close(self) -> None:
        """Leaves the group without committing (commit first to keep progress). Idempotent."""
        self._finished = True
        if not self._closed:
            self._closed = True
            self._consumer.close()

    def __enter__(self) -> QaStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
