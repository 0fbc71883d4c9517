"""Project CLI: Kedro's own ``kedro run``, except that bad parameters, a misconfigured LLM service
or Label Studio server end the run with one clear line (``Error: model 'gpt-4o-mini' at https://...:
the API key was rejected ...``; ``Error: ParameterError: student.trainer.optimizer: Input should be
'adamw' or 'sgd', got 'adam'``) instead of a traceback through Kedro's runner. Every option of
``kedro run`` is unchanged."""

from __future__ import annotations

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.validation import ParameterValidationError

from llm_ner.label_studio import LabelStudioError
from llm_ner.llm.backends import LLMServiceError
from llm_ner.typed import ParameterError


def _run(**options):
    try:
        return kedro_run.callback(**options)
    except (LLMServiceError, LabelStudioError, ParameterError) as error:
        raise click.ClickException(f"{type(error).__name__}: {error}") from None
    except ParameterValidationError as error:  # Kedro's own check of a node's typed input, on one line
        raise click.ClickException(f"{type(error).__name__}: {' '.join(str(error).split())}") from None


cli = click.Group(name="llm-ner")
cli.add_command(click.Command("run", params=kedro_run.params, callback=_run, help=kedro_run.help))
