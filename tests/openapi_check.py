"""Live answers against ``GET /openapi.json``: every route of the document asked on a running worker.

``check_live_answers`` fetches the document, validates it (OpenAPI 3.1), then asks every route:
each GET with real ids, a 404 and a 400 where the document lists them, and the mutating routes with a
valid body and an invalid one. Each answer's status must be one the operation lists, its content
type the documented one, and a JSON body must match the documented schema (JSON Schema 2020-12,
references resolved inside the document).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

__all__ = ["Asked", "check_live_answers"]


@dataclass
class Asked:
    """What was asked and how it was answered: (method, path, status) per request."""

    answers: list[tuple[str, str, int]] = field(default_factory=list)

    def statuses(self, path: str, method: str = "get") -> set[int]:
        return {s for m, p, s in self.answers if m == method and p == path}


def _request(url: str, method: str, body: Any, headers: Mapping[str, str]) -> tuple[int, str, bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method=method.upper(), headers={"content-type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            ctype = resp.headers.get("content-type", "")
            if ctype.startswith("text/event-stream"):  # endless: its first message is the answer
                return resp.status, ctype, b"".join(iter(lambda: _line_or_end(resp), b""))
            return resp.status, ctype, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read()


def _line_or_end(resp: Any) -> bytes:
    """The stream's next line, until the blank line that ends its first message (then b"")."""
    line: bytes = resp.readline()
    return b"" if line in (b"\n", b"\r\n") else line


def _check(doc: dict[str, Any], path: str, method: str, status: int, ctype: str, raw: bytes) -> None:
    op = doc["paths"][path][method]
    where = f"{method.upper()} {path} -> {status}"
    answer = op["responses"].get(str(status))
    assert answer is not None, f"{where}: status not in the document ({sorted(op['responses'])}): {raw[:300]!r}"
    content = answer.get("content", {})
    media = ctype.split(";")[0].strip()
    assert media in content, f"{where}: content type {media!r}, documented {sorted(content)}"
    if media == "application/json":
        schema = {"allOf": [content[media]["schema"]], "components": doc["components"]}
        errors = sorted(Draft202012Validator(schema).iter_errors(json.loads(raw)), key=lambda e: list(e.path))
        assert not errors, f"{where}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def check_live_answers(
    base: str,
    ids: Mapping[str, str],
    bodies: Mapping[tuple[str, str], Any],
    queries: Mapping[str, Sequence[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Asked:
    """Ask every route of ``base``'s document; ``ids`` fills path parameters with real values,
    ``bodies`` gives a valid body per mutating (path, method), ``queries`` more query strings to ask
    a GET route with (``?a=b``) besides none. Fails at the first answer off the document."""
    headers = headers or {}
    status, _, raw = _request(f"{base}/openapi.json", "get", None, headers)
    assert status == 200
    doc = json.loads(raw)
    validate(doc)
    asked = Asked()

    def ask(path: str, method: str, url_path: str, body: Any = None, query: str = "") -> int:
        status, ctype, raw = _request(f"{base}{url_path}{query}", method, body, headers)
        _check(doc, path, method, status, ctype, raw)
        asked.answers.append((method, path, status))
        return status

    for path, ops in doc["paths"].items():
        real = path.format(**ids)
        unknown = path.format(**{k: f"unknown-{k}" for k in ids})
        for method, op in ops.items():
            listed = op["responses"]
            if method == "get":
                ask(path, method, real)
                for query in (queries or {}).get(path, ()):
                    ask(path, method, real, query=query)
                if "404" in listed:  # with the first query given: a route may need one to get that far
                    first = next(iter((queries or {}).get(path, ())), "")
                    assert ask(path, method, unknown, query=first) == 404, path
                numeric = [p["name"] for p in op.get("parameters", []) if p["schema"].get("type") == "integer"]
                if "400" in listed and numeric:
                    assert ask(path, method, real, query=f"?{numeric[0]}=not-a-number") == 400, path
            else:
                if "400" in listed:
                    assert ask(path, method, real, body={"no such field": 1}) == 400, path
                ask(path, method, real, body=bodies.get((path, method)))
    return asked
