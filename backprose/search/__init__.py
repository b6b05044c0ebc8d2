"""Meta Agent Search: a meta agent programs agent designs, evaluated in isolation, kept in an archive."""

from backprose.search.archive import Archive
from backprose.search.design import Design, prompts_of
from backprose.search.evaluate import Evaluation, Evaluator, client_config
from backprose.search.export import export_design
from backprose.search.fitness import Fitness, bootstrap
from backprose.search.meta import MetaAgent
from backprose.search.module import DesignModule
from backprose.search.search import MetaAgentSearch, SearchResult
from backprose.search.selection import OPERATORS, context_slice, select_parents
from backprose.search.task import SearchTask, arithmetic, exact, numeric

__all__ = ["OPERATORS", "Archive", "Design", "DesignModule", "Evaluation", "Evaluator", "Fitness", "MetaAgent",
           "MetaAgentSearch", "SearchResult", "SearchTask", "arithmetic", "bootstrap", "client_config",
           "context_slice", "exact", "export_design", "numeric", "prompts_of", "select_parents"]
