"""rtp-hashtags end to end: a stand-in broker PUB (tests/helpers/hashtag_pub) sends
the hashtags of data/tweets-a.jsonl (every tweet and every retweeted original, with
their duplicates, in mixed case) and malformed messages; rtp-hashtags reports every
second on stdout and into a real redis-server. The expected counts are computed
here from entities.hashtags, independently of the C code."""

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter

import rtpredis
import rtptest as t
from rtptest import check

INTERVAL_MS = 1000
TOP = 10
REPORT = re.compile(r"^top hashtags (\d\d:\d\d:\d\d(?:\.\d{3})?)-(\d\d:\d\d:\d\d(?:\.\d{3})?) UTC "
                    r"\((\d+) tweets, (\d+) tags\): (.*)$")


_dirs = []


def _remove_dirs():
    if not os.environ.get("RTP_TEST_KEEP"):
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_remove_dirs)


def temp_dir(what):
    d = tempfile.mkdtemp(prefix=f"rtptest-{what}-")
    _dirs.append(d)
    return d


# ---- the stand-in publisher -----------------------------------------------------


class Publisher:
    """tests/helpers/hashtag_pub: stdout to a file, stdin a pipe of files to send."""

    def __init__(self, *args):
        self.dir = temp_dir("hashtag_pub")
        self.out_path = os.path.join(self.dir, "stdout")
        exe = os.path.join(os.environ.get("RTP_TEST_BIN_DIR", "build/tests"), "hashtag_pub")
        with open(self.out_path, "wb") as out:
            self.popen = subprocess.Popen([exe, *map(str, args)], stdin=subprocess.PIPE, stdout=out)

    def wait_line(self, pattern, timeout=10.0, after=0):
        """The match of the first stdout line matching pattern, from line `after` on."""
        regex = re.compile(pattern)

        def find():
            with open(self.out_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()[after:]
            for line in lines:
                m = regex.search(line)
                if m:
                    return m
            if self.popen.poll() is not None:
                raise RuntimeError(f"hashtag_pub exited with {self.popen.returncode}")
            return None

        return t.wait_until(find, timeout, f"hashtag_pub printing {pattern!r}")

    def lines(self):
        with open(self.out_path, "rb") as f:
            return len(f.read().splitlines())

    def send(self, path, timeout=20.0):
        """Sends a file; returns (messages, malformed) once it is sent."""
        after = self.lines()
        self.popen.stdin.write(path.encode() + b"\n")
        self.popen.stdin.flush()
        m = self.wait_line(r"^sent (\d+) messages, (\d+) malformed$", timeout, after)
        return int(m.group(1)), int(m.group(2))

    def stop(self):
        if self.popen.poll() is None:
            self.popen.stdin.close()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


# ---- what the reports must say --------------------------------------------------


def ascii_lower(s):
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in s)


def ascii_swapcase(s):
    return "".join(c.swapcase() if c.isascii() else c for c in s)


def feed_records():
    """(id, [tags]) for each tweet of tweets-a.jsonl and each retweeted original, in
    file order, duplicates included; every other record's tags with ASCII case
    swapped (the counts must not change)."""
    records = []
    with open(t.data_path("tweets-a.jsonl"), encoding="utf-8") as f:
        for line in f:
            tweet = json.loads(line)
            for status in (tweet, tweet.get("retweeted_status")):
                if not status:
                    continue
                tid = status.get("id_str") or str(status.get("id"))
                tags = [h["text"] for h in ((status.get("entities") or {}).get("hashtags") or [])
                        if h.get("text")]
                if len(records) % 2:
                    tags = [ascii_swapcase(x) for x in tags]
                records.append((tid, tags))
    return records


def expected_report(records):
    """(tweets, tags, mentions, duplicates, top) as rtp-hashtags must count them:
    each id once, each tag once per tweet, ASCII case folded, top by count then name."""
    seen = set()
    counts = Counter()
    for tid, tags in records:
        if tid in seen:
            continue
        seen.add(tid)
        counts.update(set(ascii_lower(x) for x in tags))
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode()))[:TOP]
    return len(seen), len(counts), sum(counts.values()), len(records) - len(seen), top


def reports(proc):
    return [m for m in (REPORT.match(line) for line in proc.stdout_text().splitlines()) if m]


def wait_reports(proc, n, timeout):
    return t.wait_until(lambda: (lambda r: r if len(r) >= n else None)(reports(proc)), timeout,
                        f"{n} reports from rtp-hashtags")


def seconds_of_day(hms):
    h, m, s = hms.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def redis_snapshot(r):
    """hashtags:window and hashtags:top, read in one transaction."""
    r.command("MULTI")
    r.command("HGETALL", "hashtags:window")
    r.command("ZRANGE", "hashtags:top", 0, -1, "WITHSCORES")
    r.command("EXISTS", "hashtags:top")
    window, top, exists = r.command("EXEC")
    window = {window[i].decode(): window[i + 1].decode() for i in range(0, len(window), 2)}
    top = {top[i].decode(): int(top[i + 1]) for i in range(0, len(top), 2)}
    return window, top, exists


# ---- the tests ------------------------------------------------------------------


def test_help_and_usage():
    out = subprocess.run([t.bin_path("rtp-hashtags"), "--help"], capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, f"--help exits 0, got {out.returncode}")
    for flag in ("--broker-pub", "--interval-ms", "--top", "--redis-url", "REDIS_URL"):
        check(flag in out.stdout + out.stderr, f"--help mentions {flag}")
    out = subprocess.run([t.bin_path("rtp-hashtags"), "--version"], capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, "--version exits 0")
    out = subprocess.run([t.bin_path("rtp-hashtags"), "--interval-ms", "0"], capture_output=True, text=True,
                         timeout=10)
    check(out.returncode == 2, f"--interval-ms 0 is a usage error (2), got {out.returncode}")


def test_counts_reports_and_redis():
    records = feed_records()
    tweets, tags, mentions, duplicates, top = expected_report(records)
    expected_tail = ", ".join(f"#{tag} {count}" for tag, count in top)
    print(f"feed: {len(records)} records, {tweets} distinct tweets, {duplicates} duplicates, {tags} tags, "
          f"{mentions} mentions; top: {expected_tail}")
    check(duplicates > 0 and tags > TOP, "the feed has duplicates and more tags than the top holds")

    work = temp_dir("hashtags-feed")
    feed = os.path.join(work, "feed.tsv")
    with open(feed, "w", encoding="utf-8") as f:
        for tid, tg in records:
            f.write(f"{tid}\t{' '.join(tg)}\n")

    # Redis starts later, on a port chosen now: first the actor must cope without it.
    server = rtpredis.RedisServer(password="hashtags-pw")
    server.port = rtpredis.free_port()
    db = 2
    # Start 250 ms into a second and send at 5000/s (~150 ms), so each file lands in
    # one 1-second window of the aligned reporter.
    pub = Publisher("--align-ms", INTERVAL_MS, "--offset-ms", 250, "--rate", 5000, "--malformed-every", 10)
    try:
        endpoint = pub.wait_line(r"^bound (\S+)$").group(1)
        proc = t.Proc("rtp-hashtags", ["--broker-pub", endpoint, "--interval-ms", INTERVAL_MS, "--top", TOP,
                                        "--redis-url", f"{server.url}/{db}"])
        pub.wait_line(r"^subscribed 1$")

        # Redis is down: reports are printed all the same, on time (each window follows
        # on from the last: a report late by a window starts the next one afresh), and
        # the outage is logged.
        rs = wait_reports(proc, 3, 30)
        check(all(rs[i].group(1) == rs[i - 1].group(2) for i in range(1, 3)),
              f"three reports in a row while Redis is down: {[m.group(0)[:40] for m in rs]}")
        for m in rs:
            check(m.group(3) == "0" and m.group(5) == "none", f"an empty window reports none: {m.group(0)}")
        full_window = rs[1].group(1), rs[1].group(2)
        check("." not in full_window[0] and (seconds_of_day(full_window[1]) - seconds_of_day(full_window[0])) % 86400 == 1,
              f"a full window is one aligned second: {rs[1].group(0)}")
        proc.wait_log(r"cannot store the hashtags report .*127\.0\.0\.1:%d" % server.port, 5)
        check("hashtags-pw" not in proc.stderr_text(), "the password is not logged")

        server.start()
        r = server.client(db=db)
        for round_no in (1, 2):
            before = len(reports(proc))
            sent, malformed = pub.send(feed)
            check(sent == len(records), f"publisher sent {sent} of {len(records)}")
            check(malformed == sent // 10, f"publisher sent {malformed} malformed")

            def full_report():
                rs = reports(proc)[before:]
                full = [i for i, m in enumerate(rs) if m.group(3) != "0"]
                return (rs, full[0]) if full else None

            rs, at = t.wait_until(full_report, 5, "a report with the feed")
            m = rs[at]
            # Redis holds that report until the next one, a second later.
            window, top_set, _ = t.wait_until(
                lambda: (lambda snap: snap if snap[0].get("start_ms") and
                         (int(snap[0]["start_ms"]) // 1000) % 86400 == seconds_of_day(m.group(1)) else None)
                (redis_snapshot(r)), 0.9, "the report in Redis")
            check(m.group(3) == str(tweets), f"round {round_no}: {m.group(3)} tweets, expected {tweets}")
            check(m.group(4) == str(tags), f"round {round_no}: {m.group(4)} tags, expected {tags}")
            check(m.group(5) == expected_tail, f"round {round_no}: top\n  got      {m.group(5)}\n"
                  f"  expected {expected_tail}")
            print(f"round {round_no}: {m.group(0)}")
            check(top_set == dict(top), f"hashtags:top is the top {TOP}: {top_set}")
            check(window["tweets"] == str(tweets) and window["tags"] == str(tags)
                  and window["mentions"] == str(mentions) and window["duplicates"] == str(duplicates),
                  f"hashtags:window counts: {window}")
            span = int(window["end_ms"]) - int(window["start_ms"])
            check(span == INTERVAL_MS and int(window["start_ms"]) % INTERVAL_MS == 0,
                  f"hashtags:window is one aligned interval: {window}")

            # The next window is empty, in the report and in Redis.
            rs = wait_reports(proc, before + at + 2, 5)[before:]
            check(all(x.group(3) == "0" for i, x in enumerate(rs) if i != at),
                  f"round {round_no}: the feed is in exactly one window: {[x.group(0) for x in rs]}")
            window, top_set, exists = t.wait_until(
                lambda: (lambda snap: snap if snap[0].get("tweets") == "0" else None)(redis_snapshot(r)), 3,
                "the empty report in Redis")
            check(exists == 0 and top_set == {}, "hashtags:top is gone after an empty window")
            check(window["tags"] == "0" and window["duplicates"] == "0", f"empty window: {window}")

        with server.client() as r0:
            check(r0.command("EXISTS", "hashtags:window") == 0, f"nothing written to db 0 (URL says /{db})")
        proc.wait_log(r"is back: storing hashtags reports again", 5)
        check(proc.alive(), "rtp-hashtags is still running after malformed messages")
        r.close()
        rc = proc.stop()
        check(rc == 0, f"SIGTERM: exit 0, got {rc}")
        log = proc.stderr_text()
        dropped = sum(int(x) for x in re.findall(r"dropped (\d+) malformed message", log))
        check(dropped == 2 * malformed, f"every malformed message counted: {dropped}, sent {2 * malformed}")
        check(re.search(r"stopping after \d+ reports: %d tweets counted, %d duplicates skipped, %d malformed"
                        % (2 * tweets, 2 * duplicates, 2 * malformed), log),
              "the final log line has the totals")
        print(f"malformed dropped: {dropped}; warnings: {len(re.findall('dropped', log))}")
    finally:
        pub.stop()
        server.close()


def test_hung_redis_does_not_stall_reports():
    """A 'Redis' that accepts connections and never answers: the reports keep their
    pace, each write giving up after --redis-timeout-ms (100 ms). Kept pace, by the
    actor's own windows: each report's window starts where the last one ended; a write
    that hangs longer than the interval (tried: --redis-timeout-ms 2000) makes the next
    report late, and a late report starts its window afresh at the current one."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    port = hung.getsockname()[1]
    pub = Publisher()
    try:
        endpoint = pub.wait_line(r"^bound (\S+)$").group(1)
        proc = t.Proc("rtp-hashtags", ["--broker-pub", endpoint, "--interval-ms", 500, "--redis-timeout-ms", 100,
                                        "--redis-url", f"redis://127.0.0.1:{port}/1"])
        pub.wait_line(r"^subscribed 1$")
        start = time.monotonic()
        rs = wait_reports(proc, 6, 30)
        took = time.monotonic() - start
        print(f"6 reports in {took:.2f} s against a Redis that never answers")
        # the first window starts when it subscribed, the others follow on
        check(all(rs[i].group(1) == rs[i - 1].group(2) for i in range(1, 6)),
              f"6 half-second reports in a row: {[m.group(1) + '-' + m.group(2) for m in rs]}")
        proc.wait_log(r"cannot store the hashtags report", 2)
        proc.signal(signal.SIGINT)
        rc = proc.popen.wait(5)
        check(rc == 0, f"SIGINT: exit 0, got {rc}")
    finally:
        pub.stop()
        hung.close()


if __name__ == "__main__":
    t.main(globals())
