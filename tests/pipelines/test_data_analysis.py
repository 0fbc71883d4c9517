"""The data_analysis pipeline run in memory on a tiny corpus with Kedro's SequentialRunner."""

import matplotlib.pyplot as plt
import pytest
from kedro.io import DataCatalog, MemoryDataset
from pipeline_catalog import run_validated  # tests/ is on sys.path

from llm_ner.conll import parse_conll, sentences_to_table
from llm_ner.pipelines.data_analysis import create_pipeline
from llm_ner.tags import CONLL_2003

TRAIN = "Acme NNP B-NP B-ORG\nhires VBZ B-VP O\n\nMaria NNP B-NP B-PER\nLopez NNP I-NP I-PER\n\nBonn NNP B-NP B-LOC\n"
VALID = "Maria NNP B-NP B-PER\nLopez NNP I-NP I-PER\n\nAcme NNP B-NP B-MISC\n"
TEST = "Bonn NNP B-NP B-LOC\nsays VBZ B-VP O\n"


def run(max_sentences=None):
    catalog = DataCatalog(
        {
            **{
                f"{split}_raw": MemoryDataset(sentences_to_table(parse_conll(text.splitlines(True))))
                for split, text in {"train": TRAIN, "valid": VALID, "test": TEST}.items()
            },
            "params:corpus": MemoryDataset({"max_sentences_per_split": max_sentences}),
            "params:entity_types": MemoryDataset({name: {"description": name} for name in CONLL_2003.names}),
            "params:data_analysis.plots": MemoryDataset(
                {"top_n_tags": 5, "max_sentence_length": 10, "max_entity_length": 3}
            ),
        }
    )
    pipeline = create_pipeline()
    run_validated(pipeline, catalog)
    plt.close("all")
    return catalog


def test_pipeline_produces_every_table_and_plot():
    catalog = run()
    summary = catalog.load("corpus_summary").set_index("split")
    assert summary.loc["train", ["sentences", "tokens", "entities"]].tolist() == [3, 5, 3]
    unseen = catalog.load("unseen_entities").set_index(["split", "entity_type"])
    # valid: Maria Lopez/PER seen, Acme as MISC not (train had Acme as ORG)
    assert unseen.loc[("valid", "ALL"), "unseen_mentions"] == 1
    assert unseen.loc[("test", "ALL"), "unseen_mentions"] == 0
    assert set(catalog.load("tag_distribution_plots")) == {"pos_tags.png", "chunk_tags.png", "ner_tags.png"}
    assert set(catalog.load("length_plots")) == {"sentence_lengths.png", "entity_lengths.png"}


def test_max_sentences_keeps_the_first_sentences():
    summary = run(max_sentences=1).load("corpus_summary").set_index("split")
    assert summary.loc["train", ["sentences", "tokens", "entities"]].tolist() == [1, 2, 1]


def test_bad_max_sentences_names_the_parameter():
    # Kedro validates the typed input (llm_ner.parameters.CorpusParams) before the node runs
    with pytest.raises(Exception, match=r"(?s)parameter 'corpus'.*max_sentences_per_split.*greater than 0"):
        run(max_sentences=0)
