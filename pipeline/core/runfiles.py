"""The names of the files a run folder holds: the one place stages look them up."""

MANIFEST = "manifest.json"
RESPONSES = "responses.jsonl"
PARTS = "responses"  # folder of part-*.jsonl journals, one per batch fetcher (see pipeline/generation/fetch.py)
KEPT = "kept.jsonl"
REJECTED = "rejected.jsonl"
STATS = "stats.json"
CHECKPOINT = "checkpoint.json"  # processing state at an answer boundary, so a resume need not replay everything
