"""Chain-of-thought: ask the model to reason step by step, then give the final answer on its own line."""

from backprose.search.blocks import llm

PROMPTS = {
    "system": "You are a careful problem solver.",
    "solve": "Solve the task. Think step by step, then write the final answer on the last line as "
             "'Answer: <answer>'.\n\nTask: {task}",
}


def forward(task: str) -> str:
    reply = llm(PROMPTS["solve"].format(task=task), system=PROMPTS["system"])
    return reply.rsplit("Answer:", 1)[-1].strip()
