"""Catalog pieces for running a pipeline slice with SequentialRunner in tests."""

from kedro.io import MemoryDataset


class KeptMemoryDataset(MemoryDataset):
    """Keeps its data after the run (the runner releases in-memory intermediates it has consumed)."""

    def _release(self) -> None:
        pass


def parameter_datasets(prefix, value):
    """`params:x` and, as Kedro does, every nested `params:x.y`."""
    datasets = {prefix: MemoryDataset(value)}
    if isinstance(value, dict):
        for key, inner in value.items():
            datasets.update(parameter_datasets(f"{prefix}.{key}", inner))
    return datasets


def run_validated(pipeline, catalog):
    """SequentialRunner over ``pipeline``, its ``params:`` inputs first validated into the typed
    settings the nodes annotate -- what ``kedro run`` does before a run (``kedro.validation``)."""
    from kedro.runner import SequentialRunner
    from kedro.validation.model_factory import instantiate_model
    from kedro.validation.type_extractor import TypeExtractor
    from kedro.validation.utils import _unwrap_optional

    for key, kind in TypeExtractor({"slice": pipeline}).extract_types_from_pipelines().items():
        name, kind = f"params:{key}", _unwrap_optional(kind)
        value = catalog[name].load() if name in catalog else None
        if value is not None and not isinstance(value, kind):  # a catalog run twice holds the instance already
            catalog[name] = MemoryDataset(instantiate_model(key, value, kind))
    return SequentialRunner().run(pipeline, catalog)
