"""Autoscaling: with simulated work on and the stand-in server switching between a
low and a high rate, the censor pool grows during the high phase, straight to what
the load needs (not doubling tick after tick), so that the backlog stops growing
before the phase ends, and shrinks back to its minimum during the low phase, within
its bounds, with no more than a few resize decisions per phase. Every decision is
logged with the numbers behind it.

How fast it reacts (the backlog's peak after the step, the time back to the minimum)
is printed here but not asserted: on a busy machine the same decisions come seconds
later. Those figures are the benchmark's (tests/bench/bench.py, the elasticity
scenario; docs/performance.md)."""

import re
import time

import rtpredis
import rtptest
from rtptest import check

# events per second per stream (two streams): the low phases need half a worker (about
# 15 records/s x 20 ms / 0.7), far enough from one whole worker that a busy machine's
# slower service times cannot make the pool flap between 1 and 2; the high phase ~6
LOW, HIGH = 5, 100
LOW1_S, HIGH_S, LOW2_S = 8, 20, 32
DECISION = re.compile(r"^(\S+)Z INFO  rtp-broker\[\d+\] autoscale censor pool: (\d+) -> (\d+) workers.*\((arrival.*)\)$")
STATS = re.compile(r"^(\S+)Z INFO  rtp-broker\[\d+\] events .*censor: (\d+) workers \(target (\d+)\), (\d+) in flight, "
                   r"(\d+) queued")


def _seconds(stamp):
    return time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + stamp[19:])


def test_censor_pool_follows_the_load():
    with rtpredis.RedisServer() as redis:
        up = rtptest.Proc("rtp", ["up", "--redis-url", redis.url, "--censor-workers", "1:8",
                                  "--sentiment-workers", 1, "--engagement-workers", 1, "--work-mean-ms", 20,
                                  "--replay-loops", 0, "--replay-burst", "false", "--replay-panic-rate", 0,
                                  "--replay-rate-schedule", f"{LOW}:{LOW1_S},{HIGH}:{HIGH_S},{LOW}:{LOW2_S}",
                                  "--print", "false"],
                          env={"RTP_STATS_MS": "1000"})
        start_line = up.wait_log(r"(\S+)Z INFO  rtp\[\d+\] stand-in rtp-server", 30)
        t0 = _seconds(start_line.group(1))
        deadline = rtptest.Deadline(LOW1_S + HIGH_S + LOW2_S + 30)
        while time.time() - t0 < LOW1_S + HIGH_S + LOW2_S - 1:
            deadline.check("the three phases")
            check(up.alive(), "rtp up keeps running")
            time.sleep(0.5)
        code = up.stop(timeout=60)
        check(code == 0, f"rtp up exits 0, got {code}")

    log = up.stderr_text().splitlines()
    decisions = [(_seconds(m.group(1)) - t0, int(m.group(2)), int(m.group(3)), m.group(4))
                 for m in map(DECISION.match, log) if m]
    stats = [(_seconds(m.group(1)) - t0, int(m.group(2)), int(m.group(3)), int(m.group(5)))
             for m in map(STATS.match, log) if m]
    for d in decisions:
        print(f"  t={d[0]:5.1f} s  censor {d[1]} -> {d[2]}   ({d[3]})")

    def phase(t):
        return 0 if t < LOW1_S else 1 if t < LOW1_S + HIGH_S else 2

    per_phase = [sum(1 for d in decisions if phase(d[0]) == p and d[0] > 1.5) for p in range(3)]
    print(f"  decisions per phase (low, high, low): {per_phase}")
    check(all(1 <= d[2] <= 8 for d in decisions), "every size within the bounds 1..8")
    high = [d for d in decisions if phase(d[0]) == 1]
    check(high and max(d[2] for d in high) >= 4,
          f"the pool grew during the high phase (200/s x 20 ms needs ~6 workers): {high}")
    # a flapping manager decides every tick or two (10 to 30 a phase); a busy machine's
    # stalls can stretch one second's service time and cost a back-and-forth (seen: 3)
    check(all(n <= 6 for n in per_phase), f"a few decisions per phase, not flapping: {per_phase}")
    # a step up is met straight with what the load needs (each decision goes to the
    # measured need, not doubling 1 -> 2 -> 4 -> 8 tick after tick): 5 or more workers
    # in at most two growth decisions (the first tick may see only part of the new rate)
    growth = [d for d in high if d[2] > d[1]]
    reached = next((i for i, d in enumerate(growth) if d[2] >= 5), None)
    check(reached is not None and reached <= 1, f"5 or more workers in at most two growth decisions: {high}")
    print(f"  5 or more workers decided {growth[reached][0] - LOW1_S:.1f} s after the step up"
          if reached is not None else "  never 5 workers")

    # the backlog stops growing in the high phase: the pool keeps up, so in its last
    # 5 s the backlog falls to about nothing at least once (a pool too small for the
    # load only ever adds to it). Not "no new maximum": on a busy machine a second in
    # which the workers get no core leaves a one-second spike (seen: 93 among zeros
    # under the sanitizers with both cores taken).
    high_stats = [s for s in stats if LOW1_S <= s[0] < LOW1_S + HIGH_S]
    tail = [s[3] for s in high_stats if s[0] >= LOW1_S + HIGH_S - 5]
    print(f"  backlog during the high phase (per second): {[s[3] for s in high_stats]}")
    check(tail and min(tail) <= 20, f"the backlog stopped growing: last 5 s of the high phase {tail}")
    peak_at = max(high_stats, key=lambda s: s[3])[0] - LOW1_S if high_stats else None
    print(f"  the backlog peaked {peak_at:.1f} s after the step up" if peak_at is not None else "  no high-phase stats")

    # back to the minimum during the second low phase (32 s; the benchmark measured 6 s)
    low2 = [s for s in stats if s[0] >= LOW1_S + HIGH_S]
    back = [s for s in low2 if s[2] == 1]
    check(back, f"the pool returned to its minimum in the low phase: {[(round(s[0]), s[2]) for s in low2]}")
    print(f"  back to 1 worker {back[0][0] - (LOW1_S + HIGH_S):.1f} s into the low phase")


if __name__ == "__main__":
    rtptest.main(globals())
