"""TinyPerson evaluation: AP/MR of detections (``evaluate``) and running a detector over a dataset
(``detect_dataset``). numpy only; model backends are imported lazily by the CLI."""
from sspnet.evaluation.metrics import HEADLINE, RANGE_NAMES, evaluate, format_table, json_safe
from sspnet.evaluation.run_model import detect_dataset

__all__ = ["HEADLINE", "RANGE_NAMES", "detect_dataset", "evaluate", "format_table", "json_safe"]
