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
