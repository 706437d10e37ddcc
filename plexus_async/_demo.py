"""The main job, end to end: an evaluation of a real classifier, stored in Plexus.

Scores scikit-learn's breast-cancer records with out-of-fold models, submits
each prediction through the queue as soon as it exists, sends the evaluation's
corrections through the update path, then reads the evaluation back and checks
it against what was computed locally.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import anyio

from ._client import AsyncPlexusClient
from ._models import ScoreResult
from ._queue import PendingScoreResult


@dataclass(frozen=True)
class DemoSummary:
    """What the demo measured; `ok` is its verdict."""

    records: int
    stored: int
    duplicates: int
    requests: int
    failed: int
    accuracy_server: float
    accuracy_local: float
    corrections_applied: int
    seconds: float
    evaluation_id: str

    @property
    def ok(self) -> bool:
        return (
            self.stored == self.records
            and self.duplicates == 0
            and self.failed == 0
            and self.corrections_applied == self.records
            and self.accuracy_server == self.accuracy_local
        )


def out_of_fold_models(
    limit: int | None, folds: int = 5
) -> tuple[Any, Any, list[Any], Any]:
    """Load the dataset and fit one model per fold; each record's model never saw it."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    features, labels = data.data, data.target
    if limit is not None:
        # A seeded sample keeps both classes in every fold of a small slice.
        import numpy

        chosen = numpy.sort(
            numpy.random.default_rng(7).permutation(len(labels))[:limit]
        )
        features, labels = features[chosen], labels[chosen]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=7)
    fold_of = [0] * len(labels)
    models = []
    for fold, (train, test) in enumerate(splitter.split(features, labels)):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        model.fit(features[train], labels[train])
        models.append(model)
        for index in test:
            fold_of[index] = fold
    return features, labels, [models[f] for f in fold_of], data.target_names


async def run_demo(
    client: AsyncPlexusClient,
    *,
    account_id: str,
    scorecard_id: str,
    score_id: str,
    limit: int | None = None,
    concurrency: int = 32,
    report: Any = print,
) -> DemoSummary:
    """Run the evaluation against `client`'s API and verify what got stored."""
    started = time.perf_counter()
    requests_before = client.stats.requests
    features, labels, model_of, names = await anyio.to_thread.run_sync(
        out_of_fold_models, limit
    )
    evaluation_id = f"demo-eval-{uuid.uuid4()}"
    report(f"scoring {len(labels)} records with out-of-fold models ...")

    predictions: dict[int, str] = {}
    handles: dict[int, PendingScoreResult] = {}
    limiter = anyio.CapacityLimiter(concurrency)

    async def score(index: int) -> None:
        async with limiter:
            # The model call runs off the event loop, as a model client would.
            proba = await anyio.to_thread.run_sync(
                model_of[index].predict_proba, features[index : index + 1]
            )
        label = int(proba[0].argmax())
        predictions[index] = str(names[label])
        handles[index] = await client.score_results.submit(
            value=str(names[label]),
            confidence=float(proba[0][label]),
            itemId=f"breast-cancer-{index}",
            accountId=account_id,
            scorecardId=scorecard_id,
            scoreId=score_id,
            evaluationId=evaluation_id,
            explanation="logistic regression, 5-fold out-of-fold prediction",
        )

    async with anyio.create_task_group() as tg:
        for index in range(len(labels)):
            tg.start_soon(score, index)
    report(f"submitted {len(handles)} predictions; sending corrections ...")

    async def correct(index: int) -> None:
        truth = str(names[int(labels[index])])
        await handles[index].update(
            correct=predictions[index] == truth,
            metadata={"human_label": truth, "source": "sklearn breast_cancer"},
        )

    async with anyio.create_task_group() as tg:
        for index in range(len(labels)):
            tg.start_soon(correct, index)
    report("corrections applied; reading the evaluation back ...")

    stored = [r async for r in ScoreResult.list(client, evaluationId=evaluation_id)]
    counts = Counter(r.id for r in stored)
    mine = {h.id for h in handles.values()}
    ours = [r for r in stored if r.id in mine]
    corrected = [
        r
        for r in ours
        if isinstance(r.metadata, dict)
        and r.correct is (r.value == r.metadata.get("human_label"))
    ]
    right = sum(
        1
        for r in ours
        if isinstance(r.metadata, dict) and r.value == r.metadata.get("human_label")
    )
    local_right = sum(
        1 for i, label in enumerate(labels) if predictions[i] == str(names[int(label)])
    )
    return DemoSummary(
        records=len(labels),
        stored=len(counts),
        duplicates=sum(n - 1 for n in counts.values()),
        requests=client.stats.requests - requests_before,
        failed=client.stats.failed,
        accuracy_server=right / max(len(ours), 1),
        accuracy_local=local_right / len(labels),
        corrections_applied=len(corrected),
        seconds=time.perf_counter() - started,
        evaluation_id=evaluation_id,
    )
