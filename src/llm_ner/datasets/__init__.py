"""Custom Kedro datasets. Reference them in the catalog by full path, e.g.
``llm_ner.datasets.conll_corpus.ConllCorpusDataset``."""
