"""Thin Kedro nodes for the `training` pipeline; the work is done in :mod:`llm_ner.model`."""

from __future__ import annotations

import logging

import pandas as pd

from llm_ner.accounting import charge_to, charged_gold, gold_usage, usage_table
from llm_ner.model import Tagger, evaluate_on, labelled_sentences, predict_tags
from llm_ner.model.evaluation import REPORTED_SPLITS, evaluation_sample, evaluation_samples_table, reported_sets
from llm_ner.model.learning_curve import learning_curve, summarise_learning_curve
from llm_ner.model.rendering import entities_page
from llm_ner.parameters import EntityTypes, EvaluationParams, TrainingParams
from llm_ner.sampling import seeded_sample, seeded_shuffle, share_count
from llm_ner.students import Student, StudentParams, StudentSetup, train_student

logger = logging.getLogger(__name__)

STUDENTS = ("gold", "llm")  # model_gold trains on the pool's gold tags, model_llm on its LLM tags
STUDENT_LABEL_COLUMNS = {"gold": "gold_tags", "llm": "llm_tags"}
COMPARED_METRICS = ("precision", "recall", "f1")
CHARGED_COUNTS = ("charged_sentences", "charged_tokens", "charged_entities")  # columns of student_gold_labels
# How a student chooses the epoch it ends with (training.model_selection, llm_ner.parameters):
#   gold_validation  early stopping on a gold validation sample kept apart from the reported one
#   llm_validation   early stopping on held-out LLM-labelled pool sentences, scored on their LLM tags
#   fixed_epochs     no validation: trainer.epochs epochs, last weights
SELECTION_SET_DESCRIPTIONS = {
    "gold_validation": "validation split sample (gold tags; disjoint from the reported validation sample)",
    "llm_validation": "llm_labels sentences held out of training (LLM tags: no gold)",
    "fixed_epochs": "none (fixed epochs)",
}
SAMPLE_COLUMNS = ["sentence_id", "tokens", "ner_tags"]


def student_training_sets(
    llm_labels: pd.DataFrame,
    training: TrainingParams,
    entity_types: EntityTypes,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The same sentences twice -- gold tags and LLM tags, both as ``ner_tags`` -- and the
    ``llm_validation`` sample: when a student selects its epoch on LLM labels, a seeded
    ``llm_validation_share`` of ``llm_labels`` is held out with its LLM tags, and *both* students
    train on the rest, so that they are still compared on identical training sentences."""
    missing = {"sentence_id", "tokens", *STUDENT_LABEL_COLUMNS.values()} - set(llm_labels.columns)
    if missing:
        raise ValueError(f"llm_labels lacks column(s) {sorted(missing)}")
    schema = entity_types.schema
    for column in STUDENT_LABEL_COLUMNS.values():
        for row in llm_labels.itertuples(index=False):
            tags = getattr(row, column)
            if len(tags) != len(row.tokens) or schema.unknown_tags(tags):
                raise ValueError(
                    f"llm_labels sentence {row.sentence_id}: `{column}` must hold one tag per token of "
                    f"{', '.join(schema.labels)} (entity_types), got {list(tags)}"
                )
    held_out = 0
    if "llm_validation" in (training.model_selection.gold, training.model_selection.llm):
        held_out = share_count(training.llm_validation_share, len(llm_labels), "training.llm_validation_share")
    shuffled = seeded_shuffle(llm_labels.reset_index(drop=True), training.evaluation.seed)
    held_out_rows, training = shuffled.iloc[:held_out].sort_index(), shuffled.iloc[held_out:].sort_index()

    def tagged(table: pd.DataFrame, student: str) -> pd.DataFrame:
        columns = ["sentence_id", "tokens", STUDENT_LABEL_COLUMNS[student]]
        return table[columns].set_axis(SAMPLE_COLUMNS, axis=1).reset_index(drop=True)

    logger.info(
        "training both students on the same %d sentences (%d held out for llm_validation)", len(training), held_out
    )
    return tagged(training, "gold"), tagged(training, "llm"), tagged(held_out_rows, "llm")


def sentences_not_in(sentences: pd.DataFrame, used: pd.DataFrame) -> pd.DataFrame:
    """``sentences`` without those in ``used`` -- e.g. validation sentences without the LLM quality
    sample, whose gold labels may have chosen the labeller (model selection, never a test)."""
    return sentences[~sentences["sentence_id"].isin(used["sentence_id"])].reset_index(drop=True)


def evaluation_samples(
    valid_sentences: pd.DataFrame, test_sentences: pd.DataFrame, training: TrainingParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reported samples (one table, column ``split``: every stage scores on them) and the
    disjoint ``gold_validation`` sample a student may choose its epoch on (``training.evaluation``).
    Test is a seeded subsample too (``max_sentences: null`` keeps all), to bound CPU time."""
    evaluation = training.evaluation
    validation, selection = validation_samples(valid_sentences, evaluation)
    test = validation_samples(test_sentences, evaluation.model_copy(update={"selection_sentences": 0}))[0]
    return evaluation_samples_table(validation, test), selection


def validation_samples(sentences: pd.DataFrame, evaluation: EvaluationParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two disjoint seeded samples of the validation split: the one reported as "validation"
    (``max_sentences``; null = every sentence not drawn for selection) and the ``gold_validation``
    sample (``selection_sentences``) a student may choose its epoch on. A score reported as
    validation is then never measured on the sentences that chose the model."""
    limit, selection = evaluation.max_sentences, evaluation.selection_sentences
    if selection > 0 and selection >= len(sentences):
        raise ValueError(
            f"evaluation.selection_sentences must be >= 0 and leave sentences to report on; "
            f"got {selection!r} of {len(sentences)}"
        )
    # Reported sentences are drawn first, so they do not depend on selection_sentences (and match
    # earlier runs); selection takes the sentences right after them in the same seeded order.
    reported = len(sentences) - selection if limit is None else min(limit, len(sentences) - selection)
    shuffled = seeded_shuffle(sentences, evaluation.seed)
    return (
        shuffled.iloc[:reported].sort_values("sentence_id"),
        shuffled.iloc[reported : reported + selection].sort_values("sentence_id"),
    )


def model_selection_sets(
    training: TrainingParams, gold_validation_sample: pd.DataFrame, llm_validation_sample: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per student (gold, llm), the sentences it chooses its epoch on; none for ``fixed_epochs``."""
    model_selection = training.model_selection
    samples = {
        "gold_validation": gold_validation_sample,
        "llm_validation": llm_validation_sample,
        "fixed_epochs": pd.DataFrame(columns=SAMPLE_COLUMNS),
    }
    for student in STUDENTS:
        method = getattr(model_selection, student)
        if method != "fixed_epochs" and samples[method].empty:
            setting = {
                "gold_validation": "training.evaluation.selection_sentences",
                "llm_validation": "training.llm_validation_share",
            }[method]
            raise ValueError(f"training.model_selection.{student} is {method} but its sample is empty: set {setting}")
    return tuple(samples[getattr(model_selection, student)][SAMPLE_COLUMNS] for student in STUDENTS)


def train_model(
    training_set: pd.DataFrame, selection_set: pd.DataFrame, setup: StudentSetup
) -> tuple[Tagger, pd.DataFrame]:
    """A new tagger under the protocol trained on ``ner_tags`` (seeded ``trainer.seed``); early
    stopping on ``selection_set`` (none when empty: ``trainer.epochs`` epochs, last weights). Returns
    it and its history; stored in the grid's store, so a rerun reads it back."""
    student = Student(setup.protocol, (labelled_sentences(training_set),), setup.protocol.trainer.seed)
    model, history = train_student(student, setup.grid, "training", labelled_sentences(selection_set))
    # fit calls its early-stopping data "validation"; here it is the selection set, and only the
    # disjoint evaluation sample is reported as validation
    return model, history.rename(columns=lambda name: name.replace("validation_", "selection_"))


def evaluate_student(
    model: Tagger,
    evaluation_samples: pd.DataFrame,
    student: StudentParams,
    entity_types: EntityTypes,
) -> pd.DataFrame:
    """Entity P/R/F1 per type, micro/macro, token accuracy and loss, for the validation and test sets."""
    entity_types.schema.check_model(model.labels, "the student model")
    return evaluate_on(model, reported_sets(evaluation_samples), student.trainer)


def students_own_gold_usage(
    gold_training_set: pd.DataFrame,
    selection_set_gold: pd.DataFrame,
    selection_set_llm: pd.DataFrame,
    training: TrainingParams,
) -> pd.DataFrame:
    """Gold each student consumed itself: a training row and a model_selection row per student,
    0 sentences where the tags were the LLM's (model_llm's training, llm_validation) or absent."""
    model_selection = training.model_selection
    rows = [
        gold_usage("model_gold", "training", "llm_labels sentences (gold tags)", gold_training_set),
        gold_usage("model_llm", "training", "llm_labels sentences (LLM tags: no gold)", None),
    ]
    for student, selection_set in zip(STUDENTS, (selection_set_gold, selection_set_llm)):
        method = getattr(model_selection, student)
        gold = selection_set if method == "gold_validation" else None
        what = f"{method}: {SELECTION_SET_DESCRIPTIONS[method]}"
        rows.append(gold_usage(f"model_{student}", "model_selection", what, gold))
    return usage_table(rows)


def gold_label_usage(
    students_own_usage: pd.DataFrame,
    evaluation_samples: pd.DataFrame,
    llm_gold_usage: pd.DataFrame,
) -> pd.DataFrame:
    """Every gold label the training results consumed, one row per consumer x purpose x set: the
    students' own use, the evaluation samples (counted, never charged), and the LLM labeller's
    demonstrations and prompt/model selection, charged to model_llm, which learnt from its labels."""
    evaluation = usage_table(
        gold_usage(f"model_{student}", "evaluation", f"{split} sample", evaluation_sample(evaluation_samples, split))
        for student in STUDENTS
        for split in REPORTED_SPLITS
    )
    labeller = charge_to(llm_gold_usage, "model_llm")
    return pd.concat([students_own_usage, labeller, evaluation], ignore_index=True)


def student_gold_labels(gold_label_usage: pd.DataFrame) -> pd.DataFrame:
    """Gold charged to each student (training, demonstrations, model selection), evaluation apart."""
    return charged_gold(gold_label_usage, consumers=[f"model_{student}" for student in STUDENTS])


def compare_students(
    gold_metrics: pd.DataFrame, llm_metrics: pd.DataFrame, student_gold_labels: pd.DataFrame
) -> pd.DataFrame:
    """Side by side per split, entity type and metric (P/R/F1 per type; token accuracy and loss as
    type ``all``); ``difference`` = LLM - gold, ``retained`` = LLM / gold. Each student's charged
    gold is compared in rows of split ``gold_labels`` (metrics ``charged_sentences``, ``_tokens``,
    ``_entities``), so that every score is read beside the expert labels it cost."""

    def long(metrics: pd.DataFrame, student: str) -> pd.DataFrame:
        entity = metrics.melt(["split", "entity_type"], list(COMPARED_METRICS), var_name="metric", value_name=student)
        overall = (
            metrics.groupby("split", sort=False)[["token_accuracy", "loss"]]
            .first()
            .reset_index()
            .melt("split", var_name="metric", value_name=student)
            .assign(entity_type="all")
        )
        return pd.concat([entity, overall], ignore_index=True)

    charged = (
        student_gold_labels.set_index("consumer")[list(CHARGED_COUNTS)]
        .rename(index={f"model_{student}": student for student in STUDENTS})
        .T.astype(float)
        .rename_axis(index="metric", columns=None)
        .reset_index()
        .assign(split="gold_labels", entity_type="all")
    )
    table = long(gold_metrics, "gold").merge(long(llm_metrics, "llm"), on=["split", "entity_type", "metric"])
    table = pd.concat([table, charged], ignore_index=True)
    table["difference"] = table["llm"] - table["gold"]
    # share of the gold student's score the LLM student keeps; meaningless for a loss or a cost
    scores = ~table["metric"].isin(["loss", *CHARGED_COUNTS])
    table["retained"] = (table["llm"] / table["gold"]).where((table["gold"] != 0) & scores)
    return table[["split", "entity_type", "metric", "gold", "llm", "difference", "retained"]]


def learning_curve_runs(train_sentences: pd.DataFrame, training: TrainingParams, setup: StudentSetup) -> pd.DataFrame:
    """All-expert students on ``training.learning_curve.sizes`` gold sentences, each with every seed
    in its ``seeds``, under the study's one protocol (fixed epochs: no selection gold)."""
    curve = training.learning_curve
    return learning_curve(
        pool=labelled_sentences(train_sentences),
        evaluation_sets=setup.evaluation_sets,
        sizes=list(curve.sizes),
        seeds=list(curve.seeds),
        protocol=setup.protocol,
        grid=setup.grid,
    )


def learning_curve_summary(runs: pd.DataFrame) -> pd.DataFrame:
    return summarise_learning_curve(runs)


def entity_examples_html(model: Tagger, test: pd.DataFrame, training: TrainingParams) -> str:
    """The model's entities next to the gold ones for a seeded sample of test sentences."""
    examples = training.examples
    sample = seeded_sample(test, examples.sentences, examples.seed)
    words = [list(t) for t in sample["tokens"]]
    predicted = predict_tags(model, words)
    blocks = []
    for sentence_id, tokens, gold, tags in zip(sample["sentence_id"], words, sample["ner_tags"], predicted):
        blocks.append((f"test sentence {sentence_id}: model_gold", tokens, tags))
        blocks.append((f"test sentence {sentence_id}: gold", tokens, list(gold)))
    return entities_page("Entities found by model_gold on test sentences", blocks)
