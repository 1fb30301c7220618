import os
import threading
import time

import pytest

from eclip_gpu.frames import FrameReader, encode, flush, read_frame, send


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


def test_frame_reader_takes_several_frames_out_of_one_read():
    # the TS side writes the frames of one event-loop turn in one write: one read, three frames
    r, w = os.pipe()
    os.write(w, b"".join([encode({"type": "infer", "id": 1}), encode({"type": "infer", "id": 2}, b"\x07" * 10),
                          encode({"type": "power", "id": 3})]))
    reader = FrameReader(r)
    assert reader.next() == ({"type": "infer", "id": 1}, b"")
    assert reader.buffered()
    h, body = reader.next()
    assert h == {"type": "infer", "id": 2} and body == b"\x07" * 10 and not body.readonly
    assert reader.next() == ({"type": "power", "id": 3}, b"")
    assert not reader.buffered()
    os.close(w)
    with pytest.raises(EOFError):
        reader.next()


def test_frame_reader_bodies_stay_valid_after_later_reads_and_large_frames_get_their_own_buffer():
    r, w = os.pipe()
    reader = FrameReader(r, size=64)
    first = encode({"type": "infer", "id": 1}, b"abc")
    big = bytes(range(256)) * 40  # larger than the reader's buffer
    rest = encode({"type": "infer", "id": 2}, big) + encode({"type": "infer", "id": 3}, b"xyz")

    def writer():
        os.write(w, first[:5])  # a frame split over several reads
        time.sleep(0.01)
        os.write(w, first[5:] + rest[:30])
        time.sleep(0.01)
        os.write(w, rest[30:])
        os.close(w)

    t = threading.Thread(target=writer)
    t.start()
    h1, b1 = reader.next()
    h2, b2 = reader.next()
    h3, b3 = reader.next()
    t.join()
    assert (h1["id"], h2["id"], h3["id"]) == (1, 2, 3)
    assert bytes(b1) == b"abc" and bytes(b2) == big and bytes(b3) == b"xyz"
    with pytest.raises(EOFError):
        reader.next()


def test_frame_reader_a_frame_cut_short_is_the_end_of_the_stream():
    r, w = os.pipe()
    os.write(w, encode({"type": "infer", "id": 1}, b"\x00" * 100)[:50])
    os.close(w)
    with pytest.raises(EOFError):
        FrameReader(r).next()


def test_sends_of_threads_racing_leave_whole_frames_in_order_and_flush_waits_for_them():
    r, w = os.pipe()
    got = []
    n_threads, per_thread = 8, 200

    def reader():
        fr = FrameReader(r)
        for _ in range(n_threads * per_thread):
            got.append(fr.next())

    rt = threading.Thread(target=reader)
    rt.start()

    def writer(t):
        for i in range(per_thread):
            send({"type": "output", "id": t * 1000 + i}, bytes([t, i % 256]), fd=w)

    ws = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
    for t in ws:
        t.start()
    for t in ws:
        t.join()
    flush(w)
    rt.join(timeout=10)
    os.close(w)
    os.close(r)
    assert len(got) == n_threads * per_thread
    for t in range(n_threads):  # each thread's frames in the order it sent them, each body its own
        mine = [(h["id"], bytes(b)) for h, b in got if h["id"] // 1000 == t]
        assert mine == [(t * 1000 + i, bytes([t, i % 256])) for i in range(per_thread)]


def test_a_spinning_reader_reads_what_comes_while_it_polls_and_sleeps_after():
    r, w = os.pipe()
    try:
        reader = FrameReader(r, spin_s=0.05)
        threading.Timer(0.01, lambda: os.write(w, encode({"type": "a"}))).start()
        t0 = time.perf_counter()
        assert reader.next()[0] == {"type": "a"}  # came while it polled
        assert time.perf_counter() - t0 < 0.04
        threading.Timer(0.15, lambda: os.write(w, encode({"type": "b"}))).start()
        assert reader.next()[0] == {"type": "b"}  # came after the spin: the blocking read still gets it
    finally:
        os.close(r)
        os.close(w)
