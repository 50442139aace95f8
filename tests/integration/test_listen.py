"""Across hosts in two commands (README "Across hosts"): three hosts made of Linux
network namespaces on one bridge (root needed; rtpnetns), on a subnet of their own
(10.78.0.0/24, so that this test runs beside test_multihost).

Host A runs `rtp up --listen 10.78.0.1 --curve-dir KEYS --capacity 0`: the whole
system with its private Redis and the stand-in server, but no worker. Hosts B and C
each run `rtp supervise --join 10.78.0.1 --curve-dir WKEYS`, with only the three
files a worker host gets (server.key, client.key, client.key_secret): the workers
endpoint, the workers' settings and the sentiment word list come from the broker.

Along one stream:
1. an unkeyed supervisor (on B) and one whose key is not authorized (on C) are
   refused, and both sides log it;
2. the status line shows the hosts and their workers;
3. C's cable is pulled for a while (its supervisor and workers lost), then put
   back (they come back);
4. B's supervisor is stopped with SIGINT (Ctrl-C) mid-stream: it says goodbye, its
   workers hand their tasks back, C takes over;
and at the end every Redis row is checked against the independent computation,
and every process exits 0.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import rtpcheck
import rtpnetns
import rtpredis
import rtptest
from rtptest import check

EXPECTED = rtpcheck.expected_from_files()
TOTAL = len(EXPECTED)
SUBNET = "10.78.0"
RATE = 15   # events per second per stream: the stream lasts about 40 s

LOST = re.compile(r"(\w+) worker (\S+) lost \(([^)]*)\) with (\d+) task\(s\) in flight")


def _net():
    try:
        return rtpnetns.Network(["a", "b", "c"], subnet=SUBNET)
    except rtpnetns.NetnsError as e:
        raise AssertionError(f"cannot make network namespaces for the hosts (this test needs root): {e}") \
            from e


def _keys(root):
    """KEYS (host A's: every file `rtp keys` makes), WKEYS (a worker host's three
    files), BAD (the right server key, a client certificate never authorized)."""
    rtp = rtptest.bin_path("rtp")
    keys, wkeys, bad = (os.path.join(root, d) for d in ("keys", "wkeys", "bad"))
    subprocess.run([rtp, "keys", keys], check=True, capture_output=True, timeout=20)
    subprocess.run([rtp, "keys", bad], check=True, capture_output=True, timeout=20)
    os.makedirs(wkeys)
    for f in ("server.key", "client.key", "client.key_secret"):
        shutil.copy(os.path.join(keys, f), os.path.join(wkeys, f))
    shutil.copy(os.path.join(keys, "server.key"), os.path.join(bad, "server.key"))
    os.unlink(os.path.join(bad, "server.key_secret"))
    return keys, wkeys, bad


def _supervise(net, host, name, capacity, curve_dir):
    env = {"RTP_CURVE_DIR": ""}   # the keys only as the flag says
    args = ["supervise", "--join", net.addr("a"), "--name", name, "--capacity", capacity]
    if curve_dir:
        args += ["--curve-dir", curve_dir]
    return net.proc(host, rtptest.bin_path("rtp"), args, name=f"rtp supervise {name}@{host}", env=env)


def _lost_since(text):
    return [m.groups() for m in map(LOST.search, text.splitlines()) if m]


def _print_tails(procs):
    """On a failure, the end of each process's log (the Procs' folders go at exit):
    rtp up's carries the broker's, the readers' and the batcher's lines, a
    supervisor's its workers'."""
    for p in procs:
        size = 12000 if p.name.startswith("rtp up") else 5000
        print(f"----- the last {size} characters of the log of {p.name} "
              f"(exit {p.popen.poll()}) -----\n{p.stderr_text()[-size:]}")


def test_two_commands_across_three_hosts():
    root = tempfile.mkdtemp(prefix="rtp-listen-keys-")
    net = _net()
    procs = []
    try:
        keys, wkeys, bad = _keys(root)
        a = net.addr("a")
        run_dir = os.path.join(root, "run")
        up = net.proc("a", rtptest.bin_path("rtp"),
                      ["up", "--listen", a, "--curve-dir", keys, "--capacity", 0, "--runtime-dir", run_dir,
                       "--replay-loops", 1, "--replay-rate", RATE, "--replay-burst", "false",
                       "--replay-panic-rate", 0, "--censor-workers", "2:4", "--status-ms", 1000,
                       "--print", "false"],
                      name="rtp up@a", env={"RTP_CURVE_DIR": "", "RTP_STATS_MS": "2000"})
        procs.append(up)
        up.wait_log(rf"listening for worker hosts: control tcp://{re.escape(a)}:5559, workers "
                    rf"tcp://{re.escape(a)}:5560", 30)
        words = up.wait_log(r"supervisors that join get the word list of \S+ \((\d+) bytes\)", 30)
        redis_url = up.wait_log(r"private redis-server: redis://127\.0\.0\.1:(\d+)", 30)
        redis_port = int(redis_url.group(1))
        client = rtptest.wait_until(
            lambda: rtpredis.RedisClient.on_socket(net.connect("a", "127.0.0.1", redis_port, timeout=2.0)),
            10, "rtp up's Redis reachable inside host A", 0.2)
        print(f"  host A: rtp up --listen {a} --capacity 0; the broker offers a word list of "
              f"{words.group(1)} bytes")

        # 1. intruders: no keys, and a key the broker never authorized
        nokey = _supervise(net, "b", "nokey", 4, None)
        wrongkey = _supervise(net, "c", "wrongkey", 4, bad)
        procs += [nokey, wrongkey]
        up.wait_log(r"control endpoint \([^)]*\): a handshake failed: security mismatch", 30)
        up.wait_log(r"control endpoint \([^)]*\): a handshake failed: the key is not authorized", 30)
        nokey.wait_log(r"link to the broker \([^)]*\): a handshake failed: security mismatch", 30)
        wrongkey.wait_log(r"link to the broker \([^)]*\): a handshake failed: the key is not authorized", 30)

        # the real worker hosts: C (room for 4 workers) first, so that it runs some
        # of the pools' minimums (2 each), then B (16)
        c = _supervise(net, "c", "c", 4, wkeys)
        procs.append(c)
        c.wait_log(rf"joined: the broker's workers endpoint is tcp://{re.escape(a)}:5560", 30)
        rtptest.wait_until(lambda: len(re.findall(r"started rtp-\w+#\d+", c.stderr_text())) >= 4, 30,
                           "host C running 4 workers")
        b = _supervise(net, "b", "b", 16, wkeys)
        procs.append(b)
        b.wait_log(r"joined: the broker's workers endpoint", 30)
        # the pools' workers are spread over both hosts: what either host's show
        def either(pattern):
            regex = re.compile(pattern)
            return rtptest.wait_until(lambda: regex.search(b.stderr_text()) or regex.search(c.stderr_text()),
                                      30, f"a worker of host B or C logging {pattern!r}")
        sentiment = either(r"rtp-sentiment\[\d+\] loaded (\d+) words "
                           r"from /tmp/rtp-supervise-\w+/emotion_values")
        censor = either(r"censor worker \S+ connecting to \S+ \(capacity \d+, simulated work mean (\S+) ms\)")
        check(censor.group(1) == "20", f"the censor workers do rtp up's work (20 ms): {censor.group(0)}")
        print(f"  the workers: the word list from the broker ({sentiment.group(1)} words), "
              f"censor work {censor.group(1)} ms")
        log = up.stderr_text()
        for name in ("nokey", "wrongkey"):
            check(f"supervisor {name} joined" not in log, f"the supervisor {name} is never admitted")
            check(not re.search(rf"worker {name}/", log), f"no worker of {name} is admitted")
        check("denied (CURVE)" in log, "the broker's ZAP handler logged the refused key")
        nokey_log, wrongkey_log = nokey.stderr_text(), wrongkey.stderr_text()
        check("started rtp-" not in nokey_log + wrongkey_log, "a refused supervisor starts no worker")
        for p in (nokey, wrongkey):
            p.signal(signal.SIGINT)
            check(p.popen.wait(20) == 0, f"{p.name} exits 0 on SIGINT")
        print("  an unkeyed supervisor and one with an unauthorized key were refused; both sides logged it")

        # 2. the status line shows the hosts and their workers
        status = up.wait_log(r"status: .*\| hosts local 0/0, c (\d+)/4 \([^)]*\), b (\d+)/16 \(censor (\d+), "
                             r"sentiment (\d+), engagement (\d+)\)", 30)
        print(f"  status line: {status.group(0)[status.group(0).index('| hosts'):]}")

        # 3. C's cable pulled for a while, then put back
        def stored():
            return client.command("ZCARD", "tweets")

        running = [up, b, c]

        def wait_stored(n, what, timeout):
            def enough():
                for p in running:
                    if not p.alive():
                        raise AssertionError(f"{p.name} exited ({p.popen.returncode}):\n"
                                             f"{p.stderr_text()[-3000:]}")
                return stored() >= n
            rtptest.wait_until(enough, timeout, f"{n} of {TOTAL} tweets stored {what} (have {stored()})", 0.1)

        wait_stored(0.2 * TOTAL, "before the cut", 120)
        mark = len(up.stderr_text())
        cut_at = stored()
        net.cut("c")
        up.wait_log(r"supervisor c lost", 30)
        time.sleep(4)
        up.wait_log(r"status: .*\| hosts local 0/0, c lost, b \d+/16", 30)
        net.mend("c")
        up.wait_log(r"supervisor c reconnected", 30)
        after_cut = up.stderr_text()[mark:]
        lost = _lost_since(after_cut)
        silent = {w for _, w, why, _ in lost if why != "disconnected"}
        check(silent and all(w.startswith("c/") for w in silent),
              f"the workers lost in the cut are host C's, silent: {sorted(silent)}")
        rtptest.wait_until(lambda: re.search(r"worker c/\S+ joined", up.stderr_text()[mark:]), 60,
                           "a worker of host C back after the cut")
        print(f"  cut host C at {cut_at} of {TOTAL} stored: {len(silent)} of its workers lost, its "
              f"supervisor reconnected and its workers rejoined")

        # 4. Ctrl-C on host B mid-stream: its tasks go back to the broker
        wait_stored(0.6 * TOTAL, "before B stops", 120)
        check(stored() < TOTAL, "the stream still flows when B stops")
        mark = len(up.stderr_text())
        running.remove(b)
        b.signal(signal.SIGINT)
        check(b.popen.wait(30) == 0, f"B's supervisor exits 0 on SIGINT:\n{b.stderr_text()[-2000:]}")
        b_log = b.stderr_text()
        stops = re.findall(r"(rtp-\w+#\d+) stopped \(exit status (\d+)\)", b_log)
        check(stops and all(code == "0" for _, code in stops), f"B's workers stopped cleanly: {stops}")
        up.wait_log(r"supervisor b lost", 30)
        lost = _lost_since(up.stderr_text()[mark:])
        b_lost = [(w, why, int(n)) for _, w, why, n in lost if w.startswith("b/")]
        check(b_lost and all(why == "disconnected" for _, why, _ in b_lost),
              f"B's workers said goodbye (disconnected), none fell silent: {b_lost}")
        handed = sum(n for _, _, n in b_lost)
        print(f"  B stopped with SIGINT at {stored()} of {TOTAL} stored: {len(b_lost)} workers said goodbye, "
              f"handing back {handed} task(s)")

        wait_stored(TOTAL, "in the end", 240)
        time.sleep(1.0)
        report = rtpcheck.check_redis(client, EXPECTED)
        letters = rtpcheck.dead_letters(client)
        for p in report.problems[:20]:
            print("  problem:", p)
        check(not report.problems, f"{len(report.problems)} problems in Redis")
        check(not letters, f"no dead letter, got {letters[:3]}")
        print(f"  Redis: {report.summary()}; dead letters {len(letters)}")
        client.close()

        c.signal(signal.SIGINT)
        check(c.popen.wait(30) == 0, "C's supervisor exits 0 on SIGINT")
        up.signal(signal.SIGINT)
        check(up.popen.wait(90) == 0, f"rtp up exits 0 on SIGINT:\n{up.stderr_text()[-2000:]}")
        for p in procs:
            text = p.stderr_text()
            for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "GIVING UP"):
                check(marker not in text, f"{marker} in the log of {p.name}:\n{text[-3000:]}")
        print("  every process exited 0, no sanitizer report")
    except BaseException:
        _print_tails(procs)
        raise
    finally:
        for p in procs:
            p.stop(timeout=10)
        net.close()
        shutil.rmtree(root, ignore_errors=True)


def test_off_loopback_without_keys_is_refused():
    """rtp up --listen on an address other than loopback, without --curve-dir or
    --insecure-listen, exits 2 before starting anything and says how to make and
    copy the keys; bad --join addresses are usage errors."""
    rtp = rtptest.bin_path("rtp")
    env = {**os.environ, "RTP_CURVE_DIR": ""}
    root = tempfile.mkdtemp(prefix="rtp-listen-refused-")
    try:
        run_dir = os.path.join(root, "run")
        p = subprocess.run([rtp, "up", "--listen", "10.78.9.9", "--runtime-dir", run_dir], env=env,
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 2, f"refused with exit status 2, got {p.returncode}: {p.stderr}")
        for words in ("--curve-dir", "--insecure-listen", "rtp keys",
                      "server.key client.key client.key_secret", "rtp supervise --join 10.78.9.9"):
            check(words in p.stderr.replace("~/rtp-keys/", ""), f"the refusal says {words!r}:\n{p.stderr}")
        check(not os.path.exists(run_dir), "nothing was started (no runtime folder)")
        refusal = p.stderr.splitlines()[0]
        for bad in ("10.0.0.1:0", "10.0.0.1:x", "::1", "[::1]:5559", ":5559"):
            p = subprocess.run([rtp, "supervise", "--join", bad], env=env, capture_output=True, text=True,
                               timeout=30)
            check(p.returncode == 2 and "--join takes HOST[:PORT]" in p.stderr,
                  f"--join {bad!r} is a usage error: {p.returncode} {p.stderr}")
        print(f"  {refusal}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    rtptest.main(globals())
