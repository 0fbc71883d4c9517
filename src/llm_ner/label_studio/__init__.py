"""The expert step with real annotators, through Label Studio (Kedro-free).

* :mod:`.tasks` -- chosen sentences as Label Studio tasks, the LLM's entities pre-filled as
  ``predictions`` (with their confidence as scores), and the labeling config of a label schema;
* :mod:`.annotations` -- a Label Studio JSON export read back into IOB2 tags per sentence, with
  what annotators did (submitted, cancelled / skipped), the time they took, snapped spans and
  inter-annotator agreement;
* :mod:`.server` -- the REST calls that push tasks to a running Label Studio and pull the export.

The text of a task is the sentence's tokens joined by single spaces; the character offsets of
every token travel in the task's ``data``, so spans come back to exactly the tokens they cover.
"""

from .annotations import AGREEMENT_RULES, ExpertAnnotations, load_export_file, read_export
from .server import LabelStudioClient, LabelStudioError, annotations_so_far, connect
from .tasks import labeling_config, sentence_text, tasks_for

__all__ = [
    "AGREEMENT_RULES",
    "ExpertAnnotations",
    "LabelStudioClient",
    "LabelStudioError",
    "annotations_so_far",
    "connect",
    "labeling_config",
    "load_export_file",
    "read_export",
    "sentence_text",
    "tasks_for",
]
