"""The names of the files a run folder holds: the one place stages look them up."""

MANIFEST = "manifest.json"
RESPONSES = "responses.jsonl"
PARTS = "responses"  # folder of part-*.jsonl journals, one per batch fetcher (see pipeline/generation/fetch.py)
KEPT = "kept.jsonl"
REJECTED = "rejected.jsonl"
STATS = "stats.json"
LOCK = ".lock"  # the OS lock held by the process writing the folder, with its PID (pipeline/core/lock.py)
CHECKPOINT = "checkpoint.json"  # processing state at an answer boundary, so a resume need not replay everything

# The dataset stage's output, inside the run folder; the fine-tuning stage finds the dataset by these names.
DATASET_DIR = "dataset"
HF_DIR = "hf"  # the DatasetDict (save_to_disk)
DATA_DIR = "data"  # parquet and JSONL per split
ALPACA_JSON = "alpaca_data.json"  # every example, in Stanford Alpaca's file format
DATASET_CARD = "README.md"  # the Hub dataset card, beside hf/
REPORT_DIR = "report"
REPORT_MD = "report.md"

# The review stage's journals, apart from the generation journal.
JUDGEMENTS_DIR = "judgements"  # <outputs>-<rubric>.jsonl: one judge's scores per example, and .stats.json
REANSWERED = "reanswered.jsonl"  # new outputs for the kept instructions from another teacher
BATCHES = "batches.jsonl"  # the Batch API's journal: files uploaded, batches created, batches collected
