"""Datasets: examples with an input and a target, loaded from JSONL or CSV and split with a seed."""

from backprose.data.dataset import Dataset, Example, load, load_csv, load_jsonl, split

__all__ = ["Dataset", "Example", "load", "load_csv", "load_jsonl", "split"]
