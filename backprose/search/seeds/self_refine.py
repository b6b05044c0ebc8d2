"""Self-refine: answer, let a critic check the work, and revise while the critic finds a mistake."""

from backprose.search.blocks import llm

ROUNDS = 2
PROMPTS = {
    "solve": "Solve the task step by step and end with 'Answer: <answer>'.\n\nTask: {task}",
    "critic": "Check this solution for mistakes. If it is correct, reply exactly 'CORRECT'. Otherwise "
              "explain the mistake.\n\nTask: {task}\n\nSolution:\n{solution}",
    "revise": "Rewrite the solution to fix the mistake and end with 'Answer: <answer>'.\n\nTask: {task}\n\n"
              "Solution:\n{solution}\n\nMistake:\n{critique}",
}


def forward(task: str) -> str:
    solution = llm(PROMPTS["solve"].format(task=task))
    for _ in range(ROUNDS):
        critique = llm(PROMPTS["critic"].format(task=task, solution=solution))
        if "CORRECT" in critique.upper():
            break
        solution = llm(PROMPTS["revise"].format(task=task, solution=solution, critique=critique))
    return solution.rsplit("Answer:", 1)[-1].strip()
