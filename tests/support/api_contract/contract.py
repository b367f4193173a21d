"""Checks a real HTTP response against the server's own OpenAPI document.

Shared by the contract test, the fuzz tests and the fuzz and soak scripts: a response breaks
the contract when its status is not documented for the operation, its media type is not one
the document lists, a documented required header is missing, or its JSON body does not
validate (JSON Schema 2020-12, formats checked) against the documented schema.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import jsonschema


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        # {id} matches what Flask's default converter routes: anything but a slash.
        self._routes = [
            (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), path)
            for path in document["paths"]
        ]

    def template(self, url: str) -> str | None:
        """The documented path a URL is an instance of, or None."""
        path = urlsplit(url).path
        for pattern, template in self._routes:
            if pattern.match(path):
                return template
        return None

    def validator(self, schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
        # The document's components sit at the root so its "#/components/..." refs resolve.
        root = {**schema, "components": self.document["components"]}
        return jsonschema.Draft202012Validator(
            root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)

    def problems(self, method: str, url: str, status: int, headers: Any,
                 body: bytes) -> list[str]:
        """What is wrong with one response (empty: it keeps the contract)."""
        template = self.template(url)
        if template is None:  # routes outside the document answer with the error body
            return self._error_body(status, headers, body) if status >= 400 else []
        operation = self.document["paths"][template].get(method.lower())
        if operation is None:
            if status != 405:
                return [f"{method} {template} answered {status}, not 405"]
            return self._error_body(status, headers, body)
        documented = operation["responses"].get(str(status))
        if documented is None:
            return [f"{method} {template} answered {status}, which the document does not list"]
        media = (headers.get("Content-Type") or "").split(";")[0].strip()
        content = documented.get("content", {})
        if content and media not in content:
            return [f"{method} {template} {status}: Content-Type {media!r} is not one of "
                    f"{sorted(content)}"]
        found = []
        for name, header in documented.get("headers", {}).items():
            if header.get("required") and name not in headers:
                found.append(f"{method} {template} {status}: no {name} header")
        if media == "application/json":
            found += self._json(content[media]["schema"], body, f"{method} {template} {status}")
        return found

    def _error_body(self, status: int, headers: Any, body: bytes) -> list[str]:
        media = (headers.get("Content-Type") or "").split(";")[0].strip()
        if media != "application/json":
            return [f"an error {status} sent {media!r}, not JSON"]
        return self._json({"$ref": "#/components/schemas/Error"}, body, f"error {status}")

    def _json(self, schema: dict[str, Any], body: bytes, where: str) -> list[str]:
        try:
            value = json.loads(body)
        except ValueError:
            return [f"{where}: the body is not JSON: {body[:200]!r}"]
        return [f"{where}: {error.json_path}: {error.message}"
                for error in self.validator(schema).iter_errors(value)]

    def check(self, response: Any) -> None:
        """Fail the test with every problem of a ``requests`` response."""
        found = self.problems(response.request.method, response.request.url,
                              response.status_code, response.headers, response.content)
        assert not found, "\n".join(found)
