"""A minimal Confluent Schema Registry reader: the schema registered under a global id.

Written on the standard library's urllib rather than `confluent_kafka.schema_registry`, whose
client pulls in the `schemaregistry` extra (httpx, authlib, attrs, cachetools) for the one GET a
reader needs. User-info in the URL (`https://key:secret@host`) is sent as HTTP Basic auth and kept
out of error messages; a bearer token (`token`) is sent instead when given; `ca_file` names PEM CA
certificates to trust instead of the system's (a registry whose certificate a private CA signed).
Ids never change once assigned, so schemas are cached for the client's life.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from webscale_rl.errors import DecodeError, SchemaRegistryError

ACCEPT = "application/vnd.schemaregistry.v1+json"


def split_user_info(url: str) -> tuple[str, str | None]:
    """The URL without user-info, and the Basic authorization header made from it (or None)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url.rstrip("/"), None
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return base.rstrip("/"), f"Basic {token}"


class SchemaRegistryReader:
    def __init__(
        self,
        url: str,
        timeout: float = 10.0,
        attempts: int = 3,
        backoff: float = 0.5,
        *,
        token: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.base_url, self._authorization = split_user_info(url)
        if token is not None:
            self._authorization = f"Bearer {token}"
        self._context = ssl.create_default_context(cafile=ca_file) if ca_file is not None else None
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._schemas: dict[int, Any] = {}

    def schema_by_id(self, schema_id: int) -> Any:
        """The schema (parsed JSON) registered under `schema_id`; DecodeError when the id is unknown."""
        if schema_id not in self._schemas:
            self._schemas[schema_id] = self._fetch(schema_id)
        return self._schemas[schema_id]

    def _fetch(self, schema_id: int) -> Any:
        url = f"{self.base_url}/schemas/ids/{schema_id}"
        last: Exception | None = None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                body = self._get(url)
                return json.loads(body["schema"])
            except urllib.error.HTTPError as err:
                if err.code == 404:
                    raise DecodeError(f"schema id {schema_id} is not in the registry", url=url) from None
                last = err
                if err.code < 500 and err.code != 429:
                    break
            except (urllib.error.URLError, TimeoutError, OSError) as err:
                last = err
            except (KeyError, TypeError, ValueError) as err:
                last = err
                break
        raise SchemaRegistryError(f"schema registry {self.base_url} failed for id {schema_id}: {last}", url=url)

    def _get(self, url: str) -> Any:
        request = urllib.request.Request(url, headers={"Accept": ACCEPT})
        if self._authorization:
            request.add_header("Authorization", self._authorization)
        with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as response:
            return json.loads(response.read().decode("utf-8"))
