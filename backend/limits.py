"""Default limits of the service, in one place (importing this costs nothing: no torch)."""

from __future__ import annotations

# Pillow's names; MPO is how Pillow reads many camera JPEGs (they carry a preview frame).
IMAGE_FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP")
MAX_PIXELS = 4096 * 4096  # well under Pillow's own decompression-bomb limit (~89 MP)
MAX_UPLOAD_MB = 25.0
RETENTION_HOURS = 24.0 * 7
MAX_ATTEMPTS = 3  # runs of a job that crashes take before it is failed
MAX_COUNTS = 8  # stroke counts per job

# New sketches are refused (507) while the data folder has less free space than this.
MIN_FREE_MB = 64.0
MIN_FREE_BYTES = int(MIN_FREE_MB * 2**20)
