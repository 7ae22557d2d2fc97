"""Test driver for test/clients/python-stream.test.ts: reads the sink with webscale_rl and prints
one JSON line per event, flushed, so the test can follow (and SIGKILL) it mid-stream.

  {"batch": [ids...], "offsets": [[partition, offset]...]}   a batch handed out
  {"committed": n}                                             commit() returned after batch n
  {"end": {...stats}, "undecodable": [[topic, partition, offset, error]...]}

Modes: `stream` (QaStream.batches, commit after each batch unless --no-commit) and `hf` (the
datasets adapter for --rank/--world-size).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time

from webscale_rl import QaStream


def emit(obj: object) -> None:
    print(json.dumps(obj), flush=True)


def run_stream(args: argparse.Namespace) -> None:
    options = stream_options(args)
    with QaStream(**options, rank=args.rank, world_size=args.world_size) as stream:
        for n, batch in enumerate(stream.batches(args.batch_size, max_wait=2.0)):
            emit({"batch": [r["id"] for r in batch], "n": n})
            time.sleep(args.train_seconds)  # "training" on the batch
            if not args.no_commit:
                stream.commit()
                emit({"committed": n})
        emit(
            {
                "end": dataclasses.asdict(stream.stats),
                "undecodable": [[u.topic, u.partition, u.offset, u.error] for u in stream.undecodable],
            }
        )


def run_hf(args: argparse.Namespace) -> None:
    from webscale_rl.adapters import hf_iterable_dataset

    dataset = hf_iterable_dataset(args.rank, args.world_size, row_format="verl", **stream_options(args))
    ids = [row["extra_info"]["id"] for row in dataset]
    emit({"batch": ids, "n": 0})
    emit({"end": {"delivered": len(ids)}, "undecodable": []})


def stream_options(args: argparse.Namespace) -> dict:
    options = {
        "brokers": args.brokers,
        "group_id": args.group,
        "topic_prefix": args.prefix,
        "stop_at_end": True,
        "from_beginning": args.from_beginning,
    }
    if args.domain:
        options["domains"] = args.domain
    if args.language:
        options["languages"] = [None if lang == "none" else lang for lang in args.language]
    if args.from_timestamp is not None:
        options["from_timestamp"] = args.from_timestamp
    if args.kafka:
        options["kafka_config"] = dict(item.split("=", 1) for item in args.kafka)
    return options


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["stream", "hf"])
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--train-seconds", type=float, default=0.0)
    parser.add_argument("--no-commit", action="store_true")
    parser.add_argument("--from-beginning", action="store_true")
    parser.add_argument("--from-timestamp", type=int)
    parser.add_argument("--domain", action="append")
    parser.add_argument("--language", action="append", help="an ISO 639-1 code, or none for unknown")
    parser.add_argument("--kafka", action="append", help="a librdkafka setting KEY=VALUE, passed through")
    parser.add_argument("--rank", type=int, default=0)
    parser.add_argument("--world-size", type=int, default=1)
    args = parser.parse_args()
    run_stream(args) if args.mode == "stream" else run_hf(args)


if __name__ == "__main__":
    main()
