"""Kedro project settings: OmegaConfigLoader, `base` + a run environment (default `local`)."""

from kedro.config import OmegaConfigLoader

from llm_ner.hooks import ReportInputs

# the reporting pipeline runs on whatever the other pipelines left (missing inputs: "not run" sections)
HOOKS = (ReportInputs(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # one catalog/parameters file per pipeline keeps each pipeline's configuration in one place
    "config_patterns": {
        "catalog": ["catalog*", "catalog*/**", "**/catalog*"],
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
    },
}
