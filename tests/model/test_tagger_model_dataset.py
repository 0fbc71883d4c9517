import numpy as np
import pytest
from kedro.io import DataCatalog, DatasetError

from llm_ner.datasets.tagger_model import TaggerModelDataset
from llm_ner.model import Tagger, predict_proba

SENTENCES = [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]]


def test_versioned_saves_keep_every_version_and_load_the_newest(tiny_tagger_config, tmp_path):
    catalog = DataCatalog.from_config(
        {
            "model_gold": {
                "type": "llm_ner.datasets.tagger_model.TaggerModelDataset",
                "filepath": str(tmp_path / "model_gold"),
                "versioned": True,
            }
        }
    )
    assert not catalog.exists("model_gold")
    first, second = Tagger.build(tiny_tagger_config, seed=1), Tagger.build(tiny_tagger_config, seed=2)
    catalog.save("model_gold", first)
    catalog = DataCatalog.from_config(  # a new session: a new save version
        {
            "model_gold": {
                "type": "llm_ner.datasets.tagger_model.TaggerModelDataset",
                "filepath": str(tmp_path / "model_gold"),
                "versioned": True,
            }
        }
    )
    catalog.save("model_gold", second)
    versions = sorted((tmp_path / "model_gold").iterdir())
    assert len(versions) == 2
    assert all((v / "model_gold" / "model.safetensors").is_file() for v in versions)
    loaded = catalog.load("model_gold")
    for a, b in zip(predict_proba(loaded, SENTENCES), predict_proba(second, SENTENCES)):
        np.testing.assert_array_equal(a, b)


def test_unversioned_save_replaces_the_folder(tiny_tagger_config, tmp_path):
    dataset = TaggerModelDataset(filepath=str(tmp_path / "model"))
    dataset.save(Tagger.build(tiny_tagger_config, seed=1))
    (tmp_path / "model" / "stale.txt").write_text("from an older model")
    dataset.save(Tagger.build(tiny_tagger_config, seed=2))
    assert not (tmp_path / "model" / "stale.txt").exists()
    assert dataset.exists()


def test_only_taggers_are_saved_and_load_args_are_checked(tmp_path):
    with pytest.raises(DatasetError, match="saves a Tagger"):
        TaggerModelDataset(filepath=str(tmp_path / "m")).save({"not": "a tagger"})
    with pytest.raises(DatasetError, match=r"unknown \['dtype'\]"):
        TaggerModelDataset(filepath=str(tmp_path / "m"), load_args={"dtype": "fp16"})
