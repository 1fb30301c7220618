"""The GPU backend's side of the TypeScript <-> Python boundary: its request loop, and the check of every request.

The messages are defined once, as TypeBox schemas in src/execute/gpu/protocol.ts (which says who sends what and
what answers it), exported to schemas/backend-protocol.schema.json; frames are frames.py's. Every request is checked
against its type's schema before it is handled (fastjsonschema); `infer`, the hot path, first by a quick test that
reads its fields and datatypes off the same schema and accepts only what the schema accepts (`_infer_ok`), anything
else by the full validator. A request that breaks the schema is answered with an error naming the field, not handled.

Replies to hello/run/load/paris-* come in request order, one request at a time. infer replies come whenever their
worker's thread finishes (workers run concurrently), matched by id; shm-(un)register are answered by the reading
loop at once, power by a thread of its own (an NVML read can take milliseconds, and every infer behind it on the
reading loop would wait that long); load-model, unload-model and add-plans (model_control.py) by a thread of their own, one after
another, matched by id, while the reading loop goes on. error {message, fatal, id?, key?, trace?}: fatal means the CUDA context is poisoned; the
process exits 3 right after.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import traceback
from functools import lru_cache
from pathlib import Path

import fastjsonschema

from . import gcpause, paris_serve
from .cuda import is_fatal
from .frames import FrameReader, flush, send
from .model_control import ModelControl
from .paris import ParisSession
from .runner import Runner
from .serving import Serving

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "backend-protocol.schema.json"


class ProtocolError(ValueError):
    """A message that breaks the protocol's schema; the message names its type, the field and the reason."""


@lru_cache(maxsize=1)
def _definitions() -> dict:
    if not SCHEMA.exists():
        raise ProtocolError(f"no protocol schema at {SCHEMA} (run `eclip schemas`)")
    return json.loads(SCHEMA.read_text())["definitions"]


@lru_cache(maxsize=None)
def _validator(kind: str, type_: str):
    """The compiled check of one message type (`kind` request or reply), on first use: compiling costs ms each."""
    schema = _definitions().get(f"{kind}.{type_}")
    if schema is None:
        raise ProtocolError(f"unknown {kind} type {type_!r}")
    return fastjsonschema.compile(schema)


def _field(name: str | None) -> str:
    """fastjsonschema's "data.shm.offset" / "data[0]" as "shm.offset" / "[0]"; "" for the message itself."""
    return (name or "data").removeprefix("data").removeprefix(".")


def check(msg: object, kind: str = "request") -> dict:
    """Checks a message against its type's schema; returns it, or raises ProtocolError naming the field."""
    type_ = msg.get("type") if isinstance(msg, dict) else None
    if not isinstance(type_, str):
        raise ProtocolError(f"a {kind} without a type: {str(msg)[:80]}")
    if kind == "request" and type_ == "infer":
        _check_infer(msg)
        return msg
    try:
        _validator(kind, type_)(msg)
    except fastjsonschema.JsonSchemaValueException as e:
        raise ProtocolError(f"{type_} {_why(e, kind)}") from None
    return msg


def _why(e: fastjsonschema.JsonSchemaValueException, kind: str) -> str:
    """"request n: must be bigger than or equal to 1": the kind, the field (none for the message itself), the
    reason."""
    field = _field(e.name)
    return f"{kind}{' ' + field if field else ''}: {e.message.removeprefix(e.name or '').strip()}"


def check_request(msg: object) -> dict:
    return check(msg, "request")


@lru_cache(maxsize=1)
def _infer_schema() -> tuple:
    """What `_infer_ok` checks, read off request.infer: its fields, datatypes, and the fields of `shm` and of a
    region span (`input`, `output`)."""
    s = _definitions()["request.infer"]
    props = s["properties"]
    span_counts = tuple(k for k in props["input"]["required"] if k != "region")
    return (frozenset(props), frozenset(props["dtype"]["enum"]), tuple(props["shm"]["required"]),
            frozenset(props["input"]["properties"]), span_counts)


def _check_infer(msg: dict) -> None:
    """request.infer's schema on the hot path: a message `_infer_ok` accepts is valid; any other goes through the
    full validator, which refuses it naming the field (or, should the quick test be too strict, accepts it)."""
    if not _infer_ok(msg, *_infer_schema()):
        try:
            _validator("request", "infer")(msg)
        except fastjsonschema.JsonSchemaValueException as e:
            raise ProtocolError(f"infer {_why(e, 'request')}") from None


def _infer_ok(msg: dict, fields, datatypes, shm_fields, span_fields, span_counts) -> bool:
    """True only for an infer the schema accepts (never for one it refuses); what it does not recognise quickly it
    leaves to the full validator. Costs a fraction of that validator's time on the messages the server sends."""
    i, n = msg.get("id"), msg.get("n")
    if not (type(i) is int and i >= 0 and type(n) is int and n >= 1 and type(msg.get("name")) is str
            and msg.get("dtype") in datatypes and fields.issuperset(msg)):
        return False
    if len(msg) == 5:  # type, name, id, n, dtype: the body carries the input
        return True
    for key, value in msg.items():
        if key == "shm":
            if not (type(value) is dict and len(value) == len(shm_fields) and _counts(value, shm_fields)):
                return False
        elif key == "input" or key == "output":
            # (a span with a range, a tokenizer's input, is left to the full validator)
            if not (type(value) is dict and span_fields.issuperset(value) and "range" not in value
                    and _counts(value, span_counts) and type(value.get("region")) is str):
                return False
        elif (key == "partition" or key == "plan") and type(value) is not str:
            return False
    return True


def _counts(obj: dict, keys) -> bool:
    """Every one of `keys` is in obj, an integer >= 0."""
    for k in keys:
        x = obj.get(k)
        if type(x) is not int or x < 0:
            return False
    return True


class _PowerReplies:
    """Answers `power` requests on a thread of its own, in the order they came: the NVML reads behind a reply take
    milliseconds, and the reading loop must not stop reading infers meanwhile."""

    def __init__(self, serving: Serving):
        self.serving = serving
        self.requests: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None

    def submit(self, msg: dict) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="power", daemon=True)
            self.thread.start()
        self.requests.put(msg)

    def _run(self) -> None:
        while (msg := self.requests.get()) is not None:
            try:
                send({**self.serving.power(), "id": msg.get("id")})
            except Exception as e:  # noqa: BLE001 - a failed reading is answered; the backend goes on serving
                send({"type": "error", "id": msg.get("id"), "message": f"{type(e).__name__}: {e}", "fatal": False})

    def close(self) -> None:
        """Answers what was asked, then stops the thread."""
        if self.thread is not None:
            self.requests.put(None)
            self.thread.join(timeout=10)
            self.thread = None


def serve() -> None:
    """The backend loop: hello/run/load one at a time, in order; infer handed to the worker's thread (serving.py).
    Dies loudly (exit 3) on a poisoned CUDA context."""
    runner = None

    def get_runner():
        nonlocal runner
        if runner is None:
            runner = Runner()  # imports torch and initialises CUDA: only once a request needs the GPU
        return runner

    def resources():
        r = get_runner()
        return r.layout, r.pool, r.energy

    serving = Serving(send, resources, load_partitions=paris_serve.load, native=True)
    control = ModelControl(serving, send)
    power = _PowerReplies(serving)
    paris = None

    def get_paris():
        nonlocal paris
        if paris is None:
            r = get_runner()
            paris = ParisSession(r.layout, r.energy)
        return paris
    frames = FrameReader(spin_s=float(os.environ.get("ECLIP_SPIN_US", "0")) / 1e6)
    pauses = gcpause.recorder_from_env()

    def gc_report() -> None:
        if pauses is not None:
            pauses.dump(os.environ["ECLIP_GC_STATS"])

    while True:
        try:
            msg, body = frames.next()
        except EOFError:
            control.close()
            power.close()
            serving.close()
            gc_report()
            flush()
            return
        kind = msg.get("type")
        try:
            if kind == "infer":  # the hot path first
                _check_infer(msg)
                serving.infer(msg, body)
                continue
            check_request(msg)
            if kind == "shm-register":
                send({**serving.register_region(msg), "id": msg.get("id")})
            elif kind == "shm-unregister":
                send({**serving.unregister_region(msg), "id": msg.get("id")})
            elif kind == "power":
                get_runner()  # made here, on the reading loop, never on the power thread
                power.submit(msg)
            elif kind in ("load-model", "unload-model", "add-plans"):
                get_runner()
                control.submit(msg)
            elif kind == "load":
                get_runner()
                rings = serving.attach_rings(msg.get("rings")) if msg.get("rings") else None
                reply = serving.load(msg, progress=lambda m: send({"type": "progress", "key": "load", "message": m}))
                gcpause.settle()  # what the load made lives as long as the process: out of the collector's way
                send({**reply, "rings": rings} if rings is not None else reply)
            elif kind == "hello":
                r = get_runner()
                send({"type": "ready", "gpu": r.gpu, "versions": r.versions})
            elif kind == "run":
                runner = get_runner()
                key = msg.get("key", "")
                result = runner.run(msg, progress=lambda m, k=key: send({"type": "progress", "key": k, "message": m}))
                send({"type": "result", "key": key, **result})
            elif kind in ("paris-table", "paris-run", "paris-gpus"):
                key = msg.get("key", "")
                say = lambda m, k=key: send({"type": "progress", "key": k, "message": m})  # noqa: E731
                if kind == "paris-table":
                    send({"type": "latency-table", "key": key, **get_paris().table(msg, say)})
                elif kind == "paris-gpus":
                    send({"type": "paris-gpus", "key": key, **get_paris().gpus(msg)})
                else:
                    send({"type": "paris-result", "key": key, **get_paris().run(msg, say)})
            elif kind == "shutdown":
                control.close()
                power.close()
                serving.close()
                if paris:
                    paris.close()
                if runner:
                    runner.close()
                gc_report()
                flush()
                return
        except Exception as e:  # noqa: BLE001 - every failure is reported to the TS side
            text = f"{type(e).__name__}: {e}"
            fatal = is_fatal(text)
            err = {"type": "error", "key": msg.get("key"), "message": text, "fatal": fatal}
            if not isinstance(e, ProtocolError):
                err["trace"] = traceback.format_exc(limit=6)
            if type(msg.get("id")) is int:  # infer, power, shm-(un)register: matched to its request by id
                err["id"] = msg["id"]
            send(err)
            if fatal:
                flush()
                sys.stderr.write(f"eclip_gpu: fatal CUDA error, exiting so the process can be restarted: {text}\n")
                sys.stderr.flush()
                os._exit(3)


def main() -> None:
    serve()


if __name__ == "__main__":
    main()
