"""Train many recipes at once on a small machine: a process per job, one thread each, bases first.

Two single-threaded jobs fill a 2-core machine better than one job with two threads (small
convolutions parallelise poorly). A recipe that starts from another (an ultra-low arm from its
text-free base) waits for it; a base shared by several arms trains once.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

log = logging.getLogger(__name__)


def _train_one(recipe, encoder_spec: str, profile_name: str) -> tuple[str, float]:
    import torch

    from . import zoo
    from .config import profile

    torch.set_num_threads(1)
    start = time.perf_counter()
    encoder = zoo.text_encoder(encoder_spec, profile(profile_name), progress=False) if recipe.kind != "codec" else None
    zoo.fetch(recipe, encoder, progress=False)
    return recipe.key(), time.perf_counter() - start


def _todo(recipes) -> dict:
    """Every recipe not yet shipped or cached, and the bases they start from, by key."""
    from . import zoo

    todo: dict = {}

    def add(r) -> None:
        if r.key() not in todo and not zoo.available(r):
            todo[r.key()] = r
            if r.base is not None:
                add(r.base)

    for r in recipes:
        add(r)
    return todo


def train_all(recipes, profile_name: str, jobs: int = 2, encoder_spec: str = "minclip") -> list[str]:
    """Train every recipe (and base) not yet shipped or cached, `jobs` at a time; returns the keys trained."""
    todo = _todo(recipes)
    waiting: dict[str | None, list] = {}
    for r in todo.values():
        waiting.setdefault(r.base.key() if r.base is not None and r.base.key() in todo else None, []).append(r)
    trained = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        submit = lambda rs: {pool.submit(_train_one, r, encoder_spec, profile_name): r for r in rs}  # noqa: E731
        running = submit(waiting.pop(None, []))
        while running:
            done = next(as_completed(running))
            running.pop(done)
            key, seconds = done.result()
            log.info("trained %s in %.1f min", key, seconds / 60)
            trained.append(key)
            running |= submit(waiting.pop(key, []))
    return trained
