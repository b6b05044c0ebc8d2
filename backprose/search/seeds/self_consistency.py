"""Self-consistency: sample several chains of thought at a higher temperature and take the majority answer."""

from backprose.search.blocks import last_number, sample, vote

SAMPLES = 3
PROMPTS = {
    "solve": "Solve the task. Think step by step, then write the final answer on the last line as "
             "'Answer: <answer>'.\n\nTask: {task}",
}


def forward(task: str) -> str:
    replies = sample(PROMPTS["solve"].format(task=task), n=SAMPLES, temperature=0.7)
    answers = [last_number(r.rsplit("Answer:", 1)[-1]) or r.rsplit("Answer:", 1)[-1].strip() for r in replies]
    return vote(answers)
