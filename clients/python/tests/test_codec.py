"""Decoding without Kafka: single-object values (current and history writer schemas, encoded here
with fastavro from the .avsc files), Confluent framing against a registry served over real HTTP,
and every kind of bad value as a DecodeError."""

from __future__ import annotations

import io
import json
import pathlib
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fastavro
import pytest

from webscale_rl import DecodeError, RecordDecoder, SchemaRegistryError
from webscale_rl.registry import split_user_info
from webscale_rl.schemas import bundled_schema_dir, schema_fingerprint

RECORD = {
    "id": "qa-1",
    "doc_id": "doc-1",
    "question": "Which gas do plants take in for photosynthesis?",
    "answer": "carbon dioxide",
    "domain": "Natural Science",
    "persona": "a gardener",
    "source_url": "https://example.org/plants",
    "source": None,
    "source_text": None,
    "checks": {"has_context": True, "answer_correct": True, "info_leakage": False, "reasoning": "stated"},
    "provenance": {
        "pipeline_version": "0.1.0",
        "prompt_versions": {"generate": "g1"},
        "models": {"generate": "m"},
        "fewshot_ids": ["natsci-001"],
        "truncated_chars": 0,
        "language": "en",
    },
    "usage": {"prompt_tokens": 5_000_000_000, "completion_tokens": 9, "by_stage": {}},
    "created_at": 1_764_230_401_999,
}


def _raw(name: str) -> dict:
    return json.loads(bundled_schema_dir().joinpath(name).read_text(encoding="utf-8"))


def _body(raw_schema: dict, record: dict) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(raw_schema), record)
    return out.getvalue()


def single_object(raw_schema: dict, record: dict) -> bytes:
    return b"\xc3\x01" + schema_fingerprint(raw_schema) + _body(raw_schema, record)


def test_decodes_a_current_record_with_epoch_ms_times() -> None:
    value = single_object(_raw("QaRecord.avsc"), RECORD)
    assert RecordDecoder().decode(value) == RECORD


def test_resolves_a_history_writer_into_the_current_schema() -> None:
    v1 = _raw("history/QaRecord.v1.avsc")
    old = {**RECORD, "provenance": {k: v for k, v in RECORD["provenance"].items() if k != "language"}}
    decoded = RecordDecoder().decode(single_object(v1, old))
    assert decoded["provenance"]["language"] is None
    assert decoded["question"] == RECORD["question"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"", "empty"),
        (b'{"id": 1}', "unknown framing"),
        (b"\xc3\x01\x00", "cut short"),
        (b"\xc3\x01" + bytes(8) + b"\x02", "matches no known schema"),
    ],
)
def test_bad_values_are_decode_errors(value: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        RecordDecoder().decode(value)


def test_a_truncated_body_and_trailing_bytes_are_decode_errors() -> None:
    value = single_object(_raw("QaRecord.avsc"), RECORD)
    with pytest.raises(DecodeError, match="does not decode"):
        RecordDecoder().decode(value[:-7])
    with pytest.raises(DecodeError, match="trailing bytes"):
        RecordDecoder().decode(value + b"\x00")


def test_another_record_type_is_a_decode_error() -> None:
    rejection = {
        "doc_id": "d",
        "stage": "filter",
        "reason": "filter.too_short",
        "detail": "",
        "persona": None,
        "line": None,
        "usage": {"prompt_tokens": 0, "completion_tokens": 0},
        "created_at": 1,
        "duplicate_of": None,
    }
    with pytest.raises(DecodeError, match="is a Rejection"):
        RecordDecoder().decode(single_object(_raw("Rejection.avsc"), rejection))


def test_a_hostile_array_count_fails_fast() -> None:
    # The fewshot_ids count claims 10^8 strings in a value of a few hundred bytes.
    value = bytearray(single_object(_raw("QaRecord.avsc"), {**RECORD, "provenance": {**RECORD["provenance"]}}))
    marker = b"\x02\x14natsci-001\x00"  # one-item block, "natsci-001", end of array
    at = bytes(value).index(marker)
    value[at : at + 1] = b"\x80\x84\xaf\x5f"  # zig-zag varint of 10^8
    with pytest.raises(DecodeError):
        RecordDecoder().decode(bytes(value))


class _Registry(BaseHTTPRequestHandler):
    schemas: dict[int, str] = {}
    seen_auth: list[str | None] = []
    failures_left = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen_auth.append(self.headers.get("Authorization"))
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            self._reply(503, {"error_code": 50301, "message": "unavailable"})
            return
        schema_id = int(self.path.rsplit("/", 1)[-1])
        if schema_id in self.schemas:
            self._reply(200, {"schema": self.schemas[schema_id]})
        else:
            self._reply(404, {"error_code": 40403, "message": "Schema not found"})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[str]:
    _Registry.schemas = {7: json.dumps(_raw("QaRecord.avsc"))}
    _Registry.seen_auth = []
    _Registry.failures_left = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def confluent(schema_id: int, raw_schema: dict, record: dict) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + _body(raw_schema, record)


def test_confluent_framing_fetches_the_writer_schema_once(registry: str) -> None:
    url = registry.replace("http://", "http://sr-key:s%40cret@")
    decoder = RecordDecoder(schema_registry_url=url)
    value = confluent(7, _raw("QaRecord.avsc"), RECORD)
    assert decoder.decode(value) == RECORD
    assert decoder.decode(value) == RECORD
    assert len(_Registry.seen_auth) == 1
    assert _Registry.seen_auth[0] == "Basic c3Ita2V5OnNAY3JldA=="


def test_confluent_unknown_id_is_a_decode_error_and_an_outage_is_not(registry: str) -> None:
    decoder = RecordDecoder(schema_registry_url=registry)
    with pytest.raises(DecodeError, match="not in the registry"):
        decoder.decode(confluent(99, _raw("QaRecord.avsc"), RECORD))
    _Registry.failures_left = 1
    assert decoder.decode(confluent(7, _raw("QaRecord.avsc"), RECORD))["id"] == "qa-1"
    decoder2 = RecordDecoder(schema_registry_url=registry)
    decoder2._registry.backoff = 0.01
    _Registry.failures_left = 10
    with pytest.raises(SchemaRegistryError):
        decoder2.decode(confluent(7, _raw("QaRecord.avsc"), RECORD))


def test_confluent_value_without_a_registry_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="no schema registry"):
        RecordDecoder().decode(confluent(7, _raw("QaRecord.avsc"), RECORD))


def test_user_info_leaves_the_url() -> None:
    base, auth = split_user_info("https://k%40y:p%3Ass@reg.example:8081/ctx/")
    assert base == "https://reg.example:8081/ctx"
    assert auth == "Basic a0B5OnA6c3M="
    assert split_user_info("http://127.0.0.1:8081") == ("http://127.0.0.1:8081", None)


def _test_ca(tmp: pathlib.Path) -> tuple[str, str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1 it signed (openssl, this run only)."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=test CA",
    )
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (tmp / "san.ext").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    )
    return str(tmp / "ca.pem"), str(tmp / "server.pem"), str(tmp / "server.key")


def test_confluent_framing_over_tls_with_a_private_ca_and_a_bearer_token(tmp_path: pathlib.Path) -> None:
    ca, cert, key = _test_ca(tmp_path)
    _Registry.schemas = {7: json.dumps(_raw("QaRecord.avsc"))}
    _Registry.seen_auth = []
    _Registry.failures_left = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        value = confluent(7, _raw("QaRecord.avsc"), RECORD)
        # Not trusted without the CA: an outage-like registry error, not a bad record.
        untrusted = RecordDecoder(schema_registry_url=url)
        untrusted._registry.attempts = 1
        with pytest.raises(SchemaRegistryError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.decode(value)
        decoder = RecordDecoder(schema_registry_url=url, schema_registry_token="tok-1", schema_registry_ca=ca)
        assert decoder.decode(value) == RECORD
        assert _Registry.seen_auth[-1] == "Bearer tok-1"
    finally:
        server.shutdown()
        server.server_close()
