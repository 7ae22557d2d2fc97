"""webscale_rl: verified QA records from the webscale-rl Kafka sink into RL trainers.

- `QaStream`: read_committed consumer of `<prefix>qa.verified`, commit after training on a batch;
- `to_verl`, `to_trl`, `to_openrlhf`: the rows those trainers read;
- `webscale_rl.reward`: the rule-based verifiable reward (and `JudgeReward`, an LLM judge);
- `webscale_rl.adapters`: a `datasets.IterableDataset` and (with torch) a torch IterableDataset.
"""

from webscale_rl.codec import RecordDecoder
from webscale_rl.errors import DecodeError, JudgeError, SchemaRegistryError, WebscaleError
from webscale_rl.rows import INSTRUCTION, prompt_text, to_openrlhf, to_trl, to_verl
from webscale_rl.sharding import Shard, shard_of
from webscale_rl.stream import QaStream

__all__ = [
    "INSTRUCTION",
    "DecodeError",
    "JudgeError",
    "QaStream",
    "RecordDecoder",
    "SchemaRegistryError",
    "Shard",
    "WebscaleError",
    "prompt_text",
    "shard_of",
    "to_openrlhf",
    "to_trl",
    "to_verl",
]
__version__ = "0.1.0"
