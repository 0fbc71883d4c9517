"""LLM annotation core: backends, prompts, reply parsing and alignment, cache, costs, the runner.

Nothing here imports Kedro; the ``llm_annotation`` pipeline wires these pieces to the catalog.
"""
