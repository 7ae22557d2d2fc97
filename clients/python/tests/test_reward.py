"""The rule-based reward on a table of (response, ground truth, expected score) across domains,
with the traps a lenient matcher falls into, and the three trainer signatures."""

from __future__ import annotations

import pytest

from webscale_rl.answer import extract_answer
from webscale_rl.reward import compute_score, openrlhf_reward_func, reward_func

CASES = [
    # Math: plain numbers, separators, signs, decimals
    ("42", "42", 1.0),
    ("The total is 42.", "42", 1.0),
    ("1,000", "1000", 1.0),
    ("1000", "1,000", 1.0),
    ("1,234,567", "1234567", 1.0),
    ("-5", "-5", 1.0),
    ("-5", "5", 0.0),
    ("+5", "5", 1.0),
    ("\u22125", "-5", 1.0),
    ("12.0", "12", 1.0),
    ("12.5", "12", 0.0),
    ("2.50", "2.5", 1.0),
    ("3.14159", "3.14", 1.0),
    ("3.2", "3.14", 0.0),
    # Traps: a number inside a longer number, negation, hedges
    ("312", "12", 0.0),
    ("120", "12", 0.0),
    ("1.12", "12", 0.0),
    ("not 12", "12", 0.0),
    ("It is not 12, it is 13", "12", 0.0),
    ("The answer isn't 12", "12", 0.0),
    ("\\boxed{12 or 13}", "12", 0.0),
    ("x86", "86", 0.0),
    ("R6", "6", 0.0),
    # Fractions and percentages
    ("1/2", "0.5", 1.0),
    ("0.5", "1/2", 1.0),
    ("\\frac{1}{2}", "0.5", 1.0),
    ("\\boxed{\\dfrac{3}{4}}", "0.75", 1.0),
    ("0.33", "1/3", 1.0),
    ("0.3", "1/3", 0.0),
    ("2/4", "1/2", 1.0),
    ("50%", "50%", 1.0),
    ("50", "50%", 1.0),
    ("0.5", "50%", 1.0),
    ("50 percent", "50%", 1.0),
    ("5%", "50%", 0.0),
    ("\\boxed{25\\%}", "25%", 1.0),
    # Units, currency, scale words
    ("5 km", "5 km", 1.0),
    ("5", "5 km", 1.0),
    ("5 m", "5 km", 0.0),
    ("5 kilometers", "5 km", 1.0),
    ("72GB", "72 GB", 1.0),
    ("$3.50", "3.5 dollars", 1.0),
    ("3.5 USD", "$3.50", 1.0),
    ("3.5 million", "3500000", 1.0),
    ("It weighs 12 kg.", "12 kg", 1.0),
    ("100 \u00b0C", "100 degrees Celsius", 1.0),
    # Boxed answers and "final answer" markers (the last one wins)
    ("We have 3 apples and 4 pears, so \\boxed{7}", "7", 1.0),
    ("We have 3 apples and 4 pears, so \\boxed{7}", "3", 0.0),
    ("First \\boxed{5}, then corrected: \\boxed{6}", "6", 1.0),
    ("First \\boxed{5}, then corrected: \\boxed{6}", "5", 0.0),
    ("Step 1: 10 + 20 = 30. Final answer: 30", "30", 1.0),
    ("Final answer: 30\nWait, final answer: 31", "31", 1.0),
    ("The answer is 1969.", "1969", 1.0),
    ("Apollo 11 landed in 1969, about 55 years ago.", "1969", 0.0),
    # Multiple choice
    ("B", "B", 1.0),
    ("(B)", "B", 1.0),
    ("B) Paris", "B", 1.0),
    ("The answer is (C).", "C", 1.0),
    ("\\boxed{C}", "(C)", 1.0),
    ("Final answer: C", "B", 0.0),
    ("Option D", "D", 1.0),
    ("A or B", "A", 0.0),
    # Text answers across domains
    ("chemical energy", "chemical energy", 1.0),
    ("It is stored as chemical energy.", "chemical energy", 1.0),
    ("Chemical Energy!", "chemical energy", 1.0),
    ("\\boxed{\\text{Paris}}", "Paris", 1.0),
    ("The capital is Paris.", "Paris", 1.0),
    ("not Paris", "Paris", 0.0),
    ("Paris or London", "Paris", 0.0),
    ("London", "Paris", 0.0),
    ("the mitochondria", "Mitochondria", 1.0),
    ("Caf\u00e9 au lait", "cafe au lait", 1.0),
    ("Python's GIL", "python s gil", 1.0),
    ("TCP", "UDP", 0.0),
    ("HTTP/2", "HTTP 2", 1.0),
    ("Yes.", "yes", 1.0),
    ("No", "yes", 0.0),
    ("supply and demand", "Supply and demand", 1.0),
    ("the law of diminishing returns", "law of diminishing returns", 1.0),
    ("insulin", "Insulin", 1.0),
    ("glucagon", "insulin", 0.0),
    ("", "insulin", 0.0),
    ("insulin", "", 0.0),
    (
        "Many hormones matter here, and a long explanation follows that mentions insulin only in "
        "passing among many other words about the pancreas and its many functions in the body",
        "insulin",
        0.0,
    ),
]


@pytest.mark.parametrize(("response", "ground_truth", "expected"), CASES)
def test_score_table(response: str, ground_truth: str, expected: float) -> None:
    assert compute_score("webscale-rl", response, ground_truth) == expected


def test_the_table_is_large_and_balanced() -> None:
    assert len(CASES) >= 60
    assert sum(1 for c in CASES if c[2] == 0.0) >= 25


def test_extract_answer_takes_the_last_balanced_box() -> None:
    assert extract_answer("x \\boxed{\\frac{1}{2}} y \\boxed{{a}b}") == ("{a}b", True)
    assert extract_answer("plain text") == ("plain text", False)


def test_trl_signature_takes_strings_and_chat_messages() -> None:
    completions = [
        "\\boxed{7}",
        [{"role": "assistant", "content": "Final answer: Paris"}],
        [{"role": "assistant", "content": "London"}],
    ]
    scores = reward_func(completions, ground_truth=["7", "Paris", "Paris"], prompts=["p1", "p2", "p3"], id=["a"] * 3)
    assert scores == [1.0, 1.0, 0.0]


def test_trl_signature_refuses_mismatched_columns() -> None:
    with pytest.raises(ValueError):
        reward_func(["1"], ["1", "2"])


def test_openrlhf_signature_scores_the_response_after_the_prompt() -> None:
    prompts = ["What is 6 x 7? Answer 12 if unsure.", "Capital of France?"]
    queries = [prompts[0] + " \\boxed{42}", prompts[1] + " It is Lyon."]
    scores = openrlhf_reward_func(queries, prompts, ["42", "Paris"])
    try:
        import torch
    except ImportError:
        assert scores == [1.0, 0.0]
    else:
        assert isinstance(scores, torch.Tensor)
        assert scores.tolist() == [1.0, 0.0]


def test_openrlhf_file_exposes_reward_func() -> None:
    from webscale_rl import openrlhf_reward

    assert list(openrlhf_reward.reward_func(["q \\boxed{3}"], ["q"], ["3"])) == [1.0]
