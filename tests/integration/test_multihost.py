"""Across hosts: three hosts made of Linux network namespaces on one bridge (root
needed; rtpnetns), every endpoint over tcp:// between their addresses, CurveZMQ on
every socket of every process (one key folder made by `rtp keys`).

Host A (10.77.0.1) runs redis-server, rtp-replay (the stand-in server), rtp-broker,
rtp-aggregator, rtp-batcher, rtp-hashtags and two rtp-reader's, wired as `rtp up`
wires them (tools/up.c), but over TCP on A's address. Hosts B and C each run
`rtp supervise`, which starts the workers the broker's pool managers ask of it. The
censor workers have the simulated work on (RTP_WORK_MEAN_MS in the supervisor's
environment, which the workers inherit); the sentiment workers fetch the word list
over HTTP from A.

1. Throughput: the same stream (both bundled files once) with only B's supervisor,
   then with B and C, each host offering 6 worker slots, the censor pool bounded 4:8
   and the others 1 each: one host runs 4 + 1 + 1 workers (it is full), two hosts
   let the pool manager grow the censor pool (to 8), with workers on both hosts. The
   two rates (stored records per second, measured once the pools stopped changing)
   are printed, not compared: on a busy machine a run's rate says more about its
   neighbours than about it (the benchmark's scaling scenario measures this). Every
   Redis row is checked after each run; a worker from host C without the CURVE keys
   never joins.
2. A worker host is cut off (its cable pulled: the bridge port goes down) mid-stream:
   the broker declares its workers and its supervisor lost, re-dispatches their tasks,
   the pool managers put the missing workers on the remaining host (which starts
   them), and every Redis row is right at the end.
"""

import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

# every temporary folder of this run (the processes' logs included) inside one of its
# own, so nothing else that tidies /tmp can take a log from under a running check;
# registered first, so removed last, after the processes and namespaces are gone
_TMP = tempfile.mkdtemp(prefix="rtp-multihost-run-")
tempfile.tempdir = _TMP
if not os.environ.get("RTP_TEST_KEEP"):
    atexit.register(shutil.rmtree, _TMP, True)

import rtpcheck
import rtpnetns
import rtpredis
import rtptest
from rtptest import check

EXPECTED = rtpcheck.expected_from_files()
TOTAL = len(EXPECTED)
WORK_MS = 40   # the censor pool's simulated work per tweet (as rtp up, the other pools have none)
REDIS_PASSWORD = "multihost-test"
CURVE = True   # CurveZMQ on every socket of every process
PORT = {"readers": 5555, "workers": 5556, "results": 5557, "hashtags": 5558, "control": 5559, "batcher": 5560,
        "replay": 4000, "redis": 6379}

JOINED = re.compile(r"rtp-broker\[\d+\] (\w+) worker (\S+) joined")
LOST = re.compile(r"rtp-broker\[\d+\] (\w+) worker (\S+) lost \(([^)]*)\) with (\d+) task\(s\) in flight: re-dispatching")


def _net():
    """The three hosts, or a loud failure saying why they cannot be made."""
    try:
        return rtpnetns.Network(["a", "b", "c"])
    except rtpnetns.NetnsError as e:
        raise AssertionError(f"cannot make network namespaces for the hosts (this test needs root): {e}") from e


class Cluster:
    """One run of the system over the three hosts: host A's services and actors,
    supervisors on B and/or C, a Redis client (from host B, across the bridge)."""

    def __init__(self, net, keys, bounds, replay_rate):
        """bounds: the broker's MIN:MAX (or N) per pool, censor, sentiment, engagement."""
        self.net = net
        self.keys = keys
        self.a = net.addr("a")
        self.ep = {k: f"tcp://{self.a}:{v}" for k, v in PORT.items() if k not in ("replay", "redis")}
        # a password, since Redis serves other hosts (protected mode refuses them otherwise)
        self.redis_url = f"redis://:{REDIS_PASSWORD}@{self.a}:{PORT['redis']}"
        # the keys as a flag on every command line (the workers get them from their
        # supervisor), none in the environment
        self.curve = ["--curve-dir", keys] if CURVE else []
        self.env = {"RTP_CURVE_DIR": "", "RTP_STATS_MS": "1000"}
        self.tmp = tempfile.mkdtemp(prefix="rtp-multihost-")
        self.sups = {}
        self.readers = []
        self.others = []
        self.cut_off = []
        self.redis = net.proc("a", "redis-server",
                              ["--port", PORT["redis"], "--bind", self.a, "--save", "", "--appendonly", "no",
                               "--dir", self.tmp, "--loglevel", "warning", "--requirepass", REDIS_PASSWORD],
                              name="redis-server@a")
        self.client = rtptest.wait_until(self._connect, 10, "redis-server on host A reachable from host B", 0.1)
        self.replay = self._actor("rtp-replay", ["--bind", self.a, "--port", PORT["replay"], "--rate", replay_rate,
                                                 "--burst", "false", "--loops", 1, "--panic-rate", 0])
        self.replay.wait_line(rf"listening on http://{re.escape(self.a)}:{PORT['replay']}", 10)
        self.rtp_url = f"http://{self.a}:{PORT['replay']}"
        self.broker = self._actor("rtp-broker", [
            "--readers", self.ep["readers"], "--workers", self.ep["workers"], "--results", self.ep["results"],
            "--hashtags", self.ep["hashtags"], "--control", self.ep["control"], "--scale-censor", bounds[0],
            "--scale-sentiment", bounds[1], "--scale-engagement", bounds[2]])
        self.broker.wait_log(r"control endpoint: ", 10)
        check(not CURVE or "CURVE on" in self.broker.stderr_text(), "the broker's endpoints are CURVE servers")
        self.aggregator = self._actor("rtp-aggregator", ["--results", self.ep["results"], "--bind", self.ep["batcher"]])
        # its journal (records kept while Redis is away) in this run's folder, as rtp up
        # keeps it in its runtime folder: never one left by another run
        self.batcher = self._actor("rtp-batcher", ["--aggregator", self.ep["batcher"], "--redis-url", self.redis_url,
                                                   "--batch-size", 100, "--batch-ms", 200,
                                                   "--broker", self.ep["readers"]],
                                   env={"RTP_JOURNAL_DIR": os.path.join(self.tmp, "journal")})
        self.hashtags = self._actor("rtp-hashtags", ["--broker-pub", self.ep["hashtags"],
                                                     "--redis-url", self.redis_url])

    def _connect(self):
        try:
            c = rtpredis.RedisClient.on_socket(self.net.connect("b", self.a, PORT["redis"], timeout=1.0))
            c.command("AUTH", REDIS_PASSWORD)
            c.command("PING")
            return c
        except (OSError, rtpredis.RedisError):
            return None

    def _actor(self, exe, args, host="a", env=None, name=None):
        p = self.net.proc(host, rtptest.bin_path(exe), [*self.curve, *args], name=name or f"{exe}@{host}",
                          env={**self.env, **(env or {})})
        self.others.append(p)
        return p

    def supervise(self, host, capacity):
        """Starts `rtp supervise` on host, offering `capacity` worker slots."""
        env = {**self.env, "RTP_WORK_MEAN_MS": str(WORK_MS), "RTP_PRINT": "false",
               "RTP_EMOTION_URL": f"{self.rtp_url}/emotion_values"}
        p = self.net.proc(host, rtptest.bin_path("rtp"),
                          ["supervise", *self.curve, "--control", self.ep["control"], "--workers", self.ep["workers"],
                           "--capacity", capacity, "--name", host], name=f"rtp supervise@{host}", env=env)
        self.sups[host] = p
        self.broker.wait_log(rf"supervisor {host} joined", 10)
        return p

    def workers(self):
        """{worker name: pool} of the workers the broker has now (joined, not lost)."""
        log = self.broker.stderr_text()
        live = {}
        for line in log.splitlines():
            m = JOINED.search(line)
            if m:
                live[m.group(2)] = m.group(1)
            m = LOST.search(line)
            if m:
                live.pop(m.group(2), None)
        return live

    def wait_workers(self, n, timeout=20):
        return rtptest.wait_until(lambda: len(self.workers()) >= n, timeout,
                                  f"{n} workers joined the broker (have {self.workers()})", 0.1)

    def start_readers(self):
        for stream in (1, 2):
            # acknowledgements come once a record is in Redis: with the whole stream
            # queued behind one host's censor workers that can take longer than the
            # default 15 s, and a resend would only add load to what is measured
            self.readers.append(self._actor("rtp-reader", ["--url", f"{self.rtp_url}/tweets/{stream}",
                                                           "--broker", self.ep["readers"],
                                                           "--ack-timeout-ms", 60000],
                                            name=f"rtp-reader#{stream}@a"))

    def stored(self):
        return self.client.command("ZCARD", "tweets")

    def run_until_stored(self, timeout, on_sample=None):
        """Samples (monotonic time, stored, live workers) until every expected tweet
        is stored; on_sample(samples) runs after each sample."""
        samples = []
        deadline = rtptest.Deadline(timeout)
        while True:
            n = self.stored()
            samples.append((time.monotonic(), n, len(self.workers())))
            if on_sample:
                on_sample(samples)
            if n >= TOTAL:
                return samples
            for p in self.others + list(self.sups.values()):
                if not p.alive() and p not in self.cut_off:
                    raise AssertionError(f"{p.name} exited ({p.popen.returncode}):\n{p.stderr_text()[-3000:]}")
            if deadline.expired():
                raise AssertionError(f"only {n} of {TOTAL} tweets stored after {timeout} s; broker log:\n"
                                     f"{self.broker.stderr_text()[-4000:]}")
            time.sleep(0.05)

    def verify(self, label):
        """Every Redis row against the independent computation; no dead letter."""
        time.sleep(0.5)
        report = rtpcheck.check_redis(self.client, EXPECTED)
        letters = rtpcheck.dead_letters(self.client)
        for p in report.problems[:20]:
            print("  problem:", p)
        check(not report.problems, f"{label}: {len(report.problems)} problems in Redis")
        check(not letters, f"{label}: no dead letter, got {letters[:3]}")
        # rtp-hashtags (subscribed to the broker over CURVE) counted the tweets in its
        # reports, and keeps the latest in Redis
        counted = [tuple(map(int, m)) for m in
                   re.findall(r"^top hashtags \S+ UTC \((\d+) tweets, (\d+) tags\)", self.hashtags.stdout_text(), re.M)]
        tweets = sum(n for n, _ in counted)
        check(tweets > 0, f"{label}: rtp-hashtags counted tweets in its reports: {counted}")
        check(self.client.command("EXISTS", "hashtags:window") == 1, f"{label}: the latest hashtag report is in Redis")
        print(f"  {label}: {report.summary()}; dead letters {len(letters)}; rtp-hashtags: {len(counted)} reports, "
              f"{tweets} tweets, {sum(n for _, n in counted)} tags")

    def stop(self):
        """Stops in the order data flows (as rtp up does), each stage at once; raises
        nothing and may be called again. Returns {name: exit code}."""
        stages = [(self.readers, 5), ([self.broker], 12), (list(self.sups.values()), 12),
                  ([self.aggregator], 8), ([self.batcher], 8), ([self.hashtags, self.replay], 5)]
        codes = {}
        for procs, seconds in stages:
            for p in procs:
                p.signal(signal.SIGTERM)
            deadline = rtptest.Deadline(seconds)
            for p in procs:
                try:
                    p.popen.wait(deadline.remaining())
                except subprocess.TimeoutExpired:
                    pass
                codes[p.name] = p.stop(timeout=2)
        try:
            self.client.close()
        except Exception:
            pass
        self.redis.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return codes

    def stop_and_check(self, label):
        """stop(), then: every process exited 0 on SIGTERM, no worker died, and no
        sanitizer report in any log (the workers log through their supervisor)."""
        codes = self.stop()
        bad = {name: code for name, code in codes.items() if code != 0}
        check(not bad, f"{label}: every process exits 0 on SIGTERM: {bad}")
        procs = self.readers + [self.broker, self.aggregator, self.batcher, self.hashtags, self.replay]
        procs += list(self.sups.values())
        for p in procs:
            log = p.stderr_text()
            for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "GIVING UP"):
                check(marker not in log, f"{label}: {marker} in the log of {p.name}:\n{log[-3000:]}")
        for host, p in self.sups.items():
            died = re.findall(r"(rtp-\w+#\d+) died \(([^)]*)\)", p.stderr_text())
            check(not died, f"{label}: workers died on host {host}: {died}")
        print(f"  {label}: {len(codes)} processes exited 0 on SIGTERM, no worker died, no sanitizer report")


def _make_keys():
    folder = tempfile.mkdtemp(prefix="rtp-multihost-keys-")
    subprocess.run([rtptest.bin_path("rtp"), "keys", folder], check=True, capture_output=True, timeout=20)
    return folder


def _rate(samples, start_at):
    """Records stored per second from start_at (monotonic) until 90% of the total."""
    t90 = next(t for t, n, _ in samples if n >= 0.9 * TOTAL)
    n0 = next(n for t, n, _ in samples if t >= start_at)
    n90 = next(n for t, n, _ in samples if t >= t90)
    return (n90 - n0) / max(t90 - start_at, 1e-3), n90 - n0, t90 - start_at


def _throughput_run(hosts, keys):
    """Runs the stream once with supervisors on `hosts` (6 slots each; censor 4:8,
    sentiment 1, engagement 1); returns (steady rate, overall rate, pools at the end)."""
    net = _net()
    cluster = None
    try:
        a = net.addr("a")
        # a censor worker does 1000 / WORK_MS = 25 tweets a second; the stand-in sends
        # both files in about 1.3 s, far faster than 4 or 8 of them can go
        cluster = Cluster(net, keys, ("4:8", "1", "1"), replay_rate=400)
        for h in hosts:
            cluster.supervise(h, 6)
        cluster.wait_workers(6)   # the pools' minimums: 4 + 1 + 1
        intruder = None
        if "c" not in hosts and CURVE:
            # a worker on host C without the keys: the broker must never admit it
            intruder = net.proc("c", rtptest.bin_path("rtp-engagement"),
                                ["--broker", f"tcp://{a}:{PORT['workers']}", "--name", "intruder"],
                                name="intruder@c", env={"RTP_CURVE_DIR": ""})
        start = time.monotonic()
        cluster.start_readers()
        samples = cluster.run_until_stored(120)
        end = samples[-1][0]
        # steady: from the last change of the pools (they grow with the backlog)
        most = max(w for _, _, w in samples)
        settled = next(t for t, _, w in samples if w == most)
        first = next(t for t, n, _ in samples if n >= 0.1 * TOTAL)
        rate, counted, seconds = _rate(samples, max(settled, first))
        overall = TOTAL / (end - start)
        pools = {}
        for pool in cluster.workers().values():
            pools[pool] = pools.get(pool, 0) + 1
        print(f"  hosts {'+'.join(hosts)}: {TOTAL} records in {end - start:.1f} s ({overall:.0f}/s overall); "
              f"{rate:.0f}/s steady ({counted} records in {seconds:.1f} s after the pools settled at {most} "
              f"workers {pools}, {settled - start:.1f} s in)")
        check(counted >= 200 and seconds >= 1.0, f"the steady window holds enough ({counted} records, {seconds:.1f} s)")
        cluster.verify(f"hosts {'+'.join(hosts)}")
        if intruder and CURVE:
            check(intruder.alive(), "the worker without keys kept trying")
            check("intruder joined" not in cluster.broker.stderr_text(), "a worker without the CURVE keys never joins")
            print("  a worker on host C without the keys was never admitted")
        cluster.stop_and_check(f"hosts {'+'.join(hosts)}")
        return rate, overall, pools
    finally:
        if cluster:
            cluster.stop()
        net.close()


def test_a_second_worker_host_grows_the_censor_pool():
    keys = _make_keys()
    try:
        one, one_overall, one_pools = _throughput_run(["b"], keys)
        check(one_pools == {"censor": 4, "sentiment": 1, "engagement": 1},
              f"one host of 6 slots runs the pools' minimums, 4 + 1 + 1: {one_pools}")
        two, two_overall, two_pools = _throughput_run(["b", "c"], keys)
        check(two_pools.get("censor", 0) > 4, f"with two hosts the censor pool grew: {two_pools}")
        print(f"  throughput: 1 worker host {one:.0f}/s, 2 worker hosts {two:.0f}/s: x{two / one:.2f} "
              f"(overall, growth included: {one_overall:.0f}/s, {two_overall:.0f}/s: x{two_overall / one_overall:.2f})")
    finally:
        shutil.rmtree(keys, ignore_errors=True)


def test_a_worker_host_cut_off():
    keys = _make_keys()
    net = _net()
    cluster = None
    try:
        # every pool 4:8; C (6 slots) joins first and takes what fits (6 of the 12
        # minimum workers); B (16 slots) joins next and takes the rest, and has room
        # for all of C's
        cluster = Cluster(net, keys, ("4:8", "4:8", "4:8"), replay_rate=50)
        cluster.supervise("c", 6)
        cluster.wait_workers(6)
        cluster.supervise("b", 16)
        cluster.wait_workers(12)
        on_c = {w: p for w, p in cluster.workers().items() if w.startswith("c/")}
        check(len(on_c) == 6, f"host C runs 6 workers: {on_c}")
        cluster.start_readers()
        cut = {}

        def maybe_cut(samples):
            if not cut and samples[-1][1] >= 0.35 * TOTAL:
                cut["at"] = time.monotonic()
                cut["stored"] = samples[-1][1]
                cut["broker_mark"] = len(cluster.broker.stderr_text())
                cut["b_mark"] = len(cluster.sups["b"].stderr_text())
                net.cut("c")
                cluster.cut_off = [cluster.sups["c"]]

        samples = cluster.run_until_stored(120, maybe_cut)
        check(cut, "host C was cut off mid-stream")
        time.sleep(0.5)
        after = cluster.broker.stderr_text()[cut["broker_mark"]:]
        lost = [m for m in map(LOST.search, after.splitlines()) if m]
        redispatched = sum(int(m.group(4)) for m in lost)
        for m in lost:
            print(f"  broker: {m.group(1)} worker {m.group(2)} lost ({m.group(3)}), {m.group(4)} task(s) re-dispatched")
        check(redispatched > 0, "the lost workers' tasks were re-dispatched")
        # six workers falling silent at once are one incident, not six crashes: a task
        # with speculative copies on several of them is not poison (it was, once)
        poison = re.findall(r"\bpoison (\d+)", cluster.broker.stderr_text())
        check(poison and poison[-1] == "0", f"no poison from the cut: {poison[-1:]}")
        # host C's workers fall silent; host B's may leave too, saying goodbye, when a
        # pool manager shrinks a pool after the load (a scale-down, not a loss)
        silent = {m.group(2) for m in lost if m.group(3) != "disconnected"}
        left = {m.group(2) for m in lost if m.group(3) == "disconnected"}
        check(silent == set(on_c), f"the broker declared every worker of host C lost: {sorted(silent)} "
                                   f"vs {sorted(on_c)}")
        check(not (left & set(on_c)) and all(n.startswith("b/") for n in left),
              f"only host B's workers left by saying goodbye: {sorted(left)}")
        sup_lost = re.search(r"supervisor c lost \(([^)]*)\): its (\d+) censor, (\d+) sentiment, (\d+) engagement", after)
        check(sup_lost, f"the broker declared the supervisor of host C lost:\n{after[-3000:]}")
        print(f"  broker: supervisor c lost with {sup_lost.group(2)} censor, {sup_lost.group(3)} sentiment, "
              f"{sup_lost.group(4)} engagement workers")
        decisions = re.findall(r"autoscale (\w+) pool: (\d+) -> (\d+) workers", after)
        for d in decisions:
            print(f"  broker: autoscale {d[0]} pool {d[1]} -> {d[2]}")
        moved = {p for p in on_c.values()}
        check(all(any(d[0] == p and int(d[2]) > int(d[1]) for d in decisions) for p in moved),
              f"the pool managers grew every pool that lost workers ({sorted(moved)}): {decisions}")
        b_after = cluster.sups["b"].stderr_text()[cut["b_mark"]:]
        started = re.findall(r"the broker asks for (\d+) (\w+) worker\(s\): started (\d+)", b_after)
        for s in started:
            print(f"  supervisor b: asked for {s[0]} {s[1]} worker(s), started {s[2]}")
        check(all(any(s[1] == p for s in started) for p in moved),
              f"host B started the missing workers of every pool ({sorted(moved)}): {started}")
        live = cluster.workers()
        check(not any(w.startswith("c/") for w in live), f"no worker of host C is counted any more: {live}")
        per_pool = {}
        for p in live.values():
            per_pool[p] = per_pool.get(p, 0) + 1
        check(all(per_pool.get(p, 0) >= 4 for p in ("censor", "sentiment", "engagement")),
              f"every pool back to at least its minimum on host B: {per_pool}")
        print(f"  cut host C at {cut['stored']} of {TOTAL} stored; {len(lost)} workers lost with {redispatched} "
              f"task(s) re-dispatched; host B now runs {per_pool}; all {TOTAL} stored "
              f"{samples[-1][0] - cut['at']:.1f} s after the cut")
        cluster.verify("after the cut")
        cluster.stop_and_check("after the cut")
    finally:
        if cluster:
            cluster.stop()
        net.close()
        shutil.rmtree(keys, ignore_errors=True)


if __name__ == "__main__":
    rtptest.main(globals())
