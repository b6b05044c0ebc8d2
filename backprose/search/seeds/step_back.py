"""Step-back abstraction: first name the general principle behind the task, then solve it with that in hand."""

from backprose.search.blocks import llm

PROMPTS = {
    "principle": "What general rule or method is needed to solve this kind of task? Answer in two "
                 "sentences, without solving it.\n\nTask: {task}",
    "solve": "Use this method:\n{principle}\n\nSolve the task step by step and end with "
             "'Answer: <answer>'.\n\nTask: {task}",
}


def forward(task: str) -> str:
    principle = llm(PROMPTS["principle"].format(task=task))
    solution = llm(PROMPTS["solve"].format(task=task, principle=principle))
    return solution.rsplit("Answer:", 1)[-1].strip()
