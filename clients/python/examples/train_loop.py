"""A worked example: the Kafka sink -> QaStream -> a (stub) training loop that scores with the reward.

The "policy" here is a stand-in that answers every other question correctly (inside \\boxed{})
and the rest wrongly, so the rewards are visibly 1 and 0; a real loop would generate with the
model, compute advantages from the rewards and step the optimizer where the comment says so.
Offsets are committed only after a batch is trained on: kill this process at any point and run it
again with the same group, and it resumes at the first batch it had not finished.

usage: python train_loop.py --brokers 127.0.0.1:19092 --prefix webscale-rl. --group my-trainer \
           [--batch-size 8] [--until-end] [--max-batches N]
"""

from __future__ import annotations

import argparse
import json

from webscale_rl import QaStream, to_trl
from webscale_rl.reward import reward_func


def stub_policy(row: dict, step: int) -> str:
    """Stands in for model.generate(row["prompt"]): right on even steps, wrong on odd ones."""
    answer = row["ground_truth"] if step % 2 == 0 else "I do not know"
    return f"Let me think about it. \\boxed{{{answer}}}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokers", default="127.0.0.1:19092")
    parser.add_argument("--prefix", default="webscale-rl.")
    parser.add_argument("--group", default="webscale-rl.example-trainer")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--until-end", action="store_true", help="stop at the end of the sink")
    parser.add_argument("--max-batches", type=int, default=None)
    args = parser.parse_args()

    step = 0
    rewards_seen: list[float] = []
    with QaStream(args.brokers, args.group, args.prefix, stop_at_end=args.until_end) as stream:
        for n, batch in enumerate(stream.batches(args.batch_size, max_wait=5.0)):
            rows = [to_trl(record) for record in batch]
            completions = []
            for row in rows:
                completions.append(stub_policy(row, step))
                step += 1
            rewards = reward_func(completions, ground_truth=[r["ground_truth"] for r in rows])
            # A real trainer would compute advantages from `rewards` and step the optimizer here.
            rewards_seen.extend(rewards)
            stream.commit()  # only now is the batch done: a crash before this replays it
            print(json.dumps({"batch": n, "ids": [r["id"] for r in rows], "rewards": rewards}), flush=True)
            if args.max_batches is not None and n + 1 >= args.max_batches:
                break
        summary = {
            "records": len(rewards_seen),
            "mean_reward": sum(rewards_seen) / len(rewards_seen) if rewards_seen else 0.0,
            "undecodable": stream.stats.undecodable,
        }
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
