"""Train an agent network on arithmetic word problems, checked by exact answer, on the local model.

    python examples/agent_network.py [--steps 2] [--train 4] [--val 4] [--test 6] [--out runs/ann]

The problems are generated (no download): each has one integer answer, and the guide holds the network
to the task as stated: the final line of its output must be exactly that integer. The network is designed
by the model from the task description (with a fallback design when the small model's design is
unusable), trained with global and local textual gradients under validation-gated acceptance, saved as
JSON, then reloaded and scored on unseen problems.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

from backprose.data.dataset import Example
from backprose.networks import AgentNetwork, NetworkOptimizer
from backprose.train import Budget, Judgement, Trainer, evaluate
from backprose.train.guides import numeric

TASK = "Solve a short arithmetic word problem. The final line must be the answer as a single integer."
FALLBACK: dict[str, Any] = {
    "task": TASK,
    "layers": [
        {"name": "solve", "subtask": "Work out the arithmetic step by step.", "aggregation": "vote",
         "agents": [{"id": "solver", "role": "You are good at arithmetic.", "prompt": "Solve the problem."},
                    {"id": "checker", "role": "You check arithmetic carefully.", "prompt": "Solve the problem."}]},
        {"name": "answer", "subtask": "Give only the final number.", "aggregation": "chain",
         "agents": [{"id": "writer", "role": "You state final answers.", "prompt": "Reply with the number only."}]},
    ],
}
NAMES = ["Ana", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana"]
ITEMS = ["apples", "pencils", "stickers", "marbles", "cookies", "books"]


def word_problems(n: int, seed: int = 0) -> list[Example]:
    """`n` two-step problems (multiply then add or subtract) with their integer answers."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        who, item = rng.choice(NAMES), rng.choice(ITEMS)
        boxes, each, extra = rng.randint(2, 6), rng.randint(2, 9), rng.randint(1, 9)
        if rng.random() < 0.5:
            text = (f"{who} has {boxes} boxes with {each} {item} in each box and buys {extra} more {item}. "
                    f"How many {item} does {who} have now?")
            answer = boxes * each + extra
        else:
            text = (f"{who} has {boxes} bags with {each} {item} in each bag and gives away {extra} {item}. "
                    f"How many {item} are left?")
            answer = boxes * each - extra
        out.append(Example(text, str(answer), id=f"p{seed}-{i}"))
    return out


def guide(output: Any, example: Example) -> Judgement:
    """Score 1 if the final line of the output is exactly the answer, as the task asks; the feedback says
    what was expected and shows the end of the output."""
    text = str(getattr(output, "value", output)).strip()
    judged = numeric(text.splitlines()[-1] if text else "", example)
    return Judgement(judged.score, f"{judged.feedback} The final line must be only the integer. "
                                   f"Output ended with: {text[-200:]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--train", type=int, default=4)
    parser.add_argument("--val", type=int, default=4)
    parser.add_argument("--test", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=200,
                        help="per agent reply: the default model's worked answers need about 150 tokens")
    parser.add_argument("--out", default="runs/agent_network")
    args = parser.parse_args()

    from backprose.llm.local import Local

    llm = Local()
    train, val, test = word_problems(args.train, 1), word_problems(args.val, 2), word_problems(args.test, 3)
    net = AgentNetwork.build(TASK, llm=llm, examples=[ex.input for ex in train[:2]], layers=2, team_size=2,
                             fallback=FALLBACK, max_tokens=args.max_tokens, temperature=0)
    print("designed layers:", [(x["name"], x["aggregation"], x["agents"]) for x in net.layers])
    opt = NetworkOptimizer(net, llm, max_tokens=192)
    out = Path(args.out)
    result = Trainer(net, train, val, guide, opt, batch_size=2, budget=Budget(steps=args.steps), concurrency=1,
                     run_dir=out / "run").fit()
    print(f"validation: {result.initial_val:.2f} -> {result.final_val:.2f} ({result.stopped})")
    net.save(out / "network.json")
    reused = AgentNetwork.from_file(out / "network.json", llm=llm, max_tokens=args.max_tokens, temperature=0)
    scores = [j.score for j in evaluate(reused, test, guide, concurrency=1)]
    print(f"reloaded network on {len(test)} unseen problems: {sum(scores) / len(scores):.2f}")


if __name__ == "__main__":
    main()
