"""A self-contained HTML report of a training run."""

from backprose.report.html import write_report

__all__ = ["write_report"]
