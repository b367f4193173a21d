"""Our hooks for `schemathesis run` (loaded through SCHEMATHESIS_HOOKS): a check that every
error is a JSON sentence naming the field at fault with a name the operation documents or the
request used (the rule lives in fuzzing.py, shared with the raw-HTTP fuzzer), and a filter for
two false positives of Schemathesis's own."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import schemathesis

sys.path.insert(0, str(Path(__file__).parents[1]))
from api_contract.fuzzing import (
    documented_names,
    error_problems,
    refused_as_too_large,
    sent_as_left_out,
)


def _sent_names(case: Any, response: Any) -> set[str]:
    names = {name for name, _ in parse_qsl(urlsplit(response.request.url).query,
                                           keep_blank_values=True)}
    names |= set(case.headers or {})
    if isinstance(case.body, dict):
        names |= set(case.body)
    return names


@schemathesis.check
def errors_name_their_field(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"an error {response.status_code} is not JSON") from None
    allowed = documented_names(case.operation.schema.raw_schema, case.operation.path,
                               case.method) | _sent_names(case, response)
    found = error_problems(response.status_code, body, allowed)
    assert not found, "; ".join(found)
    return None


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    return not (sent_as_left_out(failure, case) or refused_as_too_large(failure, response))
