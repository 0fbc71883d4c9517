"""llm-ner: LLM labels vs expert labels for a small NER model on CoNLL-2003."""

__version__ = "0.1.0"
