"""JudgeReward: an LLM on an OpenAI-compatible server decides whether a response matches the
reference answer (the paper's RL used a model judge), for answers rules cannot compare.

The judge must answer with exactly one JSON object `{"correct": true}` or `{"correct": false}`
(other keys are ignored); anything else (prose, code fences, a missing or non-boolean `correct`)
is an invalid verdict and is asked again. 429 (honouring Retry-After), 5xx, timeouts and
connection errors are retried with capped exponential backoff and full jitter; other 4xx are not.
When no verdict comes within `attempts`, `on_failure` decides: "rule" (default) falls back to the
rule-based score, "zero" scores 0, "raise" raises JudgeError. `failures` counts those cases.

HTTP is the standard library's urllib: one POST per verdict needs no client library.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from webscale_rl.answer import score_answer
from webscale_rl.errors import JudgeError
from webscale_rl.reward import _completion_text, _response

SYSTEM_PROMPT = (
    "You grade answers against a reference. Read the question (when given), the reference answer "
    "and the candidate response. The candidate is correct when its final answer means the same "
    "thing as the reference: the same value, entity or choice, allowing different wording, "
    "formatting, units that convert exactly, or extra explanation around it. It is incorrect "
    "when it gives a different answer, several answers, no answer, or hedges between options. "
    'Reply with one JSON object and nothing else: {"correct": true} or {"correct": false}.'
)
_RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
ON_FAILURE = ("rule", "zero", "raise")


class InvalidVerdict(ValueError):
    pass


def parse_verdict(content: str) -> bool:
    """`correct` from a reply that is exactly one JSON object; InvalidVerdict otherwise."""
    try:
        value = json.loads(content.strip())
    except (ValueError, AttributeError) as err:
        raise InvalidVerdict(f"verdict is not JSON: {str(content)[:80]!r}") from err
    if not isinstance(value, dict) or not isinstance(value.get("correct"), bool):
        raise InvalidVerdict(f"verdict lacks a boolean 'correct': {str(content)[:80]!r}")
    return value["correct"]


class _Retry(Exception):
    def __init__(self, message: str, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


class JudgeReward:
    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        attempts: int = 3,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        max_tokens: int = 32,
        json_mode: bool = True,
        on_failure: str = "rule",
    ) -> None:
        if on_failure not in ON_FAILURE:
            raise ValueError(f"on_failure must be one of {ON_FAILURE}")
        base = url.rstrip("/")
        self.endpoint = base if base.endswith("/chat/completions") else f"{base}/chat/completions"
        self.model = model
        self._api_key = api_key
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_tokens = max_tokens
        self.json_mode = json_mode
        self.on_failure = on_failure
        self.failures = 0
        self.calls = 0

    # -- one verdict -----------------------------------------------------------------------------

    def judge(self, response: str, reference: str, question: str | None = None) -> bool:
        """The judge's verdict; JudgeError when none came within the attempts."""
        last, retry_after = "no attempt", None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self._delay(attempt, retry_after))
            try:
                return parse_verdict(self._ask(response, reference, question))
            except _Retry as err:
                last, retry_after = str(err), err.after
            except InvalidVerdict as err:
                last, retry_after = str(err), None
            except urllib.error.HTTPError as err:
                raise JudgeError(f"judge refused the request: HTTP {err.code}", status=err.code) from None
        raise JudgeError(f"no verdict after {self.attempts} attempts: {last}")

    def score(self, response: str, reference: str, question: str | None = None) -> float:
        try:
            return 1.0 if self.judge(response, reference, question) else 0.0
        except JudgeError:
            self.failures += 1
            if self.on_failure == "raise":
                raise
            return score_answer(response, reference) if self.on_failure == "rule" else 0.0

    def _delay(self, attempt: int, after: float | None) -> float:
        if after is not None:
            return min(after, self.backoff_max)
        return random.uniform(0, min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1)))

    def _ask(self, response: str, reference: str, question: str | None) -> str:
        parts = [] if question is None else [f"Question:\n{question}"]
        parts += [f"Reference answer:\n{reference}", f"Candidate response:\n{response}"]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": "\n\n".join(parts)},
            ],
            "temperature": 0,
            "max_tokens": self.max_tokens,
        }
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        reply = self._post(body)
        try:
            return reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as err:
            raise InvalidVerdict(f"reply has no message content: {str(reply)[:80]}") from err

    def _post(self, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.endpoint, data=json.dumps(body).encode("utf-8"), headers={"Content-Type": "application/json"}
        )
        if self._api_key:
            request.add_header("Authorization", f"Bearer {self._api_key}")
        self.calls += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                return json.loads(reply.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            if err.code in _RETRYABLE_STATUS:
                raise _Retry(f"HTTP {err.code}", _retry_after(err.headers.get("Retry-After"))) from None
            raise
        except OSError as err:  # URLError, connection errors, and socket.timeout (not TimeoutError before 3.10)
            raise _Retry(f"{type(err).__name__}: {err}") from None
        except ValueError as err:
            raise InvalidVerdict(f"reply is not JSON: {err}") from None

    # -- trainer signatures ----------------------------------------------------------------------

    def compute_score(self, data_source: str, solution_str: str, ground_truth: str, extra_info: Any = None) -> float:
        """verl signature (verl passes no question; extra_info may carry one under `question`)."""
        question = extra_info.get("question") if isinstance(extra_info, dict) else None
        return self.score(solution_str, ground_truth, question)

    def reward_func(self, completions: Sequence[Any], ground_truth: Sequence[str], **kwargs: Any) -> list[float]:
        """TRL signature; the `prompts` keyword (when TRL passes it) gives the judge the question."""
        prompts = kwargs.get("prompts") or [None] * len(completions)
        return [
            self.score(_completion_text(c), g, None if p is None else _completion_text_of_prompt(p))
            for c, g, p in zip(completions, ground_truth, prompts)
        ]

    def openrlhf_reward_func(self, queries: Sequence[str], prompts: Sequence[str], labels: Sequence[str]) -> Any:
        scores = [self.score(_response(q, p), label, p) for q, p, label in zip(queries, prompts, labels)]
        try:
            import torch
        except ImportError:
            return scores
        return torch.tensor(scores, dtype=torch.float32)


def _completion_text_of_prompt(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, Sequence):
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return str(users[-1]) if users else ""
    return ""


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
