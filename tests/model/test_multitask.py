"""The multitask tagger (seed S2): a sequence head beside the token head, L = alpha L_seq + beta L_tok."""

import dataclasses

import pytest
import torch

from llm_ner.model import Tagger, fit
from llm_ner.model.evaluation import evaluate_sequences
from llm_ner.model.examples import LabelledSentence
from llm_ner.model.prediction import predict_sequence_proba

TOPICS = ("World", "Sport", "Business", "Technology", "Other")


def with_topics(sentences):
    # a learnable rule: sentences that contain a digit are "Sport" (1), the others "World" (0)
    return [
        LabelledSentence(tokens, tags, topic=int(any(c.isdigit() for c in "".join(tokens))))
        for tokens, tags in sentences
    ]


def token_parts(tagger):
    return {name: tensor for name, tensor in tagger.state_dict().items() if not name.startswith("sequence_head.")}


def test_alpha_zero_trains_exactly_the_single_task_tagger(tiny_tagger_config, fast_training_config, small_training_set):
    single = Tagger.build(tiny_tagger_config, seed=3)
    fit(single, small_training_set, dataclasses.replace(fast_training_config, epochs=2))
    multitask = Tagger.build(dataclasses.replace(tiny_tagger_config, sequence_classes=TOPICS), seed=3)
    fit(
        multitask,
        with_topics(small_training_set),
        dataclasses.replace(fast_training_config, epochs=2, sequence_loss_weight=0.0, token_loss_weight=1.0),
    )
    expected, got = token_parts(single), token_parts(multitask)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name


def test_beta_zero_trains_the_sequence_head_and_leaves_the_token_head_alone(
    tiny_tagger_config, fast_training_config, small_training_set
):
    tagger = Tagger.build(dataclasses.replace(tiny_tagger_config, sequence_classes=TOPICS), seed=3)
    classifier = tagger.classifier.weight.detach().clone()
    data = with_topics(small_training_set)
    fit(tagger, data, dataclasses.replace(fast_training_config, sequence_loss_weight=1.0, token_loss_weight=0.0))
    assert torch.equal(tagger.classifier.weight, classifier)  # no token loss, no token gradient
    result = evaluate_sequences(tagger, [s.tokens for s in data], [s.topic for s in data])
    majority = max(sum(s.topic == k for s in data) for k in (0, 1)) / len(data)
    assert result.accuracy > majority  # it learned the digit rule beyond the majority class


def test_multitask_tagger_reloads_with_both_heads(
    tiny_tagger_config, fast_training_config, small_training_set, tmp_path
):
    tagger = Tagger.build(dataclasses.replace(tiny_tagger_config, sequence_classes=TOPICS), seed=3)
    data = with_topics(small_training_set)
    fit(
        tagger,
        data,
        dataclasses.replace(fast_training_config, epochs=2, sequence_loss_weight=1.0, token_loss_weight=7.0),
    )
    tagger.save(tmp_path / "model")
    reloaded = Tagger.load(tmp_path / "model")
    assert reloaded.config.sequence_classes == TOPICS
    words = [s.tokens for s in data[:6]]
    assert torch.allclose(
        torch.from_numpy(predict_sequence_proba(tagger, words)),
        torch.from_numpy(predict_sequence_proba(reloaded, words)),
        atol=1e-6,
    )


def test_sequence_loss_needs_a_head_and_valid_topics(tiny_tagger_config, fast_training_config, small_training_set):
    with pytest.raises(ValueError, match="cannot both be 0"):
        dataclasses.replace(fast_training_config, sequence_loss_weight=0.0, token_loss_weight=0.0)
    multitask = dataclasses.replace(fast_training_config, epochs=1, sequence_loss_weight=1.0)
    with pytest.raises(ValueError, match="needs a tagger with a sequence head"):
        fit(Tagger.build(tiny_tagger_config, seed=3), with_topics(small_training_set), multitask)
    tagger = Tagger.build(dataclasses.replace(tiny_tagger_config, sequence_classes=TOPICS), seed=3)
    bad = [s._replace(topic=7) for s in with_topics(small_training_set[:3])]
    with pytest.raises(ValueError, match=r"topics must be -1 \(none\) or 0\.\.4, got \[7\]"):
        fit(tagger, bad, multitask)
    with pytest.raises(ValueError, match="no training sentence has a topic"):
        fit(tagger, small_training_set, multitask)
