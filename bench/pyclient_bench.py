"""Benchmark driver of bench/pyclient.ts: how fast the Python trainer client reads the sink and
scores answers. Prints one JSON object:

  stream:  records read with QaStream (read_committed, from the beginning to the end) and seconds
  decode:  the same values decoded without Kafka (RecordDecoder), records and seconds
  reward:  (response, answer) pairs scored by the rule-based reward, pairs and seconds

usage: python pyclient_bench.py --brokers B --prefix P --group G
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from webscale_rl import QaStream, RecordDecoder
from webscale_rl.reward import reward_func

RESPONSES = [
    "Let me work it out. 3 + 4 = 7, so \\boxed{{{a}}}",
    "The answer is {a}.",
    "Final answer: not {a}",
    "I think it is 1,234.5 or maybe {a}",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--group", required=True)
    args = parser.parse_args()

    values: list[bytes] = []
    answers: list[str] = []
    started = time.perf_counter()
    with QaStream(args.brokers, args.group, args.prefix, stop_at_end=True) as stream:
        for record in stream:
            answers.append(record["answer"])
        stream_seconds = time.perf_counter() - started
        stream_records = stream.stats.delivered

    # Decode-only: encode nothing ourselves; re-read the raw values with a plain consumer.
    from confluent_kafka import Consumer

    raw = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": f"{args.group}.raw",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    raw.subscribe([f"{args.prefix}qa.verified"])
    eof: set[int] = set()
    while True:
        msg = raw.poll(1.0)
        if msg is None:
            if eof and len(eof) == len(raw.assignment()):
                break
            continue
        if msg.error():
            eof.add(msg.partition())
            if len(eof) == len(raw.assignment()):
                break
            continue
        values.append(msg.value())
    raw.close()
    decoder = RecordDecoder()
    started = time.perf_counter()
    for value in values:
        decoder.decode(value)
    decode_seconds = time.perf_counter() - started

    completions = [RESPONSES[i % len(RESPONSES)].format(a=a) for i, a in enumerate(answers)]
    started = time.perf_counter()
    scores = reward_func(completions, answers)
    reward_seconds = time.perf_counter() - started

    print(
        json.dumps(
            {
                "stream": {"records": stream_records, "seconds": stream_seconds},
                "decode": {"records": len(values), "seconds": decode_seconds},
                "reward": {"pairs": len(scores), "seconds": reward_seconds, "mean": sum(scores) / max(1, len(scores))},
                "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )


if __name__ == "__main__":
    main()
