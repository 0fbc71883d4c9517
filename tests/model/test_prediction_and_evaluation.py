import numpy as np
import pytest

from llm_ner.metrics import entity_scores, token_accuracy
from llm_ner.model import Tagger, TaggerConfig, evaluate, fit, predict_proba, predict_tags, tag_text, tokenize_text
from llm_ner.tags import CONLL_2003, bio_to_spans

LABELS = CONLL_2003.labels


@pytest.fixture(scope="module")
def trained(tiny_tagger_config, fast_training_config, small_training_set):
    tagger = Tagger.build(tiny_tagger_config, seed=1)
    fit(tagger, small_training_set, fast_training_config)
    return tagger


def test_tokenize_text_splits_like_conll_and_keeps_offsets():
    text = "Germany's U.S. envoy met Bosnia-Herzegovina's O'Neill, paying $1,000.50 (cash)."
    tokens = tokenize_text(text)
    assert [t for t, _, _ in tokens] == [
        "Germany",
        "'s",
        "U.S.",
        "envoy",
        "met",
        "Bosnia-Herzegovina",
        "'s",
        "O'Neill",
        ",",
        "paying",
        "$",
        "1,000.50",
        "(",
        "cash",
        ")",
        ".",
    ]
    assert all(text[start:end] == token for token, start, end in tokens)


def test_probabilities_are_distributions_over_the_labels(trained, small_training_set):
    sentences = [s[0] for s in small_training_set[:5]]
    probabilities = predict_proba(trained, sentences)
    assert [p.shape for p in probabilities] == [(len(s), len(LABELS)) for s in sentences]
    for p in probabilities:
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    tags = predict_tags(trained, sentences)
    assert tags == [[LABELS[k] for k in p.argmax(axis=1)] for p in probabilities]


def test_words_cut_off_by_the_subword_limit_are_tagged_o(tiny_tagger_config):
    config = TaggerConfig(**{**tiny_tagger_config.__dict__, "max_subwords": 6})
    tagger = Tagger.build(config, seed=1)
    [probabilities] = predict_proba(tagger, [["x"] * 10])
    assert probabilities.shape == (10, len(LABELS))
    assert (probabilities[4:, LABELS.index("O")] == 1.0).all()


def test_evaluate_matches_the_shared_metrics_on_the_predictions(trained, train_sentences):
    held_out = train_sentences.iloc[100:160]
    tokens, gold = [list(t) for t in held_out["tokens"]], [list(t) for t in held_out["ner_tags"]]
    result = evaluate(trained, tokens, gold)
    predicted = predict_tags(trained, tokens)
    assert result.predictions == predicted
    assert result.scores.equals(entity_scores(gold, predicted, types=CONLL_2003.names))  # a row per type of the tagger
    assert result.token_accuracy == token_accuracy(gold, predicted)
    assert 0 < result.loss < 10 and result.f1 == result.scores.loc["micro", "f1"]
    table = result.to_table("validation")
    assert list(table.columns) == [
        "split",
        "entity_type",
        "precision",
        "recall",
        "f1",
        "support",
        "token_accuracy",
        "loss",
    ]
    assert set(table["entity_type"]) == {"PER", "ORG", "LOC", "MISC", "micro", "macro"}


def test_tag_text_returns_valid_tags_and_entities_at_their_characters(trained, small_training_set):
    texts = [" ".join(tokens) for tokens, _ in small_training_set[:8]] + ["", "No entities here at all ."]
    results = tag_text(trained, texts)
    assert len(results) == len(texts)
    found = 0
    for text, tagged in zip(texts, results):
        assert len(tagged.words) == len(tagged.tags)
        assert [(e.label, e.start_word, e.end_word) for e in tagged.entities] == [
            (s.label, s.start, s.end) for s in bio_to_spans(tagged.tags)
        ]
        for entity in tagged.entities:
            assert text[entity.start_char : entity.end_char] == entity.text
            assert entity.text.split() == tagged.words[entity.start_word : entity.end_word]
        found += len(tagged.entities)
    assert found > 0  # the model memorised these sentences' entities
    assert tag_text(trained, "").words == []
