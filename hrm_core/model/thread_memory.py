"""Thread memory for the scanner: the last memory vector of each conversation, in a bounded LRU.

When a message carries a ``thread_id``, the memory vector the model produced for the previous message
of that thread seeds the slow state for this one (seed 002 §2: thread memory). Only the 256-d float32
vector is kept, keyed by the caller's thread id: nothing about the content (no text, no hash of it).
The store is bounded (least recently used threads are evicted first) and thread-safe, because the
service scans in worker threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

DEFAULT_MAX_THREADS = 10_000


class ThreadMemory:
    """A thread-safe LRU map ``thread_id -> memory vector [memory_dim] float32`` of at most `max_threads`."""

    def __init__(self, max_threads: int = DEFAULT_MAX_THREADS, memory_dim: int = 256) -> None:
        if max_threads < 0:
            raise ValueError(f"max_threads must be >= 0, got {max_threads}")
        self.max_threads = max_threads
        self.memory_dim = memory_dim
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._vectors)

    def __contains__(self, thread_id: object) -> bool:
        with self._lock:
            return thread_id in self._vectors

    def get(self, thread_id: str | None) -> np.ndarray | None:
        """The last stored vector of `thread_id` (a copy), or None; a hit makes the thread most recent."""
        if thread_id is None:
            return None
        with self._lock:
            vec = self._vectors.get(thread_id)
            if vec is None:
                return None
            self._vectors.move_to_end(thread_id)
            return vec.copy()

    def put(self, thread_id: str | None, vector: np.ndarray) -> None:
        """Store `vector` as the latest memory of `thread_id`, evicting the least recently used threads."""
        if thread_id is None or self.max_threads == 0:
            return
        vec = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vec.shape != (self.memory_dim,):
            raise ValueError(f"memory vector must have {self.memory_dim} values, got {vec.shape[0]}")
        with self._lock:
            self._vectors[thread_id] = vec.copy()
            self._vectors.move_to_end(thread_id)
            while len(self._vectors) > self.max_threads:
                self._vectors.popitem(last=False)

    def clear(self) -> None:
        """Forget every thread."""
        with self._lock:
            self._vectors.clear()
