"""Bad input never takes the system down: foreign and malformed frames sent to every
ZeroMQ endpoint are dropped with a warning while the actors keep working; a word list
at /emotion_values that is empty, huge or malformed makes the sentiment workers fall
back to the bundled copy and say so; malformed events in the stream end up in the
dead-letter list with their reason while the rest of the stream is stored right."""

import http.server
import json
import os
import socketserver
import subprocess
import threading

import rtpcheck
import rtpredis
import rtptest
from rtptest import check

HELPER = os.path.join(os.environ.get("RTP_TEST_BIN_DIR", "build/tests"), "junk_sender")


def _junk(kind, endpoint):
    out = subprocess.run([HELPER, kind, endpoint], capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, f"junk_sender {kind} {endpoint}: {out.stderr}")
    return int(out.stdout.split()[1])


def test_foreign_frames_on_every_endpoint():
    with rtpredis.RedisServer() as redis:
        ports = {name: rtptest.free_port() for name in ("readers", "workers", "results", "hashtags", "control",
                                                         "batchers")}
        ep = {k: f"tcp://127.0.0.1:{v}" for k, v in ports.items()}
        broker = rtptest.Proc("rtp-broker", ["--readers", ep["readers"], "--workers", ep["workers"], "--results",
                                             ep["results"], "--hashtags", ep["hashtags"], "--control", ep["control"]])
        broker.wait_log("control endpoint", 10)
        aggregator = rtptest.Proc("rtp-aggregator", ["--results", ep["results"], "--bind", ep["batchers"]])
        batcher = rtptest.Proc("rtp-batcher", ["--aggregator", ep["batchers"], "--redis-url", redis.url,
                                               "--broker", ep["readers"], "--journal-max-bytes", 0])
        sent = 0
        for name in ("readers", "workers", "control", "batchers"):
            sent += _junk("dealer", ep[name])
        sent += _junk("req", ep["readers"])
        # every actor still works: a whole stream goes through afterwards
        replay = rtptest.start_replay("--loops", 1, "--rate", 0, "--panic-rate", 0)
        workers = [rtptest.Proc(exe, ["--broker", ep["workers"]] + (["--print", "false"] if exe == "rtp-censor" else []))
                   for exe in ("rtp-censor", "rtp-sentiment", "rtp-engagement")]
        readers = [rtptest.Proc("rtp-reader", ["--url", f"{replay.url}/tweets/{i}", "--broker", ep["readers"]])
                   for i in (1, 2)]
        expected = rtpcheck.expected_from_files()
        with redis.client() as c:
            rtptest.wait_until(lambda: c.command("ZCARD", "tweets") >= len(expected), 120, "the stream stored")
            report = rtpcheck.check_redis(c, expected)
        check(not report.problems, f"{len(report.problems)} problems: {report.problems[:3]}")
        for p in [*readers, *workers, aggregator, batcher, broker, replay]:
            check(p.alive(), f"{p.name} survived the junk")
            p.stop(timeout=30)
        warnings = sum(p.stderr_text().count("dropped") for p in (broker, aggregator))
        check(warnings >= 4, f"the junk was dropped with warnings ({warnings})")
        print(f"{sent} junk messages on 4 endpoints, {warnings} 'dropped' warnings; then {report.summary()}")


class _Bad(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        try:
            self.wfile.write(self.body)
        except ConnectionError:
            pass   # the worker hangs up on a list over its size limit: as it should

    def log_message(self, *args):
        pass


def test_bad_emotion_values_fall_back_to_the_bundled_list():
    cases = {"empty": b"", "malformed": b"good\t3\r\nno tab here\r\nbad\tx", "huge": b"w\t1\r\n" * (2 << 20)}
    for name, body in cases.items():
        handler = type("H", (_Bad,), {"body": body})
        with socketserver.TCPServer(("127.0.0.1", 0), handler) as server:
            threading.Thread(target=server.serve_forever, daemon=True).start()
            url = f"http://127.0.0.1:{server.server_address[1]}/emotion_values"
            worker = rtptest.Proc("rtp-sentiment", ["--emotion-url", url, "--broker",
                                                    f"tcp://127.0.0.1:{rtptest.free_port()}"])
            worker.wait_log(r"falling back to the bundled copy", 15)
            worker.wait_log(r"loaded 2477 words from", 15)
            check(worker.alive(), f"{name} list: the worker runs on")
            worker.stop()
            server.shutdown()
        print(f"  {name} /emotion_values: fell back to the bundled 2477 words")


class _Stream(http.server.BaseHTTPRequestHandler):
    """An rtp-server with malformed events between the good ones."""
    protocol_version = "HTTP/1.1"
    events = []

    def do_GET(self):
        if self.path == "/emotion_values":
            body = open(rtptest.data_path("emotion_values.txt"), "rb").read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        stream = 0 if self.path == "/tweets/1" else 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for data in self.events[stream]:
            self.wfile.write(b'event: "message"\n\ndata: ' + data + b"\n\n")
        self.wfile.flush()
        threading.Event().wait(60)   # stay connected: no re-read

    def log_message(self, *args):
        pass


def test_malformed_events_become_dead_letters_with_reasons():
    bad = [b"{not json", b'{"message": {"tweet": {"text": "no id"}}}', b"[1, 2, 3]",
           b'{"message": {"tweet": {"id_str": "9", "text": "\xff\xfe"}}}']
    events = [[], []]
    for i, name in enumerate(("tweets-a.jsonl", "tweets-b.jsonl")):
        with open(rtptest.data_path(name), "rb") as f:
            for n, line in enumerate(f):
                events[i].append(b'{"message": {"tweet": ' + line.strip() + b', "unix_timestamp_100us": 1}}')
                if n % 100 == 50:
                    events[i].append(bad[(n // 100) % len(bad)])
    handler = type("S", (_Stream,), {"events": events})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    n_bad = sum(1 for s in events for e in s if e in bad)
    with rtpredis.RedisServer() as redis:
        up = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--rtp-url", f"http://127.0.0.1:{server.server_address[1]}",
                                  "--censor-workers", 2, "--work-mean-ms", 0, "--print", "false"])
        expected = rtpcheck.expected_from_files()
        with redis.client() as c:
            rtptest.wait_until(lambda: c.command("ZCARD", "tweets") >= len(expected)
                               and c.command("LLEN", "deadletter") >= n_bad, 120, "stream and dead letters stored")
            code = up.stop(timeout=60)
            report = rtpcheck.check_redis(c, expected)
            letters = rtpcheck.dead_letters(c)
    server.shutdown()
    check(code == 0, f"rtp up exits 0, got {code}")
    check(not report.problems, f"{len(report.problems)} problems: {report.problems[:3]}")
    check(len(letters) == n_bad, f"{n_bad} malformed events, {len(letters)} dead letters")
    reasons = sorted({d["reason"].split(" at ")[0][:40] for d in letters})
    check(all(d["reason"] and d["origin"] in ("tweets-1", "tweets-2") for d in letters), "each names reason and origin")
    print(f"{n_bad} malformed events -> {len(letters)} dead letters, reasons {reasons}; {report.summary()}")


if __name__ == "__main__":
    rtptest.main(globals())
