"""The backend's check of every request against schemas/backend-protocol.schema.json (exported from the TypeScript
messages, src/execute/gpu/protocol.ts): a message that breaks it is refused naming the field; infer's quick test
accepts nothing the schema refuses. Every message type's round trip: test/gpu/protocol.test.ts."""

import fastjsonschema
import pytest

from eclip_gpu import protocol
from eclip_gpu.protocol import ProtocolError, check, check_request

INFERS_OK = [
    {"type": "infer", "name": "a", "id": 0, "n": 1, "dtype": "FP16"},
    {"type": "infer", "name": "a", "id": 9, "n": 8, "dtype": "INT64", "partition": "g0p1", "plan": "k"},
    {"type": "infer", "name": "a", "id": 1, "n": 1, "dtype": "FP32",
     "shm": {"offset": 0, "bytes": 10, "outOffset": 64, "outBytes": 20}},
    {"type": "infer", "name": "a", "id": 1, "n": 1, "dtype": "INT64",
     "input": {"region": "r", "offset": 0, "bytes": 8, "range": [0, 30000]},
     "output": {"region": "r", "offset": 8, "bytes": 8}},
]
INFERS_BAD = [
    ({"type": "infer", "name": "a", "id": 1, "n": 0, "dtype": "FP16"}, "n"),
    ({"type": "infer", "name": "a", "id": 1, "n": 1.5, "dtype": "FP16"}, "n"),
    ({"type": "infer", "name": "a", "id": -1, "n": 1, "dtype": "FP16"}, "id"),
    ({"type": "infer", "name": "a", "id": "1", "n": 1, "dtype": "FP16"}, "id"),
    ({"type": "infer", "name": 3, "id": 1, "n": 1, "dtype": "FP16"}, "name"),
    ({"type": "infer", "name": "a", "id": 1, "n": 1, "dtype": "FP17"}, "dtype"),
    ({"type": "infer", "name": "a", "id": 1, "n": 1}, "dtype"),
    ({"type": "infer", "name": "a", "id": 1, "n": 1, "dtype": "FP16", "batch": 4}, "batch"),
    ({"type": "infer", "name": "a", "id": 1, "n": 1, "dtype": "FP16", "shm": {"offset": 0, "bytes": 1}}, "shm"),
    ({"type": "infer", "name": "a", "id": 1, "n": 1, "dtype": "FP16",
      "shm": {"offset": -8, "bytes": 1, "outOffset": 0, "outBytes": 0}}, "shm.offset"),
    ({"type": "infer", "name": "a", "id": 1, "n": 1, "dtype": "FP16",
      "input": {"region": "r", "offset": 0, "bytes": 8, "range": [0]}}, "input"),
    ({"type": "infer", "name": "a", "id": 1, "n": 1, "dtype": "FP16", "output": {"region": 1, "offset": 0,
                                                                                 "bytes": 8}}, "output"),
    ({"type": "infer", "name": "a", "id": 1, "n": 1, "dtype": "FP16", "plan": 2}, "plan"),
    ({"type": "infer", "name": "a", "id": True, "n": 1, "dtype": "FP16"}, "id"),
    ({"type": "infer", "name": "a", "id": 1, "n": True, "dtype": "FP16"}, "n"),
    ({"type": "infer", "name": "a", "id": 1, "n": 1, "dtype": "FP16",
      "shm": {"offset": 0, "bytes": 1, "outOffset": 0, "outBytes": 0, "more": 1}}, "shm"),
    ({"type": "infer", "name": "a", "id": 1, "n": 1, "dtype": "FP16",
      "output": {"region": "r", "offset": 0, "bytes": 8, "extra": 1}}, "output"),
]


def test_valid_requests_pass():
    for m in INFERS_OK + [{"type": "hello"}, {"type": "power", "id": 3}, {"type": "shutdown"},
                          {"type": "shm-unregister", "id": 1, "name": "r"},
                          {"type": "paris-gpus", "key": "k", "count": 2},
                          {"type": "load", "plan": None, "workers": [{"name": "a", "model": "alexnet", "batch": 1,
                                                                      "dtype": "fp16"}]}]:
        assert check_request(m) is m


@pytest.mark.parametrize("msg,field", INFERS_BAD)
def test_a_bad_infer_is_refused_naming_the_field(msg, field):
    with pytest.raises(ProtocolError, match=rf"^infer request.*{field}"):
        check_request(msg)


def test_the_quick_infer_test_accepts_what_the_server_sends_and_nothing_the_schema_refuses():
    full = fastjsonschema.compile(protocol._definitions()["request.infer"])
    quick = lambda m: protocol._infer_ok(m, *protocol._infer_schema())  # noqa: E731
    for m in INFERS_OK:
        full(m)
        assert quick(m) or "range" in m.get("input", {}), m  # a span with a range is the full validator's
    for m, _ in INFERS_BAD:
        with pytest.raises(fastjsonschema.JsonSchemaValueException):
            full(m)
        assert not quick(m), m


def test_other_requests_are_refused_naming_type_and_field():
    with pytest.raises(ProtocolError, match=r"^power request id: must be bigger than or equal to 0"):
        check_request({"type": "power", "id": -1})
    with pytest.raises(ProtocolError, match=r"^shm-register request kind: must be one of \[.system., .cuda.\]"):
        check_request({"type": "shm-register", "id": 1, "name": "r", "kind": "disk", "bytes": 8})
    with pytest.raises(ProtocolError, match=r"^load request workers\[0\]\.batch: must be bigger than or equal to 1"):
        check_request({"type": "load", "plan": None, "workers": [{"name": "a", "model": "m", "batch": 0,
                                                                   "dtype": "fp16"}]})
    with pytest.raises(ProtocolError, match=r"^paris-gpus request: must not contain \{.extra.\} properties"):
        check_request({"type": "paris-gpus", "key": "k", "count": 1, "extra": 1})
    with pytest.raises(ProtocolError, match=r"^unknown request type 'nope'"):
        check_request({"type": "nope"})
    with pytest.raises(ProtocolError, match=r"without a type"):
        check_request({"id": 1})


def test_replies_are_checked_against_their_schema_too():
    assert check({"type": "power", "id": 1, "powerW": 3.5, "energyJ": 0}, "reply")
    with pytest.raises(ProtocolError, match=r"^output reply shape\[0\]: must be integer"):
        check({"type": "output", "id": 1, "shape": ["x"], "datatype": "FP16", "computeUs": 1}, "reply")


def test_power_is_answered_off_the_reading_loop_in_order(monkeypatch):
    # an NVML read takes milliseconds: submitting must not wait for it (the reading loop goes on reading infers),
    # and the replies come in the order asked, each with its id; a failed reading is answered, not fatal
    import threading

    sent, release = [], threading.Event()

    class SlowServing:
        calls = 0

        def power(self):
            SlowServing.calls += 1
            assert release.wait(5)
            if SlowServing.calls == 2:
                raise OSError("NVML said no")
            return {"type": "power", "powerW": 100.0, "energyJ": 1.0}

    monkeypatch.setattr(protocol, "send", sent.append)
    replies = protocol._PowerReplies(SlowServing())
    replies.submit({"type": "power", "id": 1})
    replies.submit({"type": "power", "id": 2})
    replies.submit({"type": "power", "id": 3})
    assert sent == []  # submitted, none read yet: nothing waited on the caller's thread
    release.set()
    replies.close()
    assert [m["id"] for m in sent] == [1, 2, 3]
    assert sent[0] == {"type": "power", "powerW": 100.0, "energyJ": 1.0, "id": 1}
    assert sent[1]["type"] == "error" and "NVML said no" in sent[1]["message"] and sent[1]["fatal"] is False
    assert replies.thread is None
