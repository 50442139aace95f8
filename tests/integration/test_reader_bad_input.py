"""rtp-reader against a crafted HTTP server (in this test) that serves one bad
stream per connection: a truncated event, an oversized one, invalid UTF-8, NUL
bytes, non-JSON, JSON of the wrong shape, 100000 nested '[', a panic, an event of
another type, a burst of 40 bad events, HTTP 404, HTTP 500 (with an event in its
body, which must not be read), and a server that sends headers then falls silent.

The reader must survive all of it (still running at the end, exit 0 on SIGTERM),
deliver every good event around the bad ones, forward each bad one as what it is
(malformed with the decoder's reason, panic), log each case clearly (bad-event lines
rate-limited with a count of the suppressed ones), and count each in its stats line.
Twice: without acknowledgement (--window 0), and with a window of 3 records that the
sink acknowledges (parsing stops between events, bad ones included, and resumes on
each acknowledgement; every record is acknowledged once).
"""
import json
import re
import socket
import threading
import time

import rtptest
from rtptest import check

READ_TIMEOUT_MS = 800
MAX_EVENT = 200000

HEAD_200 = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Connection: close\r\n\r\n")


def _tweets():
    with open(rtptest.data_path("tweets-a.jsonl"), "rb") as f:
        return [line.strip() for line in f if line.strip()]


TWEETS = _tweets()


def event(data):
    """The rtp-server's layout of one event (data/wire-format.sse)."""
    return b'event: "message"\n\ndata: ' + data + b"\n\n"


def tweet_event(i):
    return event(b'{"message": {"tweet": ' + TWEETS[i] + b', "unix_timestamp_100us": 14610078476580}}')


def ids(i):
    return [("tweet", x) for x in rtptest.tweet_record_ids(json.loads(TWEETS[i]))]


def bad(reason_regex):
    return [("malformed", reason_regex)]


HOLD = ("hold", 1.1)   # keep-alive comments for 1.1 s: the next case's log lines get a fresh window
CLOSE = ("close",)

# name, what the server does on that connection, what the sink must print (in order),
# a log line that names the case.
CASES = [
    ("good events", [HEAD_200, tweet_event(0), tweet_event(1), HOLD, CLOSE], ids(0) + ids(1),
     r"connected to http://\S+/stream: HTTP 200"),
    ("truncated event", [HEAD_200, tweet_event(10), HOLD, tweet_event(11)[:1500], CLOSE], ids(10),
     r"WARN .*an event was cut off by the end of the connection"),
    ("oversized event", [HEAD_200, event(b'{"x": "' + b"a" * (MAX_EVENT + 5000) + b'"}'), tweet_event(12), HOLD,
                         CLOSE],
     bad(r"SSE event over %d bytes" % MAX_EVENT) + ids(12), r"WARN .*oversized event forwarded as seq \d+"),
    ("invalid UTF-8", [HEAD_200, event(b'{"message": {"tweet": {"id_str": "9001", "text": "caf\xc3 \xff"}}}'),
                       tweet_event(13), HOLD, CLOSE],
     bad(r"invalid UTF-8 at byte \d+") + ids(13), r"WARN .*malformed event .*: invalid UTF-8 at byte"),
    ("not JSON", [HEAD_200, event(b"this is not JSON {"), tweet_event(2), HOLD, CLOSE],
     bad(r"not JSON: ") + ids(2), r"WARN .*malformed event .*: not JSON: "),
    ("wrong shape", [HEAD_200, event(b'{"message": {"tweet": 42}}'), event(b"[1, 2, 3]"), tweet_event(14), HOLD,
                     CLOSE],
     bad(r"wrong shape: ") * 2 + ids(14), r"WARN .*malformed event .*: wrong shape: "),
    ("deep nesting", [HEAD_200, event(b"[" * 100000), tweet_event(15), HOLD, CLOSE],
     bad(r"JSON nested deeper than \d+ levels") + ids(15), r"WARN .*malformed event .*: JSON nested deeper"),
    ("NUL byte", [HEAD_200, event(b'{"message": {"tweet": {"id_str": "12\x0034"}}}'), tweet_event(16), HOLD,
                  CLOSE],
     bad(r"NUL byte in data at byte \d+") + ids(16), r"WARN .*malformed event .*: NUL byte in data"),
    ("panic and another event type", [HEAD_200, event(b'{"message": panic}'), b"event: ping\ndata: 1\n\n",
                                      tweet_event(17), HOLD, CLOSE],
     [("panic", "-")] + ids(17), r"INFO .*panic event forwarded as seq \d+"),
    ("burst of 40 bad events", [HEAD_200, *[event(b"not json %d" % i) for i in range(40)], tweet_event(18), HOLD,
                                CLOSE],
     bad(r"not JSON: ") * 40 + ids(18), r"WARN .*35 more bad-event lines suppressed"),
    ("HTTP 404", [b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n"
                  b"Connection: close\r\n\r\nnot found", CLOSE],
     [], r"WARN .*answered HTTP 404 instead of 200"),
    ("HTTP 500", [b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/event-stream\r\n"
                  b"Connection: close\r\n\r\n" + tweet_event(19), CLOSE],
     [], r"WARN .*answered HTTP 500 instead of 200"),
    ("stalled server", [HEAD_200, tweet_event(20), ("silent", 15.0), CLOSE], ids(20),
     r"WARN .*disconnected from \S+ after .*stalled: no byte for %d ms" % READ_TIMEOUT_MS),
    ("good events after all that", [HEAD_200, tweet_event(21), tweet_event(3), ("keep-alive", 60.0), CLOSE],
     ids(21) + ids(3), None),
]


# The tweets delivered whole, as the cases above send them.
GOOD = [0, 1, 10, 12, 13, 2, 14, 15, 16, 17, 18, 20, 21, 3]


class CraftedServer:
    """Serves CASES in order, one per connection, on a free port, from a thread."""

    def __init__(self, cases):
        self.cases = list(cases)
        self.served = []
        self.stopping = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set() and self.cases:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            name, steps = self.cases[0][0], self.cases[0][1]
            try:
                if self._read_request(conn):
                    self.cases.pop(0)
                    self.served.append(name)
                    self._play(conn, steps)
            except OSError:
                pass
            finally:
                conn.close()

    def _read_request(self, conn):
        conn.settimeout(5)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return False
            head += chunk
        return head.startswith(b"GET /stream ")

    def _hold(self, conn, seconds, comments):
        """Keeps the connection open (with keep-alive comments, or silent) until the
        time is up, the client closes, or the test stops."""
        deadline = time.monotonic() + seconds
        conn.settimeout(0.2)
        while time.monotonic() < deadline and not self.stopping.is_set():
            if comments:
                conn.sendall(b": keep-alive\n")
            try:
                if conn.recv(4096) == b"":
                    return   # the reader hung up
            except socket.timeout:
                pass

    def _play(self, conn, steps):
        for step in steps:
            if isinstance(step, bytes):
                conn.sendall(step)
            elif step[0] in ("hold", "keep-alive"):
                self._hold(conn, step[1], comments=True)
            elif step[0] == "silent":
                self._hold(conn, step[1], comments=False)
            elif step[0] == "close":
                return

    def stop(self):
        self.stopping.set()
        self.thread.join(10)
        self.sock.close()


def bad_input(window):
    server = CraftedServer([(c[0], c[1]) for c in CASES])
    sink = rtptest.start_sink(acks="all" if window else "none")
    started_us = time.time_ns() // 1000
    reader = rtptest.Proc("rtp-reader", [
        "--url", f"http://127.0.0.1:{server.port}/stream", "--broker", sink.endpoint,
        "--max-event-bytes", MAX_EVENT, "--read-timeout-ms", READ_TIMEOUT_MS,
        "--backoff-min-ms", "20", "--backoff-max-ms", "200", "--stats-interval-ms", "500", "--window", window])
    try:
        expected = [e for case in CASES for e in case[2]]
        rtptest.wait_until(lambda: len(server.served) == len(CASES) and
                           len(rtptest.sink_events(sink)) >= len(expected) or not reader.alive(),
                           60, f"all {len(CASES)} cases served and {len(expected)} events at the sink")
        time.sleep(1.2)   # a late extra event would show; the last suppressed-lines note is due
        check(reader.alive(), f"reader still running after every case (rc {reader.popen.poll()}); log tail:\n{reader.stderr_text()[-3000:]}")
        check(server.served == [c[0] for c in CASES], f"every case served in order: {server.served}")

        got = rtptest.sink_events(sink)
        first = got[0].seq if got else 0
        logged = int(reader.wait_log(r"INFO .*reading \S+ as .*; seqs from (\d+)", 5).group(1))
        check(first == logged and started_us <= first <= started_us + 60_000_000,
              f"the first seq {first} is the reader's start time in us (logged {logged}, started after "
              f"{started_us})")
        check([e.seq for e in got] == list(range(first, first + len(got))), "seqs consecutive, each once")
        check(all(e.origin == "stream" for e in got), "origin derived from the URL path: stream")
        check(len(got) == len(expected), f"{len(got)} events at the sink, expected {len(expected)}")
        for i, (e, (kind, detail)) in enumerate(zip(got, expected)):
            ok = e.kind == kind and (re.match(detail, e.detail) if kind == "malformed" else
                                     detail == "-" or e.detail == detail)
            check(ok, f"event {i + 1}: got {e.kind} {e.detail[:80]!r}, expected {kind} {detail!r}")
        good = sum(1 for k, _ in expected if k == "tweet")
        print(f"  {len(got)} events at the sink in order: {good} good tweet records around "
              f"{len(got) - good} bad ones")
        reader_log = reader.stderr_text()
    finally:
        rc = reader.stop()
        server.stop()
        sink.stop()
    check(rc == 0, f"reader exits 0 on SIGTERM (got {rc}); log tail:\n{reader.stderr_text()[-3000:]}")

    log = reader.stderr_text()
    for name, _, _, pattern in CASES:
        if pattern and window and "suppressed" in pattern:
            # paced by acknowledgements, the burst spans log windows: how many
            # lines each suppresses varies (their sum is checked below)
            pattern = r"WARN .*\d+ more bad-event lines suppressed"
        if pattern:
            check(re.search(pattern, log), f"{name}: log line /{pattern}/")
    logged = len(re.findall(r"(malformed|oversized|panic) event .*forwarded as seq", reader_log))
    suppressed = sum(int(n) for n in re.findall(r"(\d+) more bad-event lines suppressed", log))
    stats = rtptest.reader_stats(log)
    check(stats is not None, "final stats line")
    bad_events = stats["malformed"] + stats["oversized"] + stats["panics"]
    check(logged + suppressed == bad_events,
          f"every bad event logged or counted as suppressed: {logged} + {suppressed} = {bad_events}")
    check(logged < bad_events, "repeats were rate-limited")

    nested = sum(v for k, v in stats.items() if k.startswith("JSON_nested_deeper"))
    want = {"invalid_UTF-8": 1, "not_JSON": 41, "wrong_shape": 2, "NUL_byte_in_data": 1, "malformed": 46,
            "oversized": 1, "truncated": 1, "panics": 1, "other_types": 1, "http_errors": 2, "stalls": 1,
            "tweets": len(GOOD), "retweets": sum(1 for i in GOOD if len(ids(i)) == 2),
            "records": len(expected), "sent": len(expected), "pending": 0,
            "acked": len(expected) if window else 0, "window": 0, "resent": 0, "unknown_acks": 0}
    for key, value in want.items():
        check(stats.get(key) == value, f"stats {key}={stats.get(key)}, expected {value}")
    check(nested == 1, f"stats JSON_nested_deeper...=1, got {nested}")
    check(stats["connects"] == 12 and stats["reconnects"] == 13,
          f"12 connections answered 200, 13 reconnects: {stats['connects']}, {stats['reconnects']}")
    if window:
        check(stats["window_full_pauses"] > 0, f"the window of {window} filled: {stats['window_full_pauses']}")
    print(f"  window {window}: {len(CASES)} cases each logged; stats checked: {', '.join(f'{k}={v}' for k, v in want.items())}, "
          f"nested=1; {logged} bad-event lines logged, {suppressed} suppressed")



def test_bad_input():
    bad_input(window=0)


def test_bad_input_acknowledged():
    bad_input(window=3)


if __name__ == "__main__":
    rtptest.main(globals())
