"""JudgeReward against a stand-in OpenAI-compatible server over real HTTP: the request it sends,
strict verdict parsing, retries on 429 (Retry-After) and 5xx, no retry on 400, timeouts, and the
fallback when no verdict comes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webscale_rl.errors import JudgeError
from webscale_rl.judge import InvalidVerdict, JudgeReward, parse_verdict


class _Server(BaseHTTPRequestHandler):
    script: list[tuple[int, object, dict]] = []  # (status, body or message content, headers)
    requests: list[dict] = []
    delay = 0.0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        status, content, headers = type(self).script.pop(0) if type(self).script else (200, '{"correct": true}', {})
        if type(self).delay:
            time.sleep(type(self).delay)
        if status == 200 and isinstance(content, str):
            payload = {"choices": [{"message": {"role": "assistant", "content": content}}]}
        else:
            payload = content
        data = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Server.script, _Server.requests, _Server.delay = [], [], 0.0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def judge(url: str, **kwargs) -> JudgeReward:
    return JudgeReward(url, "judge-model", backoff_initial=0.01, backoff_max=0.05, **kwargs)


@pytest.mark.parametrize(
    ("content", "verdict"),
    [('{"correct": true}', True), (' {"correct": false, "why": "differs"}\n', False)],
)
def test_strict_verdicts_that_parse(content: str, verdict: bool) -> None:
    assert parse_verdict(content) is verdict


@pytest.mark.parametrize(
    "content",
    ['```json\n{"correct": true}\n```', "Yes, correct.", '{"correct": "yes"}', "[true]", '{"verdict": true}', ""],
)
def test_strict_verdicts_that_do_not(content: str) -> None:
    with pytest.raises(InvalidVerdict):
        parse_verdict(content)


def test_sends_question_reference_and_response_with_the_key(server: str) -> None:
    j = judge(server, api_key="sk-test")
    assert j.score("It is Paris.", "Paris", "Capital of France?") == 1.0
    request = _Server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test"
    body = request["body"]
    assert body["model"] == "judge-model" and body["temperature"] == 0
    assert body["response_format"] == {"type": "json_object"}
    user = body["messages"][1]["content"]
    assert "Capital of France?" in user and "Paris" in user and "It is Paris." in user


def test_retries_429_with_retry_after_and_5xx_then_answers(server: str) -> None:
    _Server.script = [
        (429, {"error": {"message": "slow down"}}, {"Retry-After": "0.01"}),
        (503, {"error": {"message": "busy"}}, {}),
        (200, '{"correct": false}', {}),
    ]
    j = judge(server)
    assert j.score("Lyon", "Paris") == 0.0
    assert j.calls == 3 and j.failures == 0


def test_asks_again_after_an_invalid_verdict(server: str) -> None:
    _Server.script = [(200, "I think it is right.", {}), (200, '{"correct": true}', {})]
    assert judge(server).score("Paris", "Paris") == 1.0


def test_no_retry_on_400_and_fallbacks(server: str) -> None:
    _Server.script = [(400, {"error": {"message": "bad request"}}, {})]
    j = judge(server, on_failure="raise")
    with pytest.raises(JudgeError, match="HTTP 400"):
        j.score("Paris", "Paris")
    assert j.calls == 1
    # Rule fallback: three invalid verdicts, then the rule-based score decides.
    _Server.script = [(200, "prose", {})] * 3
    j = judge(server, on_failure="rule")
    assert j.score("\\boxed{Paris}", "Paris") == 1.0
    assert j.failures == 1 and j.calls == 3
    _Server.script = [(200, "prose", {})] * 3
    assert judge(server, on_failure="zero").score("Paris", "Paris") == 0.0


def test_times_out_and_retries(server: str) -> None:
    _Server.delay = 0.5
    j = judge(server, timeout=0.1, attempts=2, on_failure="raise")
    started = time.monotonic()
    with pytest.raises(JudgeError, match="no verdict after 2 attempts"):
        j.score("Paris", "Paris")
    assert time.monotonic() - started < 2.0


def test_trainer_signatures(server: str) -> None:
    _Server.script = [(200, '{"correct": true}', {}), (200, '{"correct": false}', {})]
    j = judge(server)
    prompts = [[{"role": "user", "content": "Q1?"}], [{"role": "user", "content": "Q2?"}]]
    assert j.reward_func(["a", [{"role": "assistant", "content": "b"}]], ["a", "c"], prompts=prompts) == [1.0, 0.0]
    assert "Q1?" in _Server.requests[0]["body"]["messages"][1]["content"]
    assert j.compute_score("webscale-rl", "x", "x", {"question": "Q3?"}) == 1.0
    assert "Q3?" in _Server.requests[2]["body"]["messages"][1]["content"]
