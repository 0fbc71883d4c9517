import numpy as np
import pytest

from llm_ner.model import Tagger, TaggerConfig, predict_proba
from llm_ner.model.characters import MAX_WORD_BYTES, byte_ids

SHORT = ["Peter", "Blackburn"]
LONG = "The European Commission said on Thursday it disagreed with Zürich's Donaudampfschifffahrtsgesellschaft".split()


def test_words_are_read_as_capped_utf8_bytes():
    assert byte_ids("Zü") == [ord("Z") + 1, 0xC3 + 1, 0xBC + 1]
    assert len(byte_ids("x" * 100)) == MAX_WORD_BYTES


@pytest.fixture(scope="module")
def char_tagger(tiny_tagger_config):
    config = TaggerConfig(**{**tiny_tagger_config.__dict__, "word_features": "none", "char_cnn_filters": 8})
    return Tagger.build(config, seed=6).eval()


def test_the_character_cnn_sees_case_and_ignores_padding(char_tagger):
    alone = predict_proba(char_tagger, [SHORT])[0]
    batched = predict_proba(char_tagger, [LONG, SHORT, LONG], batch_size=3)[1]
    np.testing.assert_allclose(alone, batched, atol=1e-5)
    assert not np.allclose(alone, predict_proba(char_tagger, [[w.upper() for w in SHORT]])[0])


def test_the_character_cnn_survives_save_and_load(char_tagger, tmp_path):
    char_tagger.save(tmp_path / "tagger")
    reloaded = Tagger.load(tmp_path / "tagger")
    assert reloaded.config.char_cnn_filters == 8
    for a, b in zip(predict_proba(char_tagger, [SHORT, LONG]), predict_proba(reloaded, [SHORT, LONG])):
        np.testing.assert_array_equal(a, b)
