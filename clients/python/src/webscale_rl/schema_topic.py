"""Writer schemas published by the pipeline's writers to the compacted topic `<prefix>schemas`.

Every process of the pipeline that writes single-object encoded records publishes each schema it
writes with there before its first record (key: the fingerprint as 16 hex digits; value: the
schema as JSON). A trainer whose package predates a newer pipeline release meets fingerprints its
bundled schemas do not hold; it looks them up here and resolves the record into its own current
`QaRecord` (fields it does not know are dropped). An entry whose key is not the fingerprint of its
value is ignored.

The topic is read from its low to its high watermark with partitions assigned by hand (no group
join, nothing committed); reads are at most one per `min_interval` seconds, so a stream of records
whose schema nobody published does not read the topic once per record.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from webscale_rl.schemas import SchemaVersion, parse_writer_schema, schema_fingerprint

log = logging.getLogger("webscale_rl.schema_topic")

SCHEMAS_SUFFIX = "schemas"
# Consumer settings a lookup needs as they are; the rest of a caller's kafka_config (security) is kept.
_OWN_KEYS = {
    "group.id",
    "group.instance.id",
    "enable.auto.commit",
    "auto.offset.reset",
    "isolation.level",
    "partition.assignment.strategy",
}


class SchemaTopicReader:
    """Looks up writer schemas by fingerprint in `<prefix>schemas`."""

    def __init__(
        self,
        brokers: str,
        topic: str,
        kafka_config: dict[str, Any] | None = None,
        *,
        min_interval: float = 1.0,
        timeout: float = 15.0,
    ) -> None:
        self.topic = topic
        self.min_interval = min_interval
        self.timeout = timeout
        self._config = {k: v for k, v in (kafka_config or {}).items() if k not in _OWN_KEYS}
        self._config["bootstrap.servers"] = brokers
        self._found: dict[bytes, SchemaVersion] = {}
        self._last_read = float("-inf")
        self.reads = 0

    def lookup(self, fingerprint: bytes) -> SchemaVersion | None:
        """The writer schema with this fingerprint, reading the topic again when it is not known yet."""
        found = self._found.get(fingerprint)
        if found is not None or time.monotonic() - self._last_read < self.min_interval:
            return found
        try:
            self._read()
        except KafkaException as err:
            log.warning("cannot read writer schemas from %s: %s", self.topic, err)
        finally:
            self._last_read = time.monotonic()
        return self._found.get(fingerprint)

    def _read(self) -> None:
        self.reads += 1
        consumer = Consumer(
            {
                **self._config,
                "group.id": f"webscale-rl.schemas-lookup-{uuid.uuid4().hex[:12]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        try:
            meta = consumer.list_topics(self.topic, timeout=self.timeout).topics.get(self.topic)
            if meta is None or meta.error is not None:
                log.warning("topic %s not found: writer schemas of newer releases cannot be looked up", self.topic)
                return
            ends: dict[int, int] = {}
            starts = []
            for p in meta.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=self.timeout)
                if high > low:
                    ends[p] = high
                    starts.append(TopicPartition(self.topic, p, low))
            if not starts:
                return
            consumer.assign(starts)
            deadline = time.monotonic() + self.timeout
            while ends and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None or msg.error() is not None:
                    continue
                self._add(msg.key(), msg.value())
                if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                    ends.pop(msg.partition(), None)
        finally:
            consumer.close()

    def _add(self, key: bytes | None, value: bytes | None) -> None:
        if not key or not value:
            return
        try:
            raw = json.loads(value)
            fingerprint = schema_fingerprint(raw)
            if fingerprint.hex() != key.decode("ascii"):
                log.warning("%s entry %r is not the fingerprint of its schema: ignored", self.topic, key)
                return
            name = str(raw["name"]).rsplit(".", 1)[-1]
            self._found[fingerprint] = SchemaVersion(
                name, f"{self.topic} {key.decode('ascii')}", fingerprint, parse_writer_schema(raw)
            )
        except Exception as err:  # noqa: BLE001 - any entry that is not a schema of ours is skipped
            log.warning("%s entry %r is not an Avro schema: %s", self.topic, key, err)
