"""The embedded model's generation loop on llama.cpp's own API, so work shared between calls is done once.

``cyllama.LLM.chat`` clears the KV cache on every call and evaluates the whole prompt again, yet
on a CPU the prompt is most of the cost (a 440-token kNN prompt: ~6 s; its 15-token answer: ~0.5 s)
and much of it repeats: every sentence of a strategy starts with the same instructions, and the
self-consistency samples of one sentence share their whole prompt. :class:`LocalEngine` keeps:

* **the last prompt's KV state** in sequence 0: a call evaluates only what follows the longest
  common prefix (on token ids) with the tokens held there -- cut so that greedy replies stay
  bit-identical (REUSE_BLOCK, EVALUATED_TAIL) -- so any strategy benefits without declaring anything;
* **parallel samples**: sampled replies to one prompt decode together as sequences 1..n, which
  share the prompt's KV cells (a unified cache: ``memory_seq_cp`` tags cells, it copies nothing),
  one batch per step, each sequence with its own seeded sampler.

Everything else is ``LLM.chat``'s, step for step, so that a greedy reply is the one cyllama gives
(the response cache and every stored result stay valid): the model's chat template, tokenising with
special tokens, prompt batches of ``n_batch`` tokens, the sampler chain for a temperature, the
stop-sequence rule, and the token counts (the reply re-tokenised).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .constrained import grammar_from_reply_format
from .prompts import Messages

N_BATCH = 2048  # cyllama's default, which LLM.chat evaluates prompts with
# llama.cpp's CPU kernels give bit-identical results for a prompt evaluated in two parts only when
# the second part meets them as the whole prompt did: in the same row groups (the reused prefix ends
# on a multiple of REUSE_BLOCK) and as a batch large enough to take the same kernel paths (at least
# EVALUATED_TAIL tokens). Measured against LLM.chat's greedy replies: reusing the whole common
# prefix, 6 of 8 knn_few_shot replies were identical; in blocks of 8 (or 32), 30 of 30 knn_few_shot
# (~230 tokens evaluated) but 8 of 10 few_shot (~28 evaluated); leaving >= 32 tokens, 9 of 10;
# >= 64, 10 of 10. benchmarks/local_llm_throughput.py checks it on every run.
REUSE_BLOCK = 8
EVALUATED_TAIL = 64


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int
    reply_tokens: int
    reused_tokens: int  # prompt tokens whose KV state was already held: not evaluated again


def common_prefix_length(held: Sequence[int], tokens: Sequence[int]) -> int:
    n = 0
    for a, b in zip(held, tokens):
        if a != b:
            break
        n += 1
    return n


def reusable_prefix(
    held: Sequence[int], tokens: Sequence[int], block: int = REUSE_BLOCK, tail: int = EVALUATED_TAIL
) -> int:
    """How many of ``tokens`` to take from the held KV state: the common prefix, in whole blocks,
    leaving at least ``tail`` tokens to evaluate (so never the last one: its logits choose the
    first reply token)."""
    return max(0, min(common_prefix_length(held, tokens), len(tokens) - tail)) // block * block


def stop_at(text: str, new: int, stops: Sequence[str]) -> int | None:
    """Where ``text`` ends if a stop sequence completed within its last ``new`` characters (the
    earliest such sequence's start), else None -- LLM.chat's rule, checked once per token."""
    if not stops:
        return None
    window = max(0, len(text) - new - max(len(s) for s in stops) + 1)
    found = [at for at in (text.find(stop, window) for stop in stops) if at >= 0]
    return min(found) if found else None


class _Sequence:
    """One reply being written: its sampler, text so far and next position."""

    def __init__(self, sampler: Any, seq_id: int, position: int, generation: dict[str, Any]):
        self.sampler, self.seq_id, self.position = sampler, seq_id, position
        self.max_tokens = int(generation.get("max_tokens", 256))
        self.stops = list(generation.get("stop") or [])
        self.text, self.sampled, self.done = "", 0, self.max_tokens <= 0
        self.logits_at = -1  # where in the last decoded batch this sequence's next-token logits are

    def take(self, token: int, vocab: Any) -> bool:
        """Add a sampled token; False when the reply is complete and the token is not to be decoded."""
        self.sampled += 1
        if vocab.is_eog(token):
            self.done = True
            return False
        try:
            piece = vocab.token_to_piece(token, special=True)
        except UnicodeDecodeError:  # as LLM.chat: an undecodable piece adds nothing
            piece = ""
        self.text += piece
        cut = stop_at(self.text, len(piece), self.stops)
        if cut is not None:
            self.text, self.done = self.text[:cut], True
            return False
        self.done = self.sampled >= self.max_tokens
        return True


class LocalEngine:
    """One GGUF model and one llama.cpp context that keeps the last prompt (see the module docstring).

    Not thread-safe (llama.cpp contexts are not): the backend serialises calls.
    """

    def __init__(self, model_path: str | Path, n_ctx: int, n_threads: int | None = None, parallel: int = 4):
        from cyllama import LLM, GenerationConfig
        from cyllama.llama.llama_cpp import LlamaContext, LlamaContextParams

        # LLM loads the model and owns the chat template; its own context is never created
        self._llm = LLM(str(model_path), config=GenerationConfig(n_ctx=n_ctx, n_gpu_layers=0))
        self.vocab = self._llm.vocab
        self.parallel = parallel
        params = LlamaContextParams()
        params.n_ctx = n_ctx
        params.n_batch = N_BATCH
        params.n_seq_max = parallel + 1  # sequence 0 holds the prompt; 1..parallel are sampled replies
        params.kv_unified = True  # sequences share cells: branching off the prompt costs nothing
        if n_threads:
            params.n_threads = params.n_threads_batch = n_threads
        params.no_perf = True
        self.n_ctx = n_ctx
        self._ctx = LlamaContext(self._llm.model, params)
        self._held: list[int] = []  # the tokens whose KV state sequence 0 holds, position by position

    def prompt_tokens(self, messages: Messages) -> list[int]:
        prompt = self._llm._apply_template(list(messages))  # LLM.chat's template path (pinned cyllama)
        return list(self.vocab.tokenize(prompt, add_special=True, parse_special=True))

    def _sampler(self, generation: dict[str, Any]) -> Any:
        """LLM.chat's sampler chain for these settings (defaults of cyllama's GenerationConfig), behind
        the grammar of a ``response_format`` when there is one (it must come first: it masks the
        tokens the others choose from)."""
        from cyllama import GenerationConfig
        from cyllama.llama.llama_cpp import LlamaSampler, LlamaSamplerChainParams

        config = GenerationConfig(temperature=generation.get("temperature", 0.0), seed=generation.get("seed", 0))
        params = LlamaSamplerChainParams()
        params.no_perf = True
        sampler = LlamaSampler(params)
        if generation.get("response_format"):
            sampler.add_grammar(self.vocab, grammar_from_reply_format(generation["response_format"]), "root")
        if config.temperature == 0.0:
            sampler.add_greedy()
        else:
            sampler.add_min_p(config.min_p, 1)
            sampler.add_top_k(config.top_k)
            sampler.add_top_p(config.top_p, 1)
            sampler.add_temp(config.temperature)
            sampler.add_dist(config.seed)
        return sampler

    def _evaluate(self, tokens: list[int], exact: bool = True) -> int:
        """Bring sequence 0 to ``tokens``, evaluating only what follows the prefix it holds; the last
        token's logits are then ready. Returns the number of tokens reused. ``exact``: evaluate as
        much as bit-identical replies need (REUSE_BLOCK, EVALUATED_TAIL); else only the last token."""
        from cyllama.llama.llama_cpp import llama_batch_get_one

        if len(tokens) >= self.n_ctx:
            raise ValueError(f"the prompt has {len(tokens)} tokens, the context only {self.n_ctx} (n_ctx)")
        reused = reusable_prefix(self._held, tokens) if exact else reusable_prefix(self._held, tokens, 1, 1)
        self._ctx.memory_seq_rm(0, reused, -1)
        self._held = self._held[:reused]
        try:
            for start in range(reused, len(tokens), N_BATCH):
                self._ctx.decode(llama_batch_get_one(tokens[start : start + N_BATCH], start))
        except BaseException:  # a half-evaluated prompt is no prefix to reuse
            self._forget()
            raise
        self._held = list(tokens)
        return reused

    def _forget(self) -> None:
        self._ctx.memory_seq_rm(-1, -1, -1)
        self._held = []

    def _reply(self, text: str, prompt: list[int], reused: int) -> Reply:
        n_reply = len(self.vocab.tokenize(text, add_special=False, parse_special=False))  # as LLM.chat counts
        return Reply(text, len(prompt), n_reply, reused)

    def generate(self, messages: Messages, generation: dict[str, Any]) -> Reply:
        """One reply in sequence 0; its tokens stay held, as part of a prefix the next prompt may share."""
        from cyllama.llama.llama_cpp import llama_batch_get_one

        prompt = self.prompt_tokens(messages)
        reused = self._evaluate(prompt)
        reply = _Sequence(self._sampler(generation), 0, len(prompt), generation)
        try:
            while not reply.done:
                token = reply.sampler.sample(self._ctx, -1)
                if not reply.take(token, self.vocab):
                    break
                self._ctx.decode(llama_batch_get_one([token], reply.position))
                self._held.append(token)
                reply.position += 1
        except BaseException:
            self._forget()
            raise
        return self._reply(reply.text, prompt, reused)

    def generate_parallel(self, messages: Messages, generations: Sequence[dict[str, Any]]) -> list[Reply]:
        """Several sampled replies to one prompt, decoded side by side (at most ``parallel`` at a time)."""
        replies: list[Reply] = []
        for start in range(0, len(generations), self.parallel):
            replies += self._branch(messages, generations[start : start + self.parallel])
        return replies

    def _branch(self, messages: Messages, generations: Sequence[dict[str, Any]]) -> list[Reply]:
        from cyllama.llama.llama_cpp import LlamaBatch

        prompt = self.prompt_tokens(messages)
        if len(prompt) + sum(int(g.get("max_tokens", 256)) for g in generations) > self.n_ctx:
            return [self.generate(messages, g) for g in generations]  # too long to hold side by side
        # samples need no bit-identity with LLM.chat (they are draws): the held prompt serves whole
        reused = self._evaluate(prompt, exact=False)
        sequences = [_Sequence(self._sampler(g), i + 1, len(prompt), g) for i, g in enumerate(generations)]
        for sequence in sequences:
            self._ctx.memory_seq_cp(0, sequence.seq_id, 0, len(prompt))
        batch = LlamaBatch(n_tokens=len(sequences), embd=0, n_seq_max=1)
        try:
            while True:
                batch.clear()
                for sequence in sequences:
                    if sequence.done:
                        continue
                    token = sequence.sampler.sample(self._ctx, sequence.logits_at)  # first: the prompt's last logits
                    if sequence.take(token, self.vocab):
                        sequence.logits_at = batch.n_tokens
                        batch.add(token, sequence.position, [sequence.seq_id], True)
                        sequence.position += 1
                if batch.n_tokens == 0:
                    break
                self._ctx.decode(batch)
        finally:
            for sequence in sequences:
                self._ctx.memory_seq_rm(sequence.seq_id, -1, -1)
            # what stays held must be what a whole-prompt evaluation gives: not the last token, evaluated alone
            self._ctx.memory_seq_rm(0, len(prompt) - 1, -1)
            self._held = self._held[: len(prompt) - 1]
        # the prompt was evaluated (in part) once, for the first sample; the others evaluated none of it
        return [self._reply(s.text, prompt, reused if i == 0 else len(prompt)) for i, s in enumerate(sequences)]

    def close(self) -> None:
        self._ctx = None
        self._llm.close()
