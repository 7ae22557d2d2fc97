"""The verifiable reward for short answers, in the signatures the trainers call.

All three score with `answer.score_answer` (1.0 right, 0.0 wrong; see answer.py for the rules):
- verl: `compute_score(data_source, solution_str, ground_truth, extra_info=None)`, set with
  `custom_reward_function.path=<this file> custom_reward_function.name=compute_score`;
- TRL: `reward_func(completions, ground_truth, **kwargs)`, passed as `GRPOTrainer(reward_funcs=[...])`;
  completions are strings or chat message lists (the last assistant message is scored), and the
  `ground_truth` column of the TRL rows arrives as a keyword argument;
- OpenRLHF: `openrlhf_reward_func(queries, prompts, labels)`; `openrlhf_reward.py` exposes it as
  `reward_func` for `--remote_rm_url`. A query is prompt + response; the response is what follows
  the prompt. Returns a torch tensor when torch is importable, else a list.
The module uses absolute imports only, so a trainer may load it by file path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from webscale_rl.answer import extract_answer, score_answer

__all__ = ["compute_score", "extract_answer", "openrlhf_reward_func", "reward_func", "score_answer"]


def compute_score(data_source: str, solution_str: str, ground_truth: str, extra_info: Any = None) -> float:
    """verl's custom reward signature."""
    return score_answer(solution_str, ground_truth)


def _completion_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        for message in reversed(completion):
            if isinstance(message, dict) and message.get("role", "assistant") == "assistant":
                return str(message.get("content") or "")
    return ""


def reward_func(completions: Sequence[Any], ground_truth: Sequence[str], **kwargs: Any) -> list[float]:
    """TRL's reward function signature (GRPOTrainer passes dataset columns as keyword arguments)."""
    if len(completions) != len(ground_truth):
        raise ValueError(f"{len(completions)} completions but {len(ground_truth)} ground truths")
    return [score_answer(_completion_text(c), g) for c, g in zip(completions, ground_truth)]


def _response(query: str, prompt: str) -> str:
    return query[len(prompt) :] if query.startswith(prompt) else query


def openrlhf_reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[str]) -> Any:
    """OpenRLHF's remote reward signature: a torch tensor when torch is present, else a list."""
    scores = [score_answer(_response(q, p), label) for q, p, label in zip(queries, prompts, labels)]
    try:
        import torch
    except ImportError:
        return scores
    return torch.tensor(scores, dtype=torch.float32)
