"""`rtp top` on a running system (`rtp up` with a redis-server of the test and the
stand-in server streaming without end, fixed pools of 3/2/2 workers).

1. In a terminal (tmux on a private socket, 160x40): with no arguments it finds the
   system through the run info rtp up wrote, and draws the pools with their worker
   counts and live rates, the end-to-end latency percentiles (from the batcher's
   page), the current top hashtags, the same as Redis holds in hashtags:top, and
   the latest errors, the newest dead letters in Redis with their reasons (the
   stream has 2 % panics);
   q quits with status 0 and the screen is given back.
2. With stdout a pipe: one plain status line per interval, no escape codes, the
   numbers of the running system, then it stops after --count; --redis-url none
   leaves the hashtags out, a Redis that is not there is said on the screen.
3. Without a system: a clear error and status 1, at once; a dead URL: an error
   line and status 1.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import rtpredis
import rtptest
from rtptest import check

POOLS = {"censor": 3, "sentiment": 2, "engagement": 2}


class System:
    """rtp up running until closed, its run info in a private XDG_RUNTIME_DIR."""

    def __init__(self, redis):
        self.runtime_dir = tempfile.mkdtemp(prefix="rtptop-")
        self.xdg = tempfile.mkdtemp(prefix="rtptop-xdg-")
        sizes = [a for pool, n in POOLS.items() for a in (f"--{pool}-workers", n)]
        self.up = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--runtime-dir", self.runtime_dir,
                                       "--print", "false", "--replay-rate", 100, "--replay-burst", "false",
                                       "--replay-panic-rate", 0.02,
                                       "--replay-loops", 0, *sizes],
                               env={"XDG_RUNTIME_DIR": self.xdg, "RTP_WORK_MEAN_MS": "5"})
        with redis.client() as c:
            def flowing():
                if not self.up.alive():
                    raise AssertionError(f"rtp up exited:\n{self.up.stderr_text()[-3000:]}")
                return c.command("ZCARD", "tweets") >= 50
            rtptest.wait_until(flowing, 60, "tweets flowing", interval=0.1)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=self.xdg)

    def close(self):
        if self.up.alive():
            code = self.up.stop(timeout=60)
            check(code == 0, f"rtp up exits 0, got {code}")
        shutil.rmtree(self.runtime_dir, ignore_errors=True)
        shutil.rmtree(self.xdg, ignore_errors=True)


class Tmux:
    """A tmux server of our own (its own socket), so nothing else is touched."""

    def __init__(self):
        if not shutil.which("tmux"):
            raise AssertionError("tmux is not installed (scripts/deps.sh installs it)")
        self.socket = f"rtptest-top-{os.getpid()}"

    def run(self, *args, check_rc=True):
        # -u: the panes speak UTF-8 whatever the locale (hashtags come in every script)
        p = subprocess.run(["tmux", "-u", "-L", self.socket, *args], capture_output=True, text=True,
                           encoding="utf-8", errors="replace", timeout=10)
        if check_rc and p.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {p.stderr}")
        return p

    def capture(self):
        return self.run("capture-pane", "-p", "-t", "top").stdout

    def alive(self):
        return self.run("has-session", "-t", "top", check_rc=False).returncode == 0

    def close(self):
        self.run("kill-server", check_rc=False)


def run_top(*args, env=None, timeout=30):
    """rtp top with stdout and stderr captured (not a terminal)."""
    return subprocess.run([rtptest.bin_path("rtp"), "top", *[str(a) for a in args]], capture_output=True,
                          text=True, encoding="utf-8", errors="replace", timeout=timeout, env=env)


def _redis_top(redis):
    """[(tag, count)] of hashtags:top, most counted first (as ZREVRANGE orders ties)."""
    with redis.client() as c:
        flat = c.command("ZREVRANGE", "hashtags:top", 0, 9, "WITHSCORES")
    return [(flat[i].decode("utf-8", "replace"), int(flat[i + 1])) for i in range(0, len(flat), 2)]


def _redis_letters(redis):
    """The reasons of the three newest dead letters, the newest first, and LLEN."""
    with redis.client() as c:
        tail = c.command("LRANGE", "deadletter", -3, -1)
        total = c.command("LLEN", "deadletter")
    return [json.loads(x)["reason"] for x in reversed(tail)], total


def _screen_letters(screen):
    """The reasons under "latest errors", and the count it names (None: no such lines)."""
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"latest errors \((\d+) dead letters in Redis\), the newest first:$", line)
        if m:
            reasons = []
            for ln in lines[i + 1:i + 4]:
                r = re.match(r"  \d\d:\d\d:\d\d  (.+?)  \(\S+\)$", ln)
                if not r:
                    break
                reasons.append(r.group(1))
            return reasons, int(m.group(1))
    return None


def _letters_shown(screen):
    """How many dead letters the screen lists under "latest errors"."""
    found = _screen_letters(screen)
    return len(found[0]) if found else 0


def _screen_hashtags(screen):
    """[(tag, count)] on the line under "top hashtags", whole pairs only (the
    screen's width may cut the last one)."""
    lines = screen.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("top hashtags"):
            pairs = re.findall(r"#(\S+) (\d+)(?=\s|$)", lines[i + 1])
            return [(tag, int(n)) for tag, n in pairs]
    return None


def _pool_rows(screen):
    """{pool: [columns]} of the pool table on a full screen."""
    rows = {}
    for line in screen.splitlines():
        words = line.split()
        if words and words[0] in POOLS:
            rows[words[0]] = words[1:]
    return rows


def test_full_screen_in_tmux_then_plain_lines():
    with rtpredis.RedisServer() as redis:
        system = System(redis)
        tmux = Tmux()
        tmp = tempfile.mkdtemp(prefix="rtptop-tmux-")
        try:
            status_file = os.path.join(tmp, "status")
            command = (f"env XDG_RUNTIME_DIR={system.xdg} {rtptest.bin_path('rtp')} top --interval-ms 500; "
                       f"echo $? > {status_file}")
            tmux.run("new-session", "-d", "-s", "top", "-x", "160", "-y", "40", "sh", "-c", command)

            def drawn():
                screen = tmux.capture()
                rows = _pool_rows(screen)
                tweets = re.search(r"^tweets\s+(\d+)\s+([\d.]+)\s*$", screen, re.M)
                latency = re.search(r"^latency reader to Redis: p50 ([\d.]+) ms   p90 ([\d.]+) ms   p99 ([\d.]+) ms",
                                    screen, re.M)
                if len(rows) == 3 and tweets and all(r[4] != "-" for r in rows.values()) and latency \
                        and _screen_hashtags(screen) and _letters_shown(screen) == 3:
                    # (three dead letters to show: the 2 % panics make them within seconds)
                    return screen
                return None
            try:
                screen = rtptest.wait_until(drawn, 20, "rtp top drawing the pools with rates", interval=0.2)
            except TimeoutError:
                print(tmux.capture())
                raise
            print("  the screen:\n" + "\n".join("    " + ln for ln in screen.rstrip().splitlines()))
            check("rtp top  http://127.0.0.1:" in screen, "the header names the metrics URL rtp up wrote")
            rows = _pool_rows(screen)
            for pool, n in POOLS.items():
                # a censor worker that crashed on a panic is missing until it is back
                shown_ok = rows[pool][0] == str(n) or (pool == "censor" and int(rows[pool][0]) <= n)
                check(shown_ok and rows[pool][1] == str(n),
                      f"{pool}: {n} workers shown (censor: up to {n}) and targeted, got {rows[pool][:2]}")
                check(float(rows[pool][4]) > 0, f"{pool}: a live result rate, got {rows[pool][4]}")
            tweets = re.search(r"^tweets\s+(\d+)\s+([\d.]+)\s*$", screen, re.M)
            check(int(tweets.group(1)) > 0 and float(tweets.group(2)) > 0, f"tweets and their rate: {tweets.group(0)}")
            check(re.search(r"^workers lost \d+ \(\d+ in the last minute\)   restarted \d+ ", screen, re.M) is not None,
                  "the faults line")
            check(re.search(r"^dead letters\s+\d+", screen, re.M) is not None, "the dead letters")
            check(re.search(r"^hosts \(workers/capacity\): local \d+/64", screen, re.M) is not None,
                  "the hosts line: rtp up's own supervisor, its workers and its capacity")
            p50, p90, p99 = (float(x) for x in re.search(
                r"^latency reader to Redis: p50 ([\d.]+) ms   p90 ([\d.]+) ms   p99 ([\d.]+) ms", screen, re.M).groups())
            check(0 < p50 <= p90 <= p99 < 60000, f"end-to-end latency percentiles in order: {p50} {p90} {p99}")
            check(re.search(r"^top hashtags \(window ended \d+ s ago, \d+ tweets\)", screen, re.M) is not None,
                  "the hashtags' window")
            # what the screen shows is what Redis holds (read around a capture, as the
            # report is replaced every 5 s)
            for _ in range(10):
                before = _redis_top(redis)
                shown = _screen_hashtags(tmux.capture())
                after = _redis_top(redis)
                if shown and (shown == before[:len(shown)] or shown == after[:len(shown)]):
                    break
                time.sleep(0.6)
            check(shown and (shown == before[:len(shown)] or shown == after[:len(shown)]),
                  f"the top hashtags as Redis holds them: shown {shown}, Redis {before} / {after}")
            print(f"  top hashtags: {shown}")
            for _ in range(10):
                before = _redis_letters(redis)
                shown = _screen_letters(tmux.capture())
                after = _redis_letters(redis)
                if shown in (before, after):
                    break
                time.sleep(0.6)
            check(shown in (before, after) and len(shown[0]) == 3,
                  f"the latest errors as Redis holds them: shown {shown}, Redis {before} / {after}")
            check(all(r.startswith("panic") for r in shown[0]), f"the stream's panics: {shown[0]}")
            check(re.search(r"restarted [1-9]\d* ", tmux.capture()) is not None or
                  rtptest.wait_until(lambda: re.search(r"restarted [1-9]\d* ", tmux.capture()), 10,
                                     "workers restarted after panics"), "workers restarted after panics")
            # a second frame shows newer totals
            first = int(tweets.group(1))
            rtptest.wait_until(lambda: int(re.search(r"^tweets\s+(\d+)", tmux.capture(), re.M).group(1)) > first,
                               10, "the screen refreshed with more tweets")
            tmux.run("send-keys", "-t", "top", "q")
            rtptest.wait_until(lambda: os.path.exists(status_file) and not tmux.alive(), 10, "rtp top quitting on q")
            with open(status_file, encoding="utf-8") as f:
                status = f.read().strip()
            check(status == "0", f"rtp top exits 0 on q, got {status}")

            # not a terminal: plain lines
            p = run_top("--interval-ms", 300, "--count", 3, env=system.env)
            check(p.returncode == 0, f"rtp top --count 3 exits 0, got {p.returncode}: {p.stderr}")
            lines = p.stdout.splitlines()
            check(len(lines) == 3, f"3 status lines, got {len(lines)}: {p.stdout!r}")
            check("\033" not in p.stdout, "no escape codes when stdout is not a terminal")
            line = re.compile(r"^\d\d:\d\d:\d\d tweets=(\d+) tweets_rate=([\d.]+|-)/s events_in_flight=\d+"
                              r"( \| (\w+) workers=(\d+) in_flight=\d+ backlog=\d+ results=([\d.]+|-)/s "
                              r"p50=([\d.]+|-)ms p99=([\d.]+|-)ms){3} \| lost=\d+ restarted=\d+ poison=\d+ dead_letters=\d+"
                              r" \| hosts=local:\d+/64"
                              r" \| latency_p50=([\d.]+|-)ms latency_p99=([\d.]+|-)ms"
                              r" \| hashtags=(\S+:\d+)(,\S+:\d+)*$")
            for ln in lines:
                check(line.match(ln) is not None, f"a status line: {ln!r}")
            check(re.search(r"latency_p99=[\d.]+ms", lines[-1]) is not None, f"a latency from the 2nd line on: {lines[-1]}")
            check(lines[0].split(" ")[1] != "tweets=0", "tweets counted")
            last = lines[-1]
            check(re.search(r"tweets_rate=[\d.]+/s", last) is not None, f"a tweet rate from the 2nd line on: {last}")
            for pool, n in POOLS.items():
                shown = int(re.search(rf"\| {pool} workers=(\d+) ", last).group(1))
                check(shown == n or (pool == "censor" and shown <= n), f"{pool} with {n} workers in {last!r}")
            print(f"  plain: {last}")

            # no hashtags when told; a Redis that is not there is said, the rest goes on
            p = run_top("--interval-ms", 300, "--count", 1, "--redis-url", "none", env=system.env)
            check(p.returncode == 0 and "hashtags=" not in p.stdout, f"--redis-url none: {p.stdout!r}")
            dead = f"redis://127.0.0.1:{rtptest.free_port()}"
            command = (f"env XDG_RUNTIME_DIR={system.xdg} {rtptest.bin_path('rtp')} top --interval-ms 300 "
                       f"--redis-url {dead}")
            tmux.run("new-session", "-d", "-s", "top", "-x", "160", "-y", "40", "sh", "-c", command)
            screen = rtptest.wait_until(lambda: (lambda sc: sc if "top hashtags: " in sc and "tweets" in sc else None)(
                tmux.capture()), 10, "rtp top saying Redis cannot be read", interval=0.2)
            said = [ln for ln in screen.splitlines() if ln.startswith("top hashtags: ")][0]
            check(str(dead.split(":")[-1]) in said, f"names the Redis it could not read: {said!r}")
            check(_pool_rows(screen).keys() == POOLS.keys(), "and the pools are still shown")
            print(f"  without Redis: {said!r}")
            tmux.run("send-keys", "-t", "top", "q")
            rtptest.wait_until(lambda: not tmux.alive(), 10, "rtp top quitting on q")
        finally:
            tmux.close()
            shutil.rmtree(tmp, ignore_errors=True)
            system.close()


def test_no_system_and_dead_url():
    empty = tempfile.mkdtemp(prefix="rtptop-none-")
    try:
        start = time.monotonic()
        p = run_top("--count", 1, env=dict(os.environ, XDG_RUNTIME_DIR=empty))
        check(p.returncode == 1, f"no system: status 1, got {p.returncode}")
        check("no running rtp up found" in p.stderr, f"says why: {p.stderr!r}")
        # at once, not after retrying (generous: a busy machine starts processes slowly)
        check(time.monotonic() - start < 20, "at once")
        # a pointer naming a process that is gone
        with open(os.path.join(empty, "rtp-current.json"), "w", encoding="utf-8") as f:
            f.write('{"pid": 999999999, "broker_metrics": "http://127.0.0.1:9/metrics"}')
        p = run_top("--count", 1, env=dict(os.environ, XDG_RUNTIME_DIR=empty))
        check(p.returncode == 1 and "no longer running" in p.stderr, f"a stale pointer: {p.returncode} {p.stderr!r}")
        port = rtptest.free_port()
        p = run_top("--broker-metrics", f"http://127.0.0.1:{port}/metrics", "--count", 2, "--interval-ms", 200)
        lines = p.stdout.splitlines()
        check(p.returncode == 1, f"a dead URL: status 1, got {p.returncode}")
        check(len(lines) == 2 and all(" error=" in ln for ln in lines), f"an error line per interval: {lines}")
        print(f"  errors: {p.stderr.strip()!r}; {lines[0]!r}")
    finally:
        shutil.rmtree(empty, ignore_errors=True)


if __name__ == "__main__":
    rtptest.main(globals())
