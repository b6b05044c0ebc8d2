"""Numeric parameters: a numpy array of controller gains tuned from textual feedback.

    python examples/numeric_parameters.py              # live, a few minutes on the local model
    python examples/numeric_parameters.py --replay examples/replays/numeric_parameters.jsonl   # seconds
    BACKPROSE_BASE_URL=... BACKPROSE_MODEL=... OPENAI_API_KEY=... python examples/numeric_parameters.py

A PD controller moves a cart (a double integrator) from 0 to 1. The gains `[kp, kd]` are one
`bp.param(np.array(...), bounds=...)`; the simulation is a traced op; a plain-language review of the step
response (overshoot, settling time, what usually fixes each) is the feedback, and OptoPrime proposes new
gains. Proposals outside the bounds or of the wrong shape are refused by `Parameter.validate`.
"""

from __future__ import annotations

import argparse

import numpy as np
from _llm import add_llm_args, client

import backprose as bp

DT, HORIZON = 0.05, 10.0
MAX_OVERSHOOT, MAX_SETTLE = 0.05, 5.0

gains = bp.param(np.array([0.5, 0.1]), name="gains", bounds=(0.0, 20.0),
                 description="[kp, kd] of a PD controller u = kp*(1 - x) - kd*v driving a unit mass to x = 1")


@bp.bundle()
def step_response(gains: np.ndarray) -> dict[str, float]:
    """Simulate the closed loop for 10 s; report overshoot (fraction above 1) and the 2% settling time."""
    kp, kd = (float(g) for g in gains)
    x = v = 0.0
    xs = []
    for _ in range(int(HORIZON / DT)):
        v += (kp * (1.0 - x) - kd * v) * DT
        x += v * DT
        xs.append(x)
    outside = [i for i, xi in enumerate(xs) if abs(xi - 1.0) > 0.02]
    settle = (outside[-1] + 1) * DT if outside else 0.0
    return {"overshoot": round(max(0.0, max(xs) - 1.0), 3), "settling_time": round(settle, 2),
            "final_position": round(xs[-1], 3)}


def review(result: dict[str, float]) -> tuple[bool, str]:
    """A control engineer's verdict on the step response."""
    notes = []
    if result["overshoot"] > MAX_OVERSHOOT:
        notes.append(f"overshoot is {result['overshoot']:.0%} (at most {MAX_OVERSHOOT:.0%}): the loop is "
                     "underdamped; more kd adds damping")
    if result["settling_time"] > MAX_SETTLE:
        notes.append(f"it settles after {result['settling_time']} s (at most {MAX_SETTLE} s): "
                     "too slow; a larger kp makes it faster")
    if not notes:
        return True, "The response meets the specification."
    return False, "The step response fails the specification: " + "; ".join(notes) + "."


def main() -> None:
    parser = add_llm_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    llm = client(args, {"temperature": 0})
    optimizer = bp.optimizers.OptoPrime([gains], llm=llm, max_tokens=300)
    out = step_response(gains)
    ok, text = review(out.value)
    print(f"step 0: gains {gains.value.tolist()} -> {out.value}")
    for step in range(1, args.steps + 1):
        if ok:
            break
        out.backward(text)
        update = optimizer.step()
        optimizer.zero_feedback()
        for change in update.rejected:
            print(f"  refused: {change.reason}")
        out = step_response(gains)
        ok, text = review(out.value)
        print(f"step {step}: gains {gains.value.tolist()} -> {out.value}")
    print(f"meets the specification: {ok}")


if __name__ == "__main__":
    main()
