"""NER tagger: encoder (+ BiLSTM) + linear head, its training loop, evaluation and inference.

Typical use from code::

    from llm_ner.model import Tagger, TaggerConfig, TrainingConfig, fit, evaluate, tag_text

    tagger = Tagger.build(TaggerConfig())            # or Tagger.load(folder) to continue training
    result = fit(tagger, [(tokens, tags), ...], TrainingConfig(epochs=3), validation=[...])
    tag_text(tagger, "EU rejects German call to boycott British lamb.")
"""

from .config import TaggerConfig, TrainingConfig
from .evaluation import Evaluation, evaluate, evaluate_on
from .examples import LabelledSentence, labelled_sentences
from .prediction import Entity, TaggedText, predict_proba, predict_tags, run_inference, tag_text, tokenize_text
from .tagger import Tagger
from .training import TrainingResult, fit

__all__ = [
    "Entity",
    "Evaluation",
    "LabelledSentence",
    "TaggedText",
    "Tagger",
    "TaggerConfig",
    "TrainingConfig",
    "TrainingResult",
    "evaluate",
    "evaluate_on",
    "fit",
    "labelled_sentences",
    "predict_proba",
    "predict_tags",
    "run_inference",
    "tag_text",
    "tokenize_text",
]
