"""Training: the `Trainer` loop, guides and metrics, budgets, checkpoints and search strategies.

The package is callable: `bp.train(module, train, val, guide, optimizer)` runs `train(...)`, while
`bp.train.Trainer` and `import backprose.train as t` keep working (a function of the same name would
shadow the package).
"""

import sys
import types

from backprose.train.budget import Budget
from backprose.train.guides import Judgement, as_guide, exact_match, llm_judge, metric, numeric, regex, unit_tests
from backprose.train.rollout import Rollout, evaluate, rollouts
from backprose.train.scripted import ScriptedOptimizer
from backprose.train.strategies import UCB, Beam, BestOfN, Pareto, Strategy
from backprose.train.trainer import Trainer, TrainResult, train

__all__ = ["UCB", "Beam", "BestOfN", "Budget", "Judgement", "Pareto", "Rollout", "ScriptedOptimizer", "Strategy",
           "TrainResult", "Trainer", "as_guide", "evaluate", "exact_match", "llm_judge", "metric", "numeric",
           "regex", "rollouts", "train", "unit_tests"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
