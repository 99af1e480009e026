"""Where a tus PATCH's time goes, in this process (scraped with the rest at /metrics).

The gateway times whole requests; these split a stored chunk into its parts, so an operator can tell an upload
held up by its clients' networks or the storage (storing: the body arrives as fast as the client sends it, hashed
and written beside the receiving) from one held up by the database (taking the lease, committing the offset).
Refused and failed chunks are not timed. Per process: each deployable that serves uploads exports its own.
"""

from prometheus_client import Counter, Histogram

PHASES = ("lease", "store", "commit")
CHUNK_SECONDS = Histogram(
    "fip_upload_chunk_seconds",
    "Parts of a stored tus chunk: lease (taking the upload, and loading it when one statement does both), store "
    "(receiving, hashing and storing the body: written and synced locally, or sent as S3 parts), commit (the new "
    "offset and hash state; for the last chunk also queueing the file's validation).",
    ["phase"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CHUNK_BYTES = Counter("fip_upload_chunk_bytes_total", "Bytes of tus chunks stored and committed, in this process.")
for _phase in PHASES:  # every phase is exported from the start, at zero
    CHUNK_SECONDS.labels(_phase)
