"""The fuzzing of tests/contract/test_fuzz.py on a longer budget, against a real
`sketchify serve` on 127.0.0.1 (tiny models, --hold-jobs): half the time for Schemathesis driven by
/v1/openapi.json, the other half for the raw-HTTP Hypothesis strategies (their example count is
scaled to about that time on a 2-core machine). Prints what ran and how long each part took;
exits non-zero on any finding (a 5xx, a response that breaks the document, an error that is not
a JSON sentence naming its field, a server that is not healthy after).

    python benchmarks/fuzz.py [--minutes 10] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Measured on the 2-core dev machine: a 10-minute run with 2000 examples per raw-HTTP test
# spent ~170 s on them (~150 examples/s over 13 tests), so this many examples per test per
# minute of budget fill about half of it.
EXAMPLES_PER_MINUTE = 350


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=None,
                        help="Hypothesis seed for the raw-HTTP part (default: random)")
    args = parser.parse_args()
    env = {**os.environ,
           "SKETCHIFY_FUZZ_SECONDS": str(max(1, round(args.minutes * 30))),
           "SKETCHIFY_FUZZ_EXAMPLES": str(max(10, round(args.minutes * EXAMPLES_PER_MINUTE)))}
    command = [sys.executable, "-m", "pytest",
               str(ROOT / "tests" / "contract" / "test_fuzz.py"), "-q",
               "-p", "no:cacheprovider", "--durations=0", "-o", "timeout=0",
               "-rP"]  # the passed Schemathesis run's own summary too
    if args.seed is not None:
        command.append(f"--hypothesis-seed={args.seed}")
    print(f"fuzzing for about {args.minutes:g} min: Schemathesis {env['SKETCHIFY_FUZZ_SECONDS']} "
          f"s, {env['SKETCHIFY_FUZZ_EXAMPLES']} examples per raw-HTTP test", flush=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env)
    print(f"fuzzing took {(time.monotonic() - started) / 60:.1f} min; "
          f"{'no findings' if result.returncode == 0 else 'FINDINGS above'}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
