"""The study's parameter groups as typed settings: one frozen model per top-level key of
``conf/*/parameters*.yml`` (:data:`GROUPS`), so each group is read and checked once.

A node annotates its ``params:<group>`` input with the group's model and Kedro instantiates it
before the run starts (``kedro.validation``): a typo or a bad value ends ``kedro run`` in its first
seconds with the full parameter path and the allowed values. The models declare types and
constraints, not defaults: conf/base states every value, once, and an environment states only what
differs from base (``settings.py`` merges them). A key no model declares is an error
(``extra="forbid"``), so a dead key cannot sit in conf/ unnoticed (``tests/test_parameters.py``
validates every environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from functools import cached_property
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    RootModel,
    create_model,
    model_validator,
)

from .active.loop import LoopSettings, check_loop
from .active.strategies import STRATEGIES
from .costs import CostModel
from .documents import SegmenterSettings
from .grid import GridSettings
from .inference import RayTagging, TaggingSettings
from .label_quality import LabelQualityParams
from .label_studio import AGREEMENT_RULES
from .llm.settings import AnnotationSettings, Generation, model_settings
from .llm.topics import TopicPrompt, selected_prompt
from .mixed import EXPERT_SOURCES, MODES, REGIMENS, SELECTIONS, STARTS, check_rankable, ranks_by_label_quality
from .model.config import Schedule, TaggerConfig, TrainingConfig
from .own_text import EVALUATION_UNITS
from .students import StudentParams
from .tags import LabelSchema
from .typed import ParameterError, Settings, parse

Share = Annotated[float, Field(gt=0, le=1)]
ExpertSource = Literal[EXPERT_SOURCES]  # CoNLL gold revealed | people in Label Studio
AgreementRule = Literal[AGREEMENT_RULES]  # several annotators on one task


def _one_of(registry) -> AfterValidator:
    """A name that must be a key of ``registry`` (strategies, regimens: registries by name)."""

    def check(name: str) -> str:
        if name not in registry:
            raise ValueError(f"must be one of {sorted(registry)}, got {name!r}")
        return name

    return AfterValidator(check)


Selection = Annotated[str, _one_of(SELECTIONS)]  # who the expert labels (llm_ner.mixed.SELECTIONS)
Regimen = Annotated[str, _one_of(REGIMENS)]
ActiveStrategy = Annotated[str, _one_of(STRATEGIES)]  # llm_ner.active.strategies


class EntityTypes(RootModel[dict[str, dict[str, Any]]]):
    """``entity_types``: the run's label set, ``{NAME: {description, title?, aliases?, ...}}`` in
    tag-id order (:meth:`llm_ner.tags.LabelSchema.from_config` checks each entry)."""

    model_config = ConfigDict(frozen=True)  # a root model has no keys of its own to forbid

    @model_validator(mode="after")
    def _valid_schema(self) -> EntityTypes:
        self.schema  # noqa: B018 -- build it now: a bad entry fails validation, not a later node
        return self

    @cached_property
    def schema(self) -> LabelSchema:
        return LabelSchema.from_config(self.root)


class CorpusParams(Settings):
    max_sentences_per_split: PositiveInt | None  # the first N sentences of each split (null: all)


# --- data_analysis, training, reporting ----------------------------------------------------------


class PlotParams(Settings):
    top_n_tags: PositiveInt
    max_sentence_length: PositiveInt
    max_entity_length: PositiveInt


class DataAnalysisParams(Settings):
    plots: PlotParams


ModelSelection = Literal["gold_validation", "llm_validation", "fixed_epochs"]


class ModelSelectionParams(Settings):
    """How each of the two reference students chooses the epoch it ends with (see training's nodes)."""

    gold: ModelSelection
    llm: ModelSelection


class EvaluationParams(Settings):
    max_sentences: PositiveInt | None  # each reported sample (validation, test); null = the whole split
    selection_sentences: NonNegativeInt  # gold validation sentences kept apart for model selection
    seed: int


class LearningCurveParams(Settings):
    sizes: tuple[PositiveInt, ...]
    seeds: tuple[int, ...]


class ExamplesParams(Settings):
    sentences: NonNegativeInt
    seed: int


class TrainingParams(Settings):
    model_selection: ModelSelectionParams
    llm_validation_share: Annotated[float, Field(gt=0, lt=1)]
    evaluation: EvaluationParams
    learning_curve: LearningCurveParams
    examples: ExamplesParams


class ReportingParams(Settings):
    target_shares: tuple[Share, ...]


# --- mixed_annotation ----------------------------------------------------------------------------


class SweepParams(Settings):
    mode: Literal[MODES]
    strategies: tuple[Selection, ...]

    @model_validator(mode="after")
    def _rankable(self) -> SweepParams:
        check_rankable(self.mode, self.strategies)
        return self


class InitParams(Settings):
    """Where model_init (active learning's start) is trained: a sweep's mode and strategy, at a
    fixed budget or S0's saturation point."""

    mode: Literal[MODES]
    strategy: Selection
    budget: Literal["saturation"] | Share


class ExtraParams(Settings):
    """Regimens' extra LLM data: ``split`` -- a seeded ``share`` of the pool; ``import`` -- a
    CoNLL file of LLM labels (``path``) for other train sentences."""

    source: Literal["split", "import"]
    share: Annotated[float, Field(gt=0, lt=1)]
    path: str | None = None  # source import only

    @model_validator(mode="after")
    def _path(self) -> ExtraParams:
        if self.source == "import" and not self.path:
            raise ValueError("source 'import' needs path (a CoNLL file of LLM labels)")
        return self


class RegimenParams(Settings):
    names: tuple[Regimen, ...]
    extra: ExtraParams
    seeds: tuple[int, ...]
    lr_schedules: tuple[Schedule, ...]


class BlendingParams(Settings):
    seeds: tuple[int, ...]
    lr_schedules: tuple[Schedule, ...]
    # name -> {schedule: <llm_ner.blending name>, its options}; null leaves one of base's out
    schedules: dict[str, dict[str, Any] | None]

    @property
    def chosen(self) -> dict[str, dict[str, Any]]:
        """The schedules to run (an environment drops one of base's by setting it to null)."""
        return {name: spec for name, spec in self.schedules.items() if spec is not None}


class MixedAnnotationParams(Settings):
    seed: int
    expert_source: ExpertSource
    budgets: tuple[Share, ...]  # shares of the LLM pool the expert labels
    k: Annotated[int, Field(ge=2)]  # folds
    start: Literal[STARTS]
    sweeps: dict[str, SweepParams]
    label_quality_folds: Annotated[int, Field(ge=2)]
    llm_weight: NonNegativeFloat | Literal["confidence"]
    saturation_delta: NonNegativeFloat
    init: InitParams
    expert_set_size: NonNegativeInt
    regimens: RegimenParams
    blending: BlendingParams

    @property
    def routes_by_label_issues(self) -> bool:
        """Whether some sweep's selection ranks by out-of-fold label quality (so it must be computed)."""
        return any(ranks_by_label_quality(sweep.strategies) for sweep in self.sweeps.values())


class SelectionParams(Settings):
    strategy: Selection
    budget: Share


class LabelStudioParams(Settings):
    """``label_studio``: the expert step with people (docs/label_studio.md)."""

    project: str
    selection: SelectionParams
    import_path: str | None  # no server: a Label Studio JSON export to read back
    rule: AgreementRule
    seeds: tuple[int, ...]


# --- active_learning -----------------------------------------------------------------------------


class _LoopBlock(Settings):
    """Base of :data:`LoopParams`: the block is checked as a :class:`LoopSettings` checks itself."""

    @model_validator(mode="after")
    def _constraints(self) -> _LoopBlock:
        check_loop(self)
        return self


_LOOP_TYPES = get_type_hints(LoopSettings)
_PER_LOOP = ("strategy", "seed", "options")  # from active_learning.strategies, seeds and strategy_options

# ``active_learning.loop``: S0's ``active_learning_loop`` parameters -- the fields of the one loop-settings
# definition, llm_ner.active.loop.LoopSettings, less those set per loop, with its types, every one required
LoopParams = create_model(
    "LoopParams",
    __base__=_LoopBlock,
    __module__=__name__,
    **{item.name: (_LOOP_TYPES[item.name], ...) for item in fields(LoopSettings) if item.name not in _PER_LOOP},
)


class ActiveLabelStudioParams(Settings):
    strategy: ActiveStrategy  # the loop people serve
    seed: int
    project: str
    import_path: str | None
    rule: AgreementRule


class ActiveLearningParams(Settings):
    strategies: tuple[ActiveStrategy, ...]
    strategy_options: dict[ActiveStrategy, dict[str, Any]]  # e.g. llm_confidence_mix: {base, llm_weight}
    seeds: tuple[int, ...]
    expert_source: ExpertSource
    label_studio: ActiveLabelStudioParams
    target_share: Share  # labels needed to reach this share of the gold-only student's test F1
    loop: LoopParams


# --- multitask (seed S2) -------------------------------------------------------------------------


class AgreementParams(Settings):
    sentences: NonNegativeInt
    model: str  # an llm_models entry
    temperature: NonNegativeFloat
    seed: int


class DesignParams(Settings):
    alpha: NonNegativeFloat  # sequence-loss weight
    beta: NonNegativeFloat  # token-loss weight


class MultitaskParams(Settings):
    seed: int
    train_sentences: PositiveInt
    evaluation_sentences: PositiveInt | None
    seeds: tuple[int, ...]
    designs: dict[str, DesignParams]
    saved_design: str
    tagger: TaggerConfig
    trainer: TrainingConfig

    @model_validator(mode="after")
    def _saved_design(self) -> MultitaskParams:
        design = self.designs.get(self.saved_design)
        if design is None or design.alpha <= 0:
            raise ValueError(
                f"saved_design {self.saved_design!r} must name a design with alpha > 0: {sorted(self.designs)}"
            )
        return self


# --- the LLM groups (llm_ner.llm.settings joins them with the label schema: parse_llm_settings) ----


class LLMModels(RootModel[dict[str, dict[str, Any]]]):
    """``llm_models``: backends by name, each checked as :class:`llm_ner.llm.settings.ModelSettings`."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="after")
    def _each(self) -> LLMModels:
        for name, values in self.root.items():
            model_settings(name, values)
        return self


class PromptParams(Settings):
    """``llm_prompts``: the strategies' templates (each checked against the label schema when the
    run's settings are joined: :func:`llm_ner.llm.settings.parse_llm_settings`)."""

    type_lists: dict[str, dict[str, Any]] = {}
    strategies: dict[str, dict[str, Any]]
    verification: dict[str, Any] | None = None


class TopicParams(Settings):
    """``llm_topics`` (seed S2): which model labels topics, how, with which prompt, and the second
    reading that checks them (``agreement``)."""

    model: str
    generation: Generation
    prompt: str
    prompts: dict[str, dict[str, Any]]
    agreement: AgreementParams

    @model_validator(mode="after")
    def _prompt(self) -> TopicParams:
        self.chosen_prompt  # noqa: B018 -- checks that `prompt` names a valid one of `prompts`
        return self

    @property
    def chosen_prompt(self) -> TopicPrompt:
        return selected_prompt({"prompt": self.prompt, "prompts": self.prompts})


# --- inference and serving ------------------------------------------------------------------------


class InferenceParams(Settings):
    """``inference``: a folder of documents tagged by a trained student (the ``inference`` pipeline).
    ``documents`` and ``output`` are where the catalog's ``inference_documents`` and
    ``tagged_documents`` read and write (their defaults live in ``globals.yml``; ``--params
    inference.documents=...`` moves both the parameter and the dataset)."""

    model: str  # a saved tagger's folder (a versioned one: its newest version) or an MLflow model URI
    documents: str
    output: str
    tagging: TaggingSettings = TaggingSettings()
    executor: Literal["local", "ray"] = "local"
    ray: RayTagging = RayTagging()


class ServingParams(Settings):
    """``serving``: the student logged with its tagging code as an MLflow model, and the name it is
    registered under (``mlflow models serve -m models:/<registered_model_name>/<version>``)."""

    registered_model_name: str


# --- own_text: your documents, no gold --------------------------------------------------------------


class PeopleSetParams(Settings):
    """Sentences people label in one Label Studio project (0: none)."""

    size: NonNegativeInt
    project: str


class EvaluationSetParams(Settings):
    """The held-out sentences every F1 of the route is measured on: labelled in Label Studio
    (``project``), or imported from a spaCy/Prodigy span JSONL file (``import_path``)."""

    size: PositiveInt
    unit: Literal[EVALUATION_UNITS]  # sentences | documents (whole documents, none shared with training)
    project: str
    import_path: str | None


class ExpertBudgetParams(Settings):
    """The pool sentences people correct, pre-filled with the LLM's labels: ``size`` of them,
    chosen by ``strategy`` (``label_issues`` ranks by ``label_quality_folds`` out-of-fold students)."""

    strategy: Selection
    size: NonNegativeInt
    project: str
    label_quality_folds: Annotated[int, Field(ge=2)]


class OwnTextParams(Settings):
    """``own_text``: the labelling route on a folder of your own documents (docs/own_text.md)."""

    documents: str  # a folder (or file) of .txt / .jsonl documents
    segmenter: SegmenterSettings
    seed: int  # draws the evaluation set, the labeller set and the budget's random choices
    evaluation: EvaluationSetParams
    labeller_set: PeopleSetParams
    budget: ExpertBudgetParams
    rule: AgreementRule  # several annotators on one task
    seeds: tuple[int, ...]  # students per regimen; the first seed's regimen-D student is the model


# --- every group -------------------------------------------------------------------------------

GROUPS: dict[str, type] = {
    "corpus": CorpusParams,
    "entity_types": EntityTypes,
    "student": StudentParams,
    "grid": GridSettings,
    "data_analysis": DataAnalysisParams,
    "training": TrainingParams,
    "mixed_annotation": MixedAnnotationParams,
    "label_studio": LabelStudioParams,
    "active_learning": ActiveLearningParams,
    "multitask": MultitaskParams,
    "label_quality": LabelQualityParams,
    "reporting": ReportingParams,
    "inference": InferenceParams,
    "serving": ServingParams,
    "own_text": OwnTextParams,
    "cost_model": CostModel,
    "llm_annotation": AnnotationSettings,
    "llm_models": LLMModels,
    "llm_prompts": PromptParams,
    "llm_topics": TopicParams,
}


def check_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Every group of a run's parameters as its typed settings; a :class:`ParameterError` listing
    every bad value and every key no settings model reads (a typo, or a key left behind)."""
    errors, typed = [], {}
    for group, values in parameters.items():
        if group not in GROUPS:
            errors.append(f"{group}: unknown parameter group; the groups are {sorted(GROUPS)}")
            continue
        try:
            typed[group] = parse(GROUPS[group], values, group)
        except ValueError as error:
            errors.append(str(error))
    if errors:
        raise ParameterError("; ".join(errors))
    return typed
