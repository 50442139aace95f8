"""The broker's /metrics under `rtp up`, against what really happened.

One end-to-end run (a redis-server of the test, the stand-in server over both
bundled files once, panics mixed in, fixed pools of 3/2/2 workers) during which the
test kills -9 one censor worker (a child of this rtp up, nothing else). Then the
counters scraped from http://.../metrics (parsed here with an independent parser)
must agree with:
- Redis: every tweet stored; dead letters == LLEN deadletter, panic dead letters ==
  panics received;
- the readers' own final stats: events received == records the readers sent;
- the faults: the killed worker was lost, workers lost == censor restarts rtp up
  logged (every death is one lost worker) == the restarts the supervisor reported
  (rtp_broker_worker_restarts_total), no other pool restarted;
- themselves: each pool's results == tweets received, the task-time histogram's
  count == results, buckets cumulative, gauges == the pool sizes.
Also: the run info files rtp up writes (and removes), 404 off /metrics, and the
content type.
"""

import json
import os
import re
import shutil
import signal
import tempfile
import time
import urllib.error
import urllib.request

import rtpcheck
import rtpredis
import rtptest
from rtptest import check

EXPECTED = rtpcheck.expected_from_files()
TOTAL = len(EXPECTED)
POOLS = {"censor": 3, "sentiment": 2, "engagement": 2}

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} of a text-format page; TYPE lines
    as {name: type}. Raises ValueError on a line that is not in the format."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"not a sample line: {line!r}")
        labels = {}
        rest = m.group(3) or ""
        pos = 0
        while pos < len(rest):
            lm = _LABEL.match(rest, pos)
            if not lm:
                raise ValueError(f"bad labels in {line!r}")
            value = re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1), lm.group(2))
            labels[lm.group(1)] = value
            pos = lm.end()
        samples[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return samples, types


class Metrics:
    def __init__(self, url):
        self.url = url

    def scrape(self):
        with urllib.request.urlopen(self.url, timeout=10) as resp:
            self.status = resp.status
            self.content_type = resp.headers.get("Content-Type")
            self.samples, self.types = parse_metrics(resp.read().decode("utf-8"))
        return self

    def get(self, name, **labels):
        return self.samples.get((name, frozenset(labels.items())))


children = rtptest.children   # what `pgrep -P ppid -x exe` lists


def worker_name(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().decode("utf-8", "replace").split("\0")
    return argv[argv.index("--name") + 1] if "--name" in argv[:-1] else None


def start_up(redis, runtime_dir, xdg, *extra, rate=150, loops=1, panic_rate=0.01, env=None):
    sizes = [a for pool, n in POOLS.items() for a in (f"--{pool}-workers", n)]
    return rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--runtime-dir", runtime_dir, "--print", "false",
                                "--max-restarts", 1000, "--replay-loops", loops, "--replay-rate", rate,
                                "--replay-burst", "false", "--replay-panic-rate", panic_rate, "--batch-size", 50,
                                "--batch-ms", 100, *sizes, *extra],
                        env={"XDG_RUNTIME_DIR": xdg, "RTP_WORK_MEAN_MS": "5", **(env or {})})


def read_runinfo(up, runtime_dir, timeout=30):
    """The rtp-up.json rtp up wrote (waits for it)."""
    path = os.path.join(runtime_dir, "rtp-up.json")

    def ready():
        if not up.alive():
            raise AssertionError(f"rtp up exited:\n{up.stderr_text()[-3000:]}")
        return os.path.exists(path)
    rtptest.wait_until(ready, timeout, "rtp-up.json written", interval=0.05)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_counters_agree_with_redis_readers_and_faults():
    runtime_dir = tempfile.mkdtemp(prefix="rtpmetrics-")
    xdg = tempfile.mkdtemp(prefix="rtpmetrics-xdg-")
    try:
        with rtpredis.RedisServer() as redis, redis.client() as c:
            up = start_up(redis, runtime_dir, xdg, "--status-ms", 1000, env={"RTP_STATS_MS": "1000"})
            info = read_runinfo(up, runtime_dir)
            url = info["broker_metrics"]
            check(re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", url) is not None, f"a metrics URL: {url}")
            check(info["pid"] == up.pid and info["redis_url"] == redis.url and info["runtime_dir"] == runtime_dir,
                  f"rtp-up.json names this rtp up: {info}")
            check(set(info["endpoints"]) >= {"readers", "workers", "control"}, f"endpoints: {info['endpoints']}")
            with open(os.path.join(xdg, "rtp-current.json"), encoding="utf-8") as f:
                check(json.load(f) == info, "the pointer file holds the same run info")
            m = Metrics(url)
            rtptest.wait_until(lambda: _try_scrape(m), 20, "the broker's /metrics answering")
            check(m.status == 200 and m.content_type.startswith("text/plain; version=0.0.4"),
                  f"200 text/plain; version=0.0.4, got {m.status} {m.content_type}")
            try:
                urllib.request.urlopen(url.replace("/metrics", "/"), timeout=5)
                check(False, "GET / answered 200")
            except urllib.error.HTTPError as e:
                check(e.code == 404, f"GET / is 404, got {e.code}")
            for name in ("rtp_broker_tweets_total", "rtp_broker_workers_lost_total", "rtp_broker_results_total"):
                check(m.types.get(name) == "counter", f"{name} is a counter: {m.types.get(name)}")
            check(m.types.get("rtp_broker_task_seconds") == "histogram", "the task time is a histogram")
            check(m.types.get("rtp_broker_workers") == "gauge", "workers is a gauge")

            rtptest.wait_until(lambda: c.command("ZCARD", "tweets") >= 100 or not up.alive(), 60,
                               "the first 100 tweets stored")
            check(up.alive(), "rtp up runs")
            pid = rtptest.wait_until(lambda: (children(up.pid, "rtp-censor") or [None])[0], 30, "a censor worker")
            wname = worker_name(pid)
            check(wname is not None and pid in children(up.pid, "rtp-censor"),
                  f"pid {pid} is a censor worker child of our rtp up ({wname})")
            os.kill(pid, signal.SIGKILL)
            killed_at = c.command("ZCARD", "tweets")
            lost_line = re.compile(rf"rtp-broker\[\d+\] censor worker {re.escape(wname)} lost ")
            rtptest.wait_until(lambda: lost_line.search(up.stderr_text()), 30, f"the broker losing {wname}")

            def all_stored():
                if not up.alive():
                    raise AssertionError(f"rtp up exited:\n{up.stderr_text()[-3000:]}")
                return c.command("ZCARD", "tweets") >= TOTAL
            rtptest.wait_until(all_stored, 240, f"{TOTAL} tweets stored", interval=0.2)

            # Quiet: nothing in flight, no counter moving, every worker back, every
            # death restarted.
            def settled():
                a = Metrics(url).scrape()
                time.sleep(1.0)
                b = Metrics(url).scrape()
                log = up.stderr_text()
                restarts = len(re.findall(r"\] restarted rtp-censor#", log))
                quiet = (a.samples == b.samples and b.get("rtp_broker_events_in_flight") == 0
                         and all(b.get("rtp_broker_workers", pool=p) == n for p, n in POOLS.items())
                         and restarts == b.get("rtp_broker_workers_lost_total")
                         and restarts == b.get("rtp_broker_worker_restarts_total", pool="censor")
                         and c.command("LLEN", "deadletter") == b.get("rtp_broker_dead_letters_total"))
                return b if quiet else None
            try:
                final = rtptest.wait_until(settled, 90, "the system settled", interval=0.2)
            except TimeoutError:
                print(up.stderr_text()[-4000:])
                raise
            letters = rtpcheck.dead_letters(c)
            stored = c.command("ZCARD", "tweets")
            log_before_stop = up.stderr_text()
            # least connected at work: the broker's per-pool lines of tasks given to each
            # worker; two equal, idle-most-of-the-time workers (no simulated work in the
            # sentiment pool) share the tasks about evenly, ties broken in turn
            given = {}
            for pool, rest in re.findall(r"\] least connected, (\w+) pool \([^)]*\): tasks since the last line (.*)",
                                         log_before_stop):
                for name, count in re.findall(r"(\S+) (\d+) \(\d+ in flight\)", rest):
                    given.setdefault(pool, {}).setdefault(name, 0)
                    given[pool][name] += int(count)
            shares = sorted(given.get("sentiment", {}).values())
            check(len(shares) >= 2 and sum(shares) > 200 and shares[0] >= 0.75 * shares[-1],
                  f"the sentiment workers got about as many tasks each: {given.get('sentiment')}")
            # rtp up's own one-line status, from the same pages
            status = re.findall(r"\] status: (.*)", log_before_stop)
            check(len(status) >= 3, f"rtp up printed its status line every second: {len(status)} lines")
            want = (r"in \d+ tweets/s, in flight \d+ \| censor 3 workers, \d+ queued; sentiment 2 workers, \d+ "
                    r"queued; engagement 2 workers, \d+ queued \| hosts local \d+/\d+ \(censor 3, sentiment 2, "
                    r"engagement 2\) \| dead letters \d+, workers lost \d+ \| stored "
                    r"\d+ records/s, Redis up, journal 0 records")
            check(re.fullmatch(want, status[-1]) is not None, f"the last status line reads right: {status[-1]!r}")

            code = up.stop(timeout=90)
            log = up.stderr_text()
            check(code == 0, f"rtp up exits 0, got {code}")
            check(not os.path.exists(os.path.join(runtime_dir, "rtp-up.json")), "rtp-up.json removed at exit")
            check(not os.path.exists(os.path.join(xdg, "rtp-current.json")), "the pointer removed at exit")

        g = final.get
        tweets, panics, malformed, events = (g("rtp_broker_tweets_total"), g("rtp_broker_panics_total"),
                                             g("rtp_broker_malformed_total"), g("rtp_broker_events_total"))
        lost = g("rtp_broker_workers_lost_total")
        # the readers' side
        readers = {}
        for name in ("tweets-1", "tweets-2"):
            lines = [ln for ln in log.splitlines() if f"] final stats {name}:" in ln]
            check(len(lines) == 1, f"reader {name} logged its final stats once")
            counts = lines[0].split(f"final stats {name}:", 1)[1]
            readers[name] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
        records = sum(r["records"] for r in readers.values())
        resent = sum(r.get("resent", 0) for r in readers.values())
        reader_panics = sum(r["panics"] for r in readers.values())
        check(events == records + resent,
              f"broker events {events} == records the readers sent {records} (+ resent {resent})")
        check(events == tweets + panics + malformed, f"events {events} = tweets {tweets} + panics {panics} + "
                                                     f"malformed {malformed}")
        check(resent > 0 or panics == reader_panics, f"panics in {panics} == panics read {reader_panics}")
        check(malformed == 0, f"no malformed events from the stand-in server: {malformed}")
        # Redis
        check(stored == TOTAL, f"{TOTAL} distinct tweets stored, got {stored}")
        check(tweets >= stored, f"tweets in {tweets} >= tweets stored {stored} (duplicates are stored once)")
        panic_letters = [d for d in letters if d["reason"].startswith("panic")]
        check(g("rtp_broker_dead_letters_total") == len(letters),
              f"dead letters {g('rtp_broker_dead_letters_total')} == LLEN deadletter {len(letters)}")
        check(len(panic_letters) == panics and len(letters) == panics,
              f"every panic is one dead letter and nothing else is: {panics} panics, {len(panic_letters)} "
              f"panic letters of {len(letters)}")
        check(panics > 0, "the stream had panics")
        check(g("rtp_broker_poison_total") == 0, "no poison")
        # faults
        restarts = {p: len(re.findall(rf"\] restarted rtp-{p}#", log_before_stop)) for p in POOLS}
        lost_lines = re.findall(r"rtp-broker\[\d+\] \w+ worker \S+ lost ", log_before_stop)
        check(lost == len(lost_lines), f"workers lost {lost} == lost lines in the broker's log {len(lost_lines)}")
        check(lost == restarts["censor"], f"workers lost {lost} == censor restarts {restarts['censor']}")
        check(restarts["sentiment"] == 0 and restarts["engagement"] == 0, f"no other pool restarted: {restarts}")
        reported = {p: g("rtp_broker_worker_restarts_total", pool=p) for p in POOLS}
        check(reported == restarts, f"the supervisors' restarts as the broker reports them {reported} == "
                                    f"the restarts rtp up logged {restarts}")
        check(lost >= 1 and lost <= panics + 1, f"lost {lost}: our kill plus at most one per panic ({panics})")
        # the pools
        for pool in POOLS:
            results = g("rtp_broker_results_total", pool=pool)
            check(results == tweets, f"{pool}: one result per tweet ({results} of {tweets})")
            count = g("rtp_broker_task_seconds_count", pool=pool)
            check(count == results, f"{pool}: task-time count {count} == results {results}")
            buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in final.samples.items()
                              if k[0] == "rtp_broker_task_seconds_bucket" and dict(k[1]).get("pool") == pool))
            check(len(buckets) >= 2 and buckets[-1] == (float("inf"), count), f"{pool}: +Inf bucket == count")
            check(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), f"{pool}: buckets cumulative")
            check(g("rtp_broker_task_seconds_sum", pool=pool) > 0, f"{pool}: task time summed")
            check(g("rtp_broker_dispatched_total", pool=pool) >= results, f"{pool}: dispatched >= results")
            check(g("rtp_broker_backlog", pool=pool) == 0 and g("rtp_broker_tasks_in_flight", pool=pool) == 0,
                  f"{pool}: nothing waiting or in flight at the end")
        check(g("rtp_broker_speculative_wins_total") > 0, "speculative censor copies won")
        print(f"  {len(final.samples)} samples; events {events:g} = records {records} + resent {resent}; "
              f"tweets {tweets:g}, stored {stored}; panics {panics:g} = dead letters {len(letters)}; "
              f"killed {wname} at {killed_at} stored; workers lost {lost:g} = censor restarts; "
              f"results {tweets:g} per pool")
    finally:
        shutil.rmtree(runtime_dir, ignore_errors=True)
        shutil.rmtree(xdg, ignore_errors=True)


def _try_scrape(m):
    try:
        m.scrape()
        return True
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


if __name__ == "__main__":
    rtptest.main(globals())
