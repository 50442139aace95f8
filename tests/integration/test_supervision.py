"""The root supervisor, as OTP's: an actor that dies is restarted (one for one, with
backoff), each exit logged with its reason (exit status or signal); more than R
restarts within P seconds and it gives up on that actor, loudly, while the rest of
the system runs on."""

import os
import re
import signal
import time

import rtpredis
import rtptest
from rtptest import check


def test_restarts_with_reasons_then_gives_up_past_the_intensity_limit():
    with rtpredis.RedisServer() as redis:
        up = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--censor-workers", 1, "--sentiment-workers", 1,
                                  "--engagement-workers", 1, "--work-mean-ms", 0, "--replay-rate", 50,
                                  "--replay-panic-rate", 0, "--print", "false",
                                  "--max-restarts", 2, "--restart-period-ms", 60000])
        up.wait_log(r"the broker asks for 1 engagement worker", 30)
        kills = []
        for i in range(3):
            pids = rtptest.wait_until(lambda: rtptest.children(up.pid, "rtp-engagement"), 10,
                                      "an engagement worker running")
            os.kill(pids[0], signal.SIGKILL if i != 1 else signal.SIGTERM)
            kills.append(pids[0])
            if i < 2:
                up.wait_log(r"restarted rtp-engagement#1 \(restart %d\)" % (i + 1), 10)
        up.wait_log(r"GIVING UP on rtp-engagement#1", 10)
        time.sleep(1.0)
        check(not rtptest.children(up.pid, "rtp-engagement"), "no engagement worker after giving up")
        check(up.alive(), "rtp up keeps running the rest of the system")
        check(len(rtptest.children(up.pid, "rtp-censor")) == 1, "the other actors are untouched")
        log = up.stderr_text()
        died = re.findall(r"rtp-engagement#1 died \(([^)]*\)?)\)", log)
        # SIGTERM to a worker that installed its handler ends it with status 0; one
        # still starting up (slow under the sanitizers) dies of the signal itself
        check(died[0] == "signal 9 (Killed)" and died[1] in ("exit status 0", "signal 15 (Terminated)"),
              f"each exit is logged with its reason: {died}")
        check(re.search(r"GIVING UP on rtp-engagement#1: signal 9 \(Killed\), and it was restarted 2 times", log),
              "giving up names the reason and the restarts")
        delays = [int(x) for x in re.findall(r"rtp-engagement#1 died .*; restarting it in (\d+) ms", log)]
        check(len(delays) == 2, f"two restarts scheduled: {delays}")
        up.stop(timeout=60)
        print(f"killed {kills}; exits logged as {died}; restart delays {delays} ms; then gave up, loudly")


def test_children_stop_when_the_launcher_is_killed():
    """rtp up killed with SIGKILL cannot stop its children in order; they get SIGTERM
    from the kernel (parent-death signal) and stop by themselves: no orphans."""
    names = ("rtp-broker", "rtp-aggregator", "rtp-batcher", "rtp-hashtags", "rtp-reader", "rtp-replay",
             "rtp-censor", "rtp-sentiment", "rtp-engagement")
    with rtpredis.RedisServer() as redis:
        up = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--censor-workers", 1, "--sentiment-workers", 1,
                                  "--engagement-workers", 1, "--replay-rate", 50, "--print", "false"])
        up.wait_log(r"the broker asks for 1 engagement worker", 30)
        pids = rtptest.wait_until(lambda: (lambda p: p if len(p) >= len(names) else None)(
            [pid for name in names for pid in rtptest.children(up.pid, name)]), 30, "every actor running")
        os.kill(up.pid, signal.SIGKILL)

        def alive(pid):
            try:
                with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
                    return f.read().rsplit(")", 1)[1].split()[0] != "Z"
            except FileNotFoundError:
                return False
        try:
            rtptest.wait_until(lambda: not any(alive(p) for p in pids), 30, "every child of the killed rtp up gone")
        finally:
            for p in pids:   # our own children's children: never left behind by a failed check
                if alive(p):
                    os.kill(p, signal.SIGKILL)
        up.stop(timeout=5)
        print(f"rtp up killed with SIGKILL: its {len(pids)} children stopped by themselves")


if __name__ == "__main__":
    rtptest.main(globals())
