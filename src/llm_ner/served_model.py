"""The code MLflow logs as the served tagger (MLflow's "models from code"): the model is rebuilt
from this file and the logged artifacts, not unpickled (:mod:`llm_ner.serving`)."""

import mlflow

from llm_ner.serving import TaggerModel

mlflow.models.set_model(TaggerModel())
