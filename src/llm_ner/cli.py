"""Project CLI: Kedro's own ``kedro run``, except that a misconfigured LLM service or Label Studio
server ends the run with one clear line (``Error: model 'gpt-4o-mini' at https://...: the API key
was rejected ...``) instead of a traceback through Kedro's runner. Every option of ``kedro run`` is
unchanged."""

from __future__ import annotations

import click
from kedro.framework.cli.project import run as kedro_run

from llm_ner.label_studio import LabelStudioError
from llm_ner.llm.backends import LLMServiceError


def _run(**options):
    try:
        return kedro_run.callback(**options)
    except (LLMServiceError, LabelStudioError) as error:
        raise click.ClickException(f"{type(error).__name__}: {error}") from None


cli = click.Group(name="llm-ner")
cli.add_command(click.Command("run", params=kedro_run.params, callback=_run, help=kedro_run.help))
