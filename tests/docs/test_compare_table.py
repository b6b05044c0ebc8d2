"""`bench/compare.py` (the smoke test docs/benchmarks.md describes) runs against any OpenAI-compatible
endpoint and counts every request through its proxy; here a scripted server plays the model."""

import json
import subprocess
import sys
from pathlib import Path

from backprose.testing_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]


def test_compare_writes_a_row_per_framework_with_counted_calls(tmp_path):
    reply = json.dumps({"reasoning": "The number is too low; 37 fits.", "suggestion": {"value": 37}})
    with FakeOpenAIServer(reply=lambda body: reply, models=["fake-model"]) as server:
        done = subprocess.run([sys.executable, str(ROOT / "bench/compare.py"), "--base-url", server.base_url,
                               "--model", "fake-model", "--only", "numeric_target",
                               "--frameworks", "backprose (OptoPrime),nope",
                               "--out", str(tmp_path / "table.md")], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        calls = server.calls
    table = (tmp_path / "table.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| numeric_target | backprose"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "0.14 → 1.00"             # one step from 5 to 37
    assert int(cells[3]) == calls == 1            # the proxy saw exactly the optimizer's one request
    assert "fake-model" in table.splitlines()[0]
