"""The HTTP API's contract as tests hold it: the OpenAPI document checked against real answers
(contract.py), the raw-HTTP fuzzer's rules (fuzzing.py) and Schemathesis's hooks that apply
them (schemathesis_hooks.py)."""
