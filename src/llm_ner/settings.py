"""Kedro project settings: `base` + a run environment (default `local`) merged key by key, and the hooks."""

from kedro.config import OmegaConfigLoader

from llm_ner.hooks import CheckedParameters, ReportInputs
from llm_ner.tracking import NestedRuns

# CheckedParameters: every parameter group typed and checked before anything runs;
# ReportInputs: the reporting pipeline runs on whatever the other pipelines left ("not run" sections);
# NestedRuns: each trained model a nested MLflow run (kedro-mlflow's own hooks register themselves)
HOOKS = (CheckedParameters(), ReportInputs(), NestedRuns())


class ProjectConfigLoader(OmegaConfigLoader):
    """Kedro's OmegaConfigLoader, except that the soft merge of an environment's parameters into
    base's replaces the keys of :data:`REPLACED_WHOLE` whole: an environment's ``entity_types`` is
    its label set, not types to add to CoNLL's four."""

    REPLACED_WHOLE = ("entity_types",)

    def _soft_merge(self, config, env_config, env_path=None):
        merged = super()._soft_merge(
            config, {k: v for k, v in env_config.items() if k not in self.REPLACED_WHOLE}, env_path
        )
        return {**merged, **{k: env_config[k] for k in self.REPLACED_WHOLE if k in env_config}}


CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # one catalog/parameters file per pipeline keeps each pipeline's configuration in one place
    "config_patterns": {
        "catalog": ["catalog*", "catalog*/**", "**/catalog*"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
    },
    # an environment's parameters are merged key by key into base's: it states only what differs
    # (a list, like a value, replaces base's whole; so does entity_types: ProjectConfigLoader)
    "merge_strategy": {"parameters": "soft"},
}


def project_parameters(env: str = "base", conf_source: str = "conf", runtime_params: dict | None = None) -> dict:
    """The parameters `kedro run --env <env> [--params ...]` runs with (base, then the environment
    merged in, then the run's own params), for benchmarks, tests and notebooks that read them
    without a Kedro session."""
    return CONFIG_LOADER_CLASS(
        conf_source, **{**CONFIG_LOADER_ARGS, "default_run_env": env}, runtime_params=runtime_params
    )["parameters"]
