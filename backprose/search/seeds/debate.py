"""Debate: two agents answer independently, read each other's reasoning, update, and a judge decides."""

from backprose.search.blocks import llm

ROUNDS = 1
PROMPTS = {
    "solve": "Solve the task step by step and end with 'Answer: <answer>'.\n\nTask: {task}",
    "rebut": "Another solver wrote:\n{other}\n\nYour earlier solution:\n{mine}\n\nReconsider both and give your "
             "final solution to the task, ending with 'Answer: <answer>'.\n\nTask: {task}",
    "judge": "Two solvers answered the task.\n\nTask: {task}\n\nSolver A:\n{a}\n\nSolver B:\n{b}\n\n"
             "Decide which is right and reply with 'Answer: <answer>' only.",
}


def forward(task: str) -> str:
    a = llm(PROMPTS["solve"].format(task=task), system="You are solver A, precise and skeptical.")
    b = llm(PROMPTS["solve"].format(task=task), system="You are solver B, quick and practical.")
    for _ in range(ROUNDS):
        a, b = (llm(PROMPTS["rebut"].format(task=task, other=b, mine=a)),
                llm(PROMPTS["rebut"].format(task=task, other=a, mine=b)))
    verdict = llm(PROMPTS["judge"].format(task=task, a=a, b=b))
    return verdict.rsplit("Answer:", 1)[-1].strip()
