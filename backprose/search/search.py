"""Meta Agent Search (Hu, Lu and Clune, 2024): a meta agent programs new agent designs, one per generation.

Each generation: pick an operator and parents from the archive, show the meta agent a bounded slice of it,
take its proposal through self-reflection rounds, evaluate it isolated on the validation set (debugging it
on failure), score it with a bootstrap interval and append it to the archive. The archive file is the whole
state: a killed search resumes where it stopped, and with the response cache it repeats no model call.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backprose.errors import LLMFormatError
from backprose.isolation import Limits, Sandbox
from backprose.llm import track_usage
from backprose.search import seeds as seed_designs
from backprose.search.archive import Archive
from backprose.search.design import Design
from backprose.search.evaluate import Evaluation, Evaluator, client_config
from backprose.search.fitness import Fitness, bootstrap
from backprose.search.meta import MetaAgent
from backprose.search.selection import OPERATORS, choose_operator, context_slice, select_parents
from backprose.search.task import SearchTask


@dataclass
class SearchResult:
    """The design best on validation, and its held-out test fitness: the number to report."""

    best: Design
    validation: Fitness
    test: Fitness | None
    archive: Archive
    usage: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        test = f", test {self.test}" if self.test else ""
        return (f"best design {self.best.name} (#{self.best.id}): validation {self.validation}{test}; "
                f"{self.usage.get('meta_calls', 0)} meta calls, {self.usage.get('agent_calls', 0)} agent calls")


class MetaAgentSearch:
    """Search over agent designs for `task`.

    `archive` is a JSONL path (resumed if it exists), an `Archive`, or None (in memory). `meta_llm` is any
    client; `agent_llm` is what designs call, rebuilt inside the workers: an OpenAI/Local client or a config
    dict (see `backprose.search.worker.client_from_config`). `limits` bound each isolated evaluation call.
    """

    def __init__(self, task: SearchTask, archive: Archive | str | os.PathLike[str] | None, meta_llm: Any,
                 agent_llm: Any, *, seeds: Sequence[Design] | None = None, sandbox: Sandbox | None = None,
                 limits: Limits | None = None, workers: int = 2, debug_rounds: int = 3, reflections: int = 2,
                 operators: Mapping[str, float] = OPERATORS, temperature: float = 0.1, exploration: float = 0.2,
                 shown: int = 3, listed: int = 10, seed: int = 0, resamples: int = 1000,
                 meta_options: Mapping[str, Any] | None = None, max_calls: int = 8,
                 on_design: Callable[[Design], None] | None = None) -> None:
        self.task = task
        self.archive = archive if isinstance(archive, Archive) else Archive(archive)
        self.meta = MetaAgent(meta_llm, max_calls=max_calls, **dict(meta_options or {}))
        self.evaluator = Evaluator(client_config(agent_llm), sandbox=sandbox, limits=limits, workers=workers)
        self.seeds = list(seeds) if seeds is not None else seed_designs.load()
        self.debug_rounds, self.reflections = debug_rounds, reflections
        self.operators = dict(operators)
        self.temperature, self.exploration = temperature, exploration
        self.shown, self.listed = shown, listed
        self.seed, self.resamples = seed, resamples
        self.on_design = on_design

    # --- the loop ---------------------------------------------------------------------------------------
    def run(self, generations: int) -> SearchResult:
        """Evaluate missing seeds, run generations up to `generations` in total, and report the best."""
        self.evaluate_seeds()
        for g in range(self.archive.generations() + 1, generations + 1):
            self.step(g)
        return self.result()

    def evaluate_seeds(self) -> None:
        """Add every seed design the archive does not hold yet (so a resumed search skips them)."""
        for design in self.seeds:
            if any(d.operator == "seed" and d.name == design.name for d in self.archive):
                continue
            seed = Design(design.name, design.thought, design.code)
            self._score(seed, stage="seed")
            self._add(seed)

    def step(self, generation: int | None = None) -> Design:
        """One generation: propose, reflect, evaluate (with debug rounds), archive. Never raises for the
        design's faults or an unusable meta reply; those end up in the archived design's `error`. A model
        that cannot be reached raises (LLMError, AgentLLMFailed) and archives nothing, so a rerun resumes."""
        self.evaluate_seeds()
        generation = generation if generation is not None else self.archive.generations() + 1
        rng = random.Random(f"{self.seed}:{generation}")  # per generation, so a resumed run draws the same
        pool = self.archive.evaluated()
        operator = choose_operator(rng, self.operators, len(pool))
        count = {"mutate": 1, "crossover": 2}.get(operator, 0)
        parents = select_parents(pool, count, rng, temperature=self.temperature, exploration=self.exploration)
        shown, listed = context_slice(self.archive.designs, parents, shown=self.shown, listed=self.listed)
        with track_usage() as usage:
            design = self._generate(generation, operator, parents, shown, listed)
        design.usage["meta_calls"] = usage.calls
        design.usage["meta_cache_hits"] = usage.cache_hits
        return self._add(design)

    def _generate(self, generation: int, operator: str, parents: list[Design], shown: list[Design],
                  listed: list[Design]) -> Design:
        meta = {"generation": generation, "operator": operator, "parents": [p.id for p in parents]}
        try:
            proposal = self.meta.propose(self.task, operator, parents, shown, listed)
        except LLMFormatError as exc:
            return Design("unusable_reply", "", "", error=f"the meta agent's reply was unusable: {exc}",
                          attempts=[{"stage": "proposal", "error": str(exc)}], **meta)
        others = [d.name for d in shown]
        for r in range(1, self.reflections + 1):
            proposal = self.meta.reflect(self.task, proposal, r, self.reflections, others)
        design = Design(proposal["name"], proposal["thought"], proposal["code"], **meta)
        error = self._score(design, stage="proposal")
        for r in range(1, self.debug_rounds + 1):
            if error is None:
                break
            try:
                proposal = self.meta.debug(self.task, proposal, error, r, self.debug_rounds)
            except LLMFormatError as exc:
                design.attempts.append({"stage": f"debug {r}", "error": f"unusable meta reply: {exc}"})
                continue
            design.name, design.thought, design.code = proposal["name"], proposal["thought"], proposal["code"]
            error = self._score(design, stage=f"debug {r}")
        return design

    def _score(self, design: Design, *, stage: str) -> str | None:
        """Evaluate on validation; set fitness or error on `design`; return the error text, if any."""
        ev = self.evaluator.evaluate(design.code, self.task.inputs("validation"), name=design.name)
        for key, value in ev.usage.items():
            design.usage[f"agent_{key}"] = design.usage.get(f"agent_{key}", 0) + value
        design.attempts.append({"stage": stage, "error": ev.error})
        if ev.ok:
            design.scores = self.task.scores(ev.answers, "validation")
            design.fitness = bootstrap(design.scores, resamples=self.resamples, seed=self.seed)
            design.error = None
        else:
            design.fitness, design.scores, design.error = None, [], ev.error
        return ev.error

    def _add(self, design: Design) -> Design:
        self.archive.add(design)
        if self.on_design is not None:
            self.on_design(design)
        return design

    # --- reporting ----------------------------------------------------------------------------------------
    def score(self, design: Design, split: str = "test",
              prompts: Mapping[str, str] | None = None) -> tuple[Fitness, Evaluation]:
        """Fitness of `design` on a split (a failed run scores 0 on the examples it did not answer)."""
        examples = self.task.inputs(split)
        ev = self.evaluator.evaluate(design.code, examples, name=design.name, prompts=prompts)
        answers = list(ev.answers) + [None] * (len(examples) - len(ev.answers))
        scores = self.task.scores(answers, split)
        return bootstrap(scores, resamples=self.resamples, seed=self.seed), ev

    def result(self) -> SearchResult:
        """Select the best design on validation and report its test fitness (never the best test score)."""
        best = self.archive.best()
        if best is None:
            raise RuntimeError("no design in the archive ran successfully; check the agents' client and limits")
        # Replies replayed from the cache are counted apart: they are the same workload, at no cost.
        usage = {"meta_calls": 0, "agent_calls": 0, "meta_cache_hits": 0, "agent_cache_hits": 0}
        for d in self.archive:
            for key in usage:
                usage[key] += d.usage.get(key, 0)
        test = None
        if self.task.test:
            test, ev = self.score(best, "test")
            usage["agent_calls"] += ev.usage.get("calls", 0)
            usage["agent_cache_hits"] += ev.usage.get("cache_hits", 0)
            self.archive.note("final", design=best.id, name=best.name, validation=best.fitness.as_dict(),  # type: ignore[union-attr]
                              test=test.as_dict(), test_calls=ev.usage.get("calls", 0))
        return SearchResult(best, best.fitness, test, self.archive, usage)  # type: ignore[arg-type]

    def close(self) -> None:
        self.evaluator.close()

    def __enter__(self) -> MetaAgentSearch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
