"""Default limits of the service, in one place (importing this costs nothing: no torch)."""

from __future__ import annotations

from sketchify.core.config import MAX_STROKES as MAX_STROKES  # strokes in one sketch

MAX_PIXELS = 4096 * 4096  # well under Pillow's own decompression-bomb limit (~89 MP)
MAX_UPLOAD_MB = 25.0
RETENTION_HOURS = 24.0 * 7
MAX_ATTEMPTS = 3  # runs of a job that crashes take before it is failed
HEARTBEAT_S = 10.0  # how often a Celery worker says it is alive
HEARTBEAT_TTL_S = 30.0  # silence after which the front hands its job to another worker
MAX_COUNTS = 8  # stroke counts per job

# The ranges of a submission's fields: the validators and the OpenAPI document both read them.
MAX_STEPS = 10000
MAX_SEEDS = 16
MAX_SEED = 2**63 - 1  # the largest signed 64-bit integer
MIN_WIDTH, MAX_WIDTH, DEFAULT_WIDTH = 0.5, 20.0, 3.0  # SVG stroke width at the 224 px canvas
MAX_PROMPT = 300  # characters
MAX_IDEMPOTENCY_KEY = 255  # characters of an Idempotency-Key header
# A start's given strokes; its path data stays well under Werkzeug's 500 000-byte cap on one
# multipart form field.
MAX_START_ITEMS = 256
MAX_START_CHARS = 100_000

# New sketches are refused (507) while the data folder has less free space than this.
MIN_FREE_MB = 64.0
MIN_FREE_BYTES = int(MIN_FREE_MB * 2**20)
