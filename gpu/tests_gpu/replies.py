"""The replies a Serving (or its model control) sends, by id, for the GPU tests that drive one without the frame
loop: `wait(id)` returns (and takes) the reply to request `id`; progress lines are not kept."""

import threading


class Replies:
    def __init__(self):
        self.frames = {}
        self.cond = threading.Condition()

    def __call__(self, header, body=b""):
        if header.get("type") == "progress":
            return
        with self.cond:
            self.frames[header.get("id")] = (header, bytes(body))  # a copy: the sender may reuse its buffer
            self.cond.notify_all()

    def wait(self, id_, timeout=120):
        with self.cond:
            assert self.cond.wait_for(lambda: id_ in self.frames, timeout), f"no reply to {id_}"
            return self.frames.pop(id_)
