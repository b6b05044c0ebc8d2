"""Role assignment: a router picks the expert best suited to the task, and that expert solves it."""

from backprose.search.blocks import llm

EXPERTS = {
    "math": "You are a meticulous mathematician who checks every calculation.",
    "logic": "You are a logician who reasons about cases one at a time.",
    "general": "You are a knowledgeable generalist.",
}
PROMPTS = {
    "route": "Which expert should solve this task: math, logic or general? Reply with one word.\n\nTask: {task}",
    "solve": "Solve the task step by step and end with 'Answer: <answer>'.\n\nTask: {task}",
}


def forward(task: str) -> str:
    choice = llm(PROMPTS["route"].format(task=task)).strip().lower()
    role = next((text for name, text in EXPERTS.items() if name in choice), EXPERTS["general"])
    solution = llm(PROMPTS["solve"].format(task=task), system=role)
    return solution.rsplit("Answer:", 1)[-1].strip()
