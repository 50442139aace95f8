"""rtp-replay, the stand-in rtp-server, checked over real HTTP on a free port:
the wire bytes of its events against the bundled files, the fixed routes, panics,
loops and keep-alives, cut connections with a reconnecting reader, pacing,
several clients at once, slow clients, and a clean stop on SIGTERM."""

import json
import re
import socket
import subprocess
import time

import rtptest
from rtptest import Deadline, SseClient, check, data_path, http_get, start_replay


def _lines(name):
    with open(data_path(name), "rb") as f:
        return [line.rstrip(b"\r\n").decode("utf-8") for line in f if line.strip()]


TWEETS_A = _lines("tweets-a.jsonl")
TWEETS_B = _lines("tweets-b.jsonl")
# The byte layout of the real server (data/wire-format.sse).
WIRE_TWEET = re.compile(rb'event: "message"\n\ndata: \{"message": \{"tweet": (.*?), '
                        rb'"unix_timestamp_100us": (\d+)\}\}\n\n')
WIRE_PANIC = b'event: "message"\n\ndata: {"message": panic}\n\n'
DATA_TWEET = re.compile(r'^\{"message": \{"tweet": (.*), "unix_timestamp_100us": (\d+)\}\}$', re.S)
DATA_PANIC = '{"message": panic}'


def tweet_of(event):
    """(tweet JSON text, timestamp) of a tweet event, None for a panic."""
    if event.data == DATA_PANIC:
        return None
    m = DATA_TWEET.match(event.data)
    check(m is not None, f"event data has the rtp-server shape: {event.data[:120]!r}")
    return m.group(1), int(m.group(2))


def tweets_of(events):
    return [t[0] for t in map(tweet_of, events) if t]


def stop_clean(proc):
    rc = proc.stop(timeout=5)
    check(rc == 0, f"rtp-replay exits 0 on SIGTERM (got {rc}); log tail:\n{proc.stderr_text()[-1500:]}")
    check("stopping" in proc.stderr_text(), "rtp-replay logs that it stops")


def test_settings():
    exe = rtptest.bin_path("rtp-replay")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, "--help exits 0")
    for flag in ("--port", "--bind", "--rate", "--burst", "--rate-schedule", "--panic-rate", "--loops",
                 "--drop-every", "--seed", "--tweets-1", "--tweets-2", "--emotion-values", "--keep-alive"):
        check(flag in out.stdout, f"--help lists {flag}")
    bad = [["--panic-rate", "2"], ["--rate", "-1"], ["--rate-schedule", "100:1,fast:2"], ["--port", "70000"],
           ["--tweets-1", "/nonexistent/tweets.jsonl"], ["--loops", "-1"]]
    for args in bad:
        r = subprocess.run([exe, "--port", "0", *args], capture_output=True, text=True, timeout=10)
        check(r.returncode != 0 and r.stderr, f"{args} is refused with a message (rc {r.returncode})")
    print(f"settings: {len(bad)} bad settings refused")


def test_first_events_exact_bytes():
    # The test's own pattern must fit the reference layout first.
    with open(data_path("wire-format.sse"), "rb") as f:
        wire = f.read()
    m = WIRE_TWEET.match(wire)
    check(m is not None and wire[m.end():] == WIRE_PANIC, "the reference wire format is a tweet then a panic")

    srv = start_replay("--rate", "0")
    before = time.time()
    with SseClient("127.0.0.1", srv.port, "/tweets/1", keep_raw=True) as c:
        check(c.status == 200, f"200 for /tweets/1, got {c.status_line}")
        check(c.headers.get("content-type") == "text/event-stream", f"SSE content type: {c.headers}")
        check("content-length" not in c.headers, "no Content-Length on a stream")
        check(c.headers.get("cache-control") == "no-cache", "Cache-Control: no-cache")
        c.read_events(10, timeout=10)
        after = time.time()
        pos = 0
        for i in range(10):
            m = WIRE_TWEET.match(bytes(c.raw), pos)
            check(m is not None, f"event {i} has the wire layout: {bytes(c.raw[pos:pos + 80])!r}")
            check(m.group(1) == TWEETS_A[i].encode(), f"event {i} carries line {i} of tweets-a byte for byte")
            ts = int(m.group(2))
            check(before * 1e4 - 1e4 <= ts <= after * 1e4 + 1e4,
                  f"event {i} timestamp {ts} is the send time in 100 us units")
            pos = m.end()
        check([e.type for e in c.events[:10]] == ["message"] * 10, "an SSE parser sees events of type message")
    stop_clean(srv)
    print(f"exact bytes: 10 events of /tweets/1 match tweets-a.jsonl lines 1-10 ({pos} bytes)")


def test_stream_2_serves_tweets_b():
    srv = start_replay("--rate", "0")
    with SseClient("127.0.0.1", srv.port, "/tweets/2") as c:
        tweets = tweets_of(c.read_events(50, timeout=10)[:50])
    check(tweets == TWEETS_B[:50], "/tweets/2 serves tweets-b.jsonl in order")
    stop_clean(srv)
    print(f"/tweets/2: {len(tweets)} tweets match tweets-b.jsonl")


def _raw_exchange(port, request, pieces=1, wait_bytes=1, timeout=10):
    """Sends request (in `pieces` parts, with pauses) and returns what comes back
    until the server closes or wait_bytes arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        step = max(1, len(request) // pieces)
        for i in range(0, len(request), step):
            s.sendall(request[i:i + step])
            time.sleep(0.01)
        got = b""
        deadline = Deadline(timeout)
        while len(got) < wait_bytes:
            deadline.check("response bytes")
            s.settimeout(deadline.remaining() + 0.01)
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def test_fixed_routes():
    srv = start_replay()
    with open(data_path("emotion_values.txt"), "rb") as f:
        emotions = f.read()
    status, headers, body = http_get("127.0.0.1", srv.port, "/emotion_values")
    check(status == 200 and body == emotions, "/emotion_values serves emotion_values.txt byte for byte")
    check(headers.get("content-length") == str(len(emotions)), "with its Content-Length")
    check(body.count(b"\r\n") == 2476 and not body.endswith(b"\n"), "CRLF lines, no final newline")

    status, headers, body = http_get("127.0.0.1", srv.port, "/")
    check(status == 200 and headers.get("content-type") == "application/json", "/ answers JSON")
    paths = {r["path"] for r in json.loads(body)["routes"]}
    check(paths == {"/tweets/1", "/tweets/2", "/emotion_values"}, f"/ describes the routes: {paths}")

    for path in ("/nope", "/tweets/3", "/tweets", "/emotion_values/x"):
        status, _, _ = http_get("127.0.0.1", srv.port, path)
        check(status == 404, f"404 for {path}, got {status}")

    resp = _raw_exchange(srv.port, b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", wait_bytes=1 << 20)
    check(resp.startswith(b"HTTP/1.1 405 "), f"405 for POST: {resp[:40]!r}")

    # A request that arrives a few bytes at a time.
    req = b"GET /emotion_values HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    resp = _raw_exchange(srv.port, req, pieces=len(req) // 3, wait_bytes=1 << 20)
    check(resp.startswith(b"HTTP/1.1 200 OK\r\n") and resp.endswith(emotions), "a request sent in pieces is answered")

    resp = _raw_exchange(srv.port, b"GET / HTTP/1.1\r\nX-Big: " + b"x" * 9000, wait_bytes=1 << 20)
    check(resp.startswith(b"HTTP/1.1 431 "), f"431 for a request head over 8 KiB: {resp[:40]!r}")

    # Two requests in one write on a kept-alive connection, then garbage.
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP\r\n\r\n"
    resp = _raw_exchange(srv.port, req, wait_bytes=1 << 20)
    statuses = re.findall(rb"HTTP/1.1 (\d{3}) ", resp)
    check(statuses == [b"200", b"404", b"400"], f"pipelined requests answered in order: {statuses}")
    stop_clean(srv)
    print(f"fixed routes: emotion_values {len(emotions)} bytes, / with {len(paths)} routes, 404 x4, 405, 431, "
          f"pieces, pipelining")


def _panic_pattern(seed, n=400):
    srv = start_replay("--rate", "0", "--panic-rate", "0.5", "--seed", str(seed))
    with SseClient("127.0.0.1", srv.port, "/tweets/1") as c:
        events = c.read_events(n, timeout=15)[:n]
    stop_clean(srv)
    return events


def test_panics():
    events = _panic_pattern(7)
    panics = sum(e.data == DATA_PANIC for e in events)
    tweets = tweets_of(events)
    check(tweets == TWEETS_A[:len(tweets)], "tweets stay complete and in order between panics")
    check(0.3 * len(tweets) <= panics <= 0.7 * len(tweets), f"about one panic per two tweets: {panics}/{len(tweets)}")
    pattern = "".join("P" if e.data == DATA_PANIC else "T" for e in events)
    check(not pattern.startswith("P") and "PP" not in pattern, "a panic only ever follows a tweet")
    again = "".join("P" if e.data == DATA_PANIC else "T" for e in _panic_pattern(7))
    other = "".join("P" if e.data == DATA_PANIC else "T" for e in _panic_pattern(8))
    check(again == pattern, "the same seed places the panics at the same places")
    check(other != pattern, "another seed places them elsewhere")
    print(f"panics: {panics} panics among {len(tweets)} tweets; seed reproducible")


def _read_until_keepalive(client, count, timeout=20):
    client.read_until(lambda c: len(c.comments) >= count, timeout, f"{count} keep-alive comments")


def test_loops_once_then_keepalive():
    srv = start_replay("--rate", "0", "--loops", "1", "--keep-alive", "0.2")
    a = SseClient("127.0.0.1", srv.port, "/tweets/1")
    b = SseClient("127.0.0.1", srv.port, "/tweets/2")
    _read_until_keepalive(a, 3)
    _read_until_keepalive(b, 3)
    check(tweets_of(a.events) == TWEETS_A and len(a.events) == len(TWEETS_A),
          f"/tweets/1 served each of the {len(TWEETS_A)} tweets once (got {len(a.events)} events)")
    check(tweets_of(b.events) == TWEETS_B and len(b.events) == len(TWEETS_B),
          f"/tweets/2 served each of the {len(TWEETS_B)} tweets once (got {len(b.events)} events)")
    check(all(c.strip() == "keep-alive" for c in a.comments + b.comments), "the comments are keep-alives")
    check(not a.eof and not b.eof, "the connections stay open after the last loop")
    # A new reader of a finished stream gets only keep-alives.
    with SseClient("127.0.0.1", srv.port, "/tweets/1") as late:
        _read_until_keepalive(late, 1, timeout=5)
        check(late.events == [], "nothing is served again after the last loop")
    a.close()
    b.close()
    stop_clean(srv)
    print(f"loops 1: {len(a.events)} + {len(b.events)} events, then {len(a.comments)} + {len(b.comments)} keep-alives")


def test_drop_every_with_reconnecting_reader():
    n = 7
    srv = start_replay("--rate", "0", "--loops", "1", "--keep-alive", "0.2", "--drop-every", str(n))
    events, connections, cuts = [], 0, 0
    deadline = Deadline(60)
    while True:
        deadline.check(f"the whole stream through cut connections ({len(events)} events)")
        with SseClient("127.0.0.1", srv.port, "/tweets/1") as c:
            connections += 1
            c.read_until(lambda c: c.eof or c.comments, deadline.remaining(), "a cut or the end of the stream")
            events += c.events
            if c.eof:
                cuts += c.parser.partial()
            else:
                break
    tweets = tweets_of(events)
    check(tweets == TWEETS_A and len(events) == len(TWEETS_A),
          f"every event exactly once and in order across {connections} connections ({len(events)} events)")
    check(connections - 1 == len(TWEETS_A) // n, f"one cut every {n} events: {connections - 1} cuts")
    check(cuts == connections - 1, f"each cut is in the middle of an event ({cuts} of {connections - 1})")
    stop_clean(srv)
    print(f"drop-every {n}: {len(events)} events exactly once over {connections} connections, {cuts} mid-event cuts")


def _rate(events):
    stamps = [t[1] for t in map(tweet_of, events) if t]
    return (len(stamps) - 1) / ((stamps[-1] - stamps[0]) / 1e4)


def test_rate():
    srv = start_replay("--rate", "200", "--burst", "false")
    with SseClient("127.0.0.1", srv.port, "/tweets/1") as c:
        c.read_events(1, timeout=10)
        events = c.read_for(2.0)
    stop_clean(srv)
    steady = _rate(events)
    check(200 / 3 <= steady <= 200 * 3, f"--rate 200 gives about 200 events/s, measured {steady:.0f}")

    srv = start_replay("--rate", "200", "--seed", "3")
    with SseClient("127.0.0.1", srv.port, "/tweets/1") as c:
        events = c.read_for(4.0)
    stop_clean(srv)
    stamps = [t[1] / 1e4 for t in map(tweet_of, events) if t]
    per_half = [sum(1 for s in stamps if stamps[0] + k / 2 <= s < stamps[0] + (k + 1) / 2) * 2 for k in range(7)]
    bursty = _rate(events)
    check(200 / 10 <= bursty <= 200 * 10, f"--rate 200 with bursts stays near 200/s, measured {bursty:.0f}")

    srv = start_replay("--rate-schedule", "100:1,1000:1", "--burst", "false")
    with SseClient("127.0.0.1", srv.port, "/tweets/1") as c:
        events = c.read_for(4.0)
    stop_clean(srv)
    stamps = [t[1] / 1e4 for t in map(tweet_of, events) if t]
    sched = [sum(1 for s in stamps if stamps[0] + k / 2 <= s < stamps[0] + (k + 1) / 2) * 2 for k in range(7)]
    check(max(sched) >= 3 * max(1, min(sched)), f"the schedule alternates slow and fast phases: {sched}")

    srv = start_replay("--rate", "0")
    with SseClient("127.0.0.1", srv.port, "/tweets/1") as c:
        c.read_events(1, timeout=10)
        unlimited = len(c.read_for(1.0))
    stop_clean(srv)
    # unpaced: well above any pace of this test (200/s) and the stand-in's default
    # (500/s), with room for a busy machine (an idle one reads 10,000 and more)
    check(unlimited > 1000, f"--rate 0 is as fast as the reader reads: {unlimited} events/s")
    print(f"rate: steady 200 -> {steady:.0f}/s; bursts 200 -> {bursty:.0f}/s, per 0.5 s as /s: {per_half}; "
          f"schedule 100:1,1000:1 per 0.5 s as /s: {sched}; unlimited to a Python reader: {unlimited}/s")


def test_concurrent_clients():
    # One client per stream, at the same time, each gets its own file whole.
    srv = start_replay("--rate", "0", "--loops", "1", "--keep-alive", "0.2")
    a = SseClient("127.0.0.1", srv.port, "/tweets/1")
    b = SseClient("127.0.0.1", srv.port, "/tweets/2")
    deadline = Deadline(20)
    while not (a.comments and b.comments):
        deadline.check("both streams to end")
        a.poll(0.01)
        b.poll(0.01)
    check(tweets_of(a.events) == TWEETS_A, "the /tweets/1 client got tweets-a whole")
    check(tweets_of(b.events) == TWEETS_B, "the /tweets/2 client got tweets-b whole at the same time")
    a.close()
    b.close()
    stop_clean(srv)

    # Two clients of one stream share its cursor: together they see each event once.
    srv = start_replay("--rate", "2000", "--burst", "false", "--loops", "1", "--keep-alive", "0.2")
    c1 = SseClient("127.0.0.1", srv.port, "/tweets/1")
    c2 = SseClient("127.0.0.1", srv.port, "/tweets/1")
    deadline = Deadline(20)
    while not (c1.comments and c2.comments):
        deadline.check("the shared stream to end")
        c1.poll(0.01)
        c2.poll(0.01)
    index = {t: i for i, t in enumerate(TWEETS_A)}
    i1 = [index[t] for t in tweets_of(c1.events)]
    i2 = [index[t] for t in tweets_of(c2.events)]
    check(sorted(i1 + i2) == list(range(len(TWEETS_A))), "the two readers together saw every event exactly once")
    check(i1 == sorted(i1) and i2 == sorted(i2), "each reader saw its share in order")
    check(min(len(i1), len(i2)) >= len(TWEETS_A) // 4, f"the stream is shared fairly: {len(i1)} / {len(i2)}")
    c1.close()
    c2.close()
    stop_clean(srv)
    print(f"concurrent: {len(a.events)} + {len(b.events)} on two streams; shared stream split {len(i1)} / {len(i2)}")


def test_slow_client_is_bounded():
    srv = start_replay("--rate", "0")
    slow = SseClient("127.0.0.1", srv.port, "/tweets/1", rcvbuf=65536)
    # While the slow client reads nothing, another is served at full speed.
    with SseClient("127.0.0.1", srv.port, "/tweets/2") as fast:
        fast.read_events(3000, timeout=20)
        time.sleep(1.0)
    taken = int(srv.wait_log(r"left /tweets/2 \([^)]*\): (\d+) events").group(1))
    slow.close()
    m = srv.wait_log(r"left /tweets/1 \([^)]*\): (\d+) events taken, (\d+) given back")
    slow_taken, given_back = int(m.group(1)), int(m.group(2))
    check(slow_taken < 5000, f"a client that does not read gets a bounded backlog: {slow_taken} events")
    check(given_back > 0, "its unsent events went back to the stream")
    # The next reader goes on with the events the slow one never got.
    with SseClient("127.0.0.1", srv.port, "/tweets/1") as nxt:
        tweets = tweets_of(nxt.read_events(5, timeout=10))
    first = TWEETS_A.index(tweets[0])
    check(first == (slow_taken - given_back) % len(TWEETS_A), f"the next reader starts at event {first}")
    stop_clean(srv)
    print(f"slow client: {slow_taken} events buffered for it, {given_back} given back; fast client "
          f"{taken} events meanwhile")


if __name__ == "__main__":
    rtptest.main(globals())
