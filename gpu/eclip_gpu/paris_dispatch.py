"""ELSA's dispatch on the GPU backend: a port of src/paris/elsa.ts and of the queueing rules of src/paris/sim.ts, line
for line (no torch), so a GPU run routes every query as the simulator would. The fixture
test/fixtures/paris-dispatch.json keeps the two in step. `Dispatcher` is what the real-time replay (paris_replay.py)
consults; `replay_virtual` runs the same dispatch in virtual time, for tests and the fake backends.
"""

from __future__ import annotations

import heapq
from collections import deque

DISPATCHES = ("fifo", "least-loaded", "elsa")


def estimated_finish(running_est_end: float, queued_est: float, now: float, exec_us: float) -> float:
    """elsa.ts estimatedFinish: what remains of the running query + the queued estimates + the query's own."""
    return max(now, running_est_end) + queued_est + exec_us


def elsa_choose(sms, finish, deadline: float) -> int:
    """elsa.ts elsaChoose: the smallest partition whose estimated finish is <= deadline (ties: earlier finish, then
    lower index); if none, the earliest finisher."""
    best = -1
    for i, f in enumerate(finish):
        if f > deadline:
            continue
        if best < 0:
            best = i
            continue
        if sms[i] < sms[best] or (sms[i] == sms[best] and f < finish[best]):
            best = i
    return best if best >= 0 else earliest_choose(finish)


def earliest_choose(finish) -> int:
    """elsa.ts earliestChoose: least-loaded; ties to the lowest index."""
    best = 0
    for i in range(1, len(finish)):
        if finish[i] < finish[best]:
            best = i
    return best


class Dispatcher:
    """What the dispatcher knows of every partition's queue, updated as sim.ts updates it. Not thread-safe: callers
    hold one lock around `arrive` and `done`.

    est[p][m][b]: the latency-table estimate (µs) of model m at its batch index b on partition p; model[q] and
    batch_idx[q] describe query q. Times are µs on one clock (the trace's).
    """

    def __init__(self, sms, est, slo_us, model, batch_idx, dispatch: str, slo_margin: float, serves=None):
        if dispatch not in DISPATCHES:
            raise ValueError(f"unknown dispatch {dispatch!r}; known: {', '.join(DISPATCHES)}")
        n = len(sms)
        self.sms, self.est, self.slo_us = list(sms), est, slo_us
        self.model, self.batch_idx = model, batch_idx
        self.dispatch, self.margin = dispatch, slo_margin
        # dedicated workers (eclip-kw, sim.ts's SimOptions.serves): partition i serves model serves[i] only; fifo then
        # keeps one central FIFO per model, the other policies choose among the query's model's workers
        self.serves = list(serves) if serves is not None else None
        if self.serves is not None and len(self.serves) != n:
            raise ValueError(f"{len(self.serves)} entries in serves for {n} partitions")
        self.running = [-1] * n
        self.running_est_end = [0.0] * n
        self.queued_est = [0.0] * n
        self.queues = [deque() for _ in range(n)]
        self.central = [deque() for _ in range(max(self.serves) + 1)] if self.serves else [deque()]
        # central FIFO: when several partitions are idle, the largest takes the arrival
        self.by_size = sorted(range(n), key=lambda i: (-self.sms[i], i))
        self._finish = [0.0] * n

    def _serves(self, p: int, q: int) -> bool:
        return self.serves is None or self.serves[p] == self.model[q]

    def _est(self, p: int, q: int) -> float:
        return self.est[p][self.model[q]][self.batch_idx[q]]

    def _start(self, p: int, q: int, now: float) -> None:
        self.running[p] = q
        self.running_est_end[p] = now + self._est(p, q)

    def arrive(self, q: int, now: float) -> tuple[int, bool]:
        """Routes query q arriving at `now`: (partition, True) when that partition starts it now (it was idle),
        (partition, False) when it waits in that partition's FIFO, (-1, False) when it waits in the central FIFO."""
        if self.dispatch == "fifo":
            for i in self.by_size:
                if self.running[i] < 0 and self._serves(i, q):
                    self._start(i, q, now)
                    return i, True
            self.central[self.model[q] if self.serves else 0].append(q)
            return -1, False
        finish = self._finish
        for i in range(len(finish)):
            if not self._serves(i, q):
                finish[i] = float("inf")  # another model's worker: never a candidate
                continue
            e = self._est(i, q)
            # an idle partition has an empty FIFO (done() hands it the next query at once)
            finish[i] = now + e if self.running[i] < 0 else estimated_finish(
                self.running_est_end[i], self.queued_est[i], now, e)
        if self.dispatch == "elsa":
            p = elsa_choose(self.sms, finish, now + self.margin * self.slo_us[self.model[q]])
        else:
            p = earliest_choose(finish)
        if self.running[p] < 0:
            self._start(p, q, now)
            return p, True
        self.queues[p].append(q)
        self.queued_est[p] += self._est(p, q)
        return p, False

    def done(self, p: int, now: float) -> int:
        """Partition p finished its query at `now`; returns the query it starts next (now), or -1 (it goes idle)."""
        self.running[p] = -1
        if self.dispatch == "fifo":
            central = self.central[self.serves[p] if self.serves else 0]
            if central:
                q = central.popleft()
                self._start(p, q, now)
                return q
            return -1
        queue = self.queues[p]
        if not queue:
            return -1
        q = queue.popleft()
        self.queued_est[p] -= self._est(p, q)
        if not queue:
            self.queued_est[p] = 0.0  # drop float drift when the queue empties (as sim.ts does)
        self._start(p, q, now)
        return q


def replay_virtual(disp: Dispatcher, arrival_us, service) -> dict:
    """The same dispatch in virtual time, with known service times (`service(q, p)`: µs of query q on partition p):
    what sim.ts's event loop does, for tests without a GPU. Completions go before arrivals at the same instant; ties
    in time by push order."""
    n = len(arrival_us)
    done = [0.0] * n
    served = [-1] * n
    assigned = [-1] * n
    heap: list = []
    seq = 0

    def start(p: int, q: int, now: float):
        nonlocal seq
        served[q] = p
        heapq.heappush(heap, (now + service(q, p), seq, p, q))
        seq += 1

    nxt = 0
    while nxt < n or heap:
        t_arr = arrival_us[nxt] if nxt < n else float("inf")
        if heap and heap[0][0] <= t_arr:
            t, _, p, q = heapq.heappop(heap)
            done[q] = t
            q2 = disp.done(p, t)
            if q2 >= 0:
                start(p, q2, t)
            continue
        q = nxt
        nxt += 1
        p, now = disp.arrive(q, t_arr)
        assigned[q] = p
        if now:
            start(p, q, t_arr)
    return {"doneUs": done, "partition": served, "assigned": assigned}
