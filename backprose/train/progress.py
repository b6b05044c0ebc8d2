"""A tqdm progress bar over steps showing score, validation score, model calls and cost."""

from __future__ import annotations

from typing import Any


class Progress:
    """Does nothing when disabled (or tqdm is missing), so the trainer never has to check."""

    def __init__(self, total: int, *, enabled: bool, initial: int = 0) -> None:
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, initial=initial, desc="optimizing", unit="step", dynamic_ncols=True)

    def update(self, record: dict[str, Any], spent: Any) -> None:
        if self.bar is None:
            return
        batch = record.get("batch_after")
        batch = record.get("batch_before", 0.0) if batch is None else batch
        self.bar.set_postfix(batch=f"{batch:.2f}", val=f"{record.get('val_after') or record['val_before']:.2f}",
                             calls=spent.calls, cost=f"${spent.cost:.4f}", refresh=False)
        self.bar.update(1)

    def close(self, *, keep: bool = True) -> None:
        """Finish the bar; `keep=False` erases it, so an error message that follows stands on its own line."""
        if self.bar is not None:
            self.bar.leave = keep
            self.bar.close()
