"""Training: the `Trainer` loop, guides and metrics, budgets, checkpoints and search strategies."""

from backprose.train.budget import Budget
from backprose.train.guides import Judgement, as_guide, exact_match, llm_judge, metric, numeric, regex, unit_tests
from backprose.train.rollout import Rollout, evaluate, rollouts
from backprose.train.scripted import ScriptedOptimizer
from backprose.train.strategies import UCB, Beam, BestOfN, Pareto, Strategy
from backprose.train.trainer import Trainer, TrainResult, train

__all__ = ["UCB", "Beam", "BestOfN", "Budget", "Judgement", "Pareto", "Rollout", "ScriptedOptimizer", "Strategy",
           "TrainResult", "Trainer", "as_guide", "evaluate", "exact_match", "llm_judge", "metric", "numeric",
           "regex", "rollouts", "train", "unit_tests"]
