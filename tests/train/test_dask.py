"""Evaluation through Dask's executor on a LocalCluster gives the same scores as a thread pool."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from train_programs import Multiplier

from backprose.data import Dataset
from backprose.train import evaluate
from backprose.train.guides import numeric

distributed = pytest.importorskip("distributed", reason="install backprose[dask] to run the Dask test")


def test_local_cluster_scores_equal_thread_pool_scores():
    module = Multiplier(3)
    data = Dataset([(i, 3 * i if i % 3 else 3 * i + 1) for i in range(24)])
    with ThreadPoolExecutor(4) as pool:
        local = evaluate(module, data, numeric, executor=pool)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, host="127.0.0.1", processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = evaluate(module, data, numeric, executor=client.get_executor())
    assert [j.score for j in remote] == [j.score for j in local]
    assert [j.feedback for j in remote] == [j.feedback for j in local]
    assert 0 < sum(j.score for j in local) < len(data)
