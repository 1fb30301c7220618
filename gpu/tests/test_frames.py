import os

from eclip_gpu.frames import encode, read_frame


def test_frames_round_trip_through_a_pipe_with_a_body():
    r, w = os.pipe()
    os.write(w, encode({"type": "run", "key": "mix1|eclip|graph|b1", "n": [1, 2]}, b"\x00\x01tensor"))
    os.write(w, encode({"type": "shutdown"}))
    os.close(w)
    h, body = read_frame(r)
    assert h == {"type": "run", "key": "mix1|eclip|graph|b1", "n": [1, 2]} and body == b"\x00\x01tensor"
    h, body = read_frame(r)
    assert h == {"type": "shutdown"} and body == b""


def test_frame_layout_matches_the_typescript_side():
    # [u32 total][u32 header length][header][body], little-endian, total counts everything after itself
    data = encode({"a": 1}, b"xy")
    assert data == b"\x0d\x00\x00\x00\x07\x00\x00\x00" + b'{"a":1}' + b"xy"
