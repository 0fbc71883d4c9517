"""Custom Kedro datasets. Reference them in the catalog by full path, e.g.
``llm_ner.datasets.conll_corpus.ConllCorpusDataset``; the documents reader also as
``llm_ner.datasets.DocumentsDataset``."""

from .documents import DocumentsDataset

__all__ = ["DocumentsDataset"]
