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
    """Train every recipe (and base) not yet shipped or cached, `jobs` at a time, in the order given (a base
    just before the first recipe that needs it); returns the keys trained, in the order they finished."""
    todo = _todo(recipes)
    order = {key: i for i, key in enumerate(_in_priority(recipes, todo))}
    blocked = {key: r.base.key() for key, r in todo.items() if r.base is not None and r.base.key() in todo}
    ready = sorted((key for key in todo if key not in blocked), key=order.get)
    trained: list[str] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        running: dict = {}
        while ready or running:
            while ready and len(running) < jobs:
                key = ready.pop(0)
                running[pool.submit(_train_one, todo[key], encoder_spec, profile_name)] = key
            done = next(as_completed(running))
            running.pop(done)
            key, seconds = done.result()
            log.info("trained %s in %.1f min", key, seconds / 60)
            trained.append(key)
            ready = sorted(ready + [k for k, base in blocked.items() if base == key], key=order.get)
            blocked = {k: base for k, base in blocked.items() if base != key}
    return trained


def _in_priority(recipes, todo: dict) -> list[str]:
    """Keys of `todo` in the order of `recipes`, each base placed right before the first recipe that needs it."""
    out: list[str] = []

    def place(r) -> None:
        if r.base is not None and r.base.key() in todo:
            place(r.base)
        if r.key() in todo and r.key() not in out:
            out.append(r.key())

    for r in recipes:
        place(r)
    return out
