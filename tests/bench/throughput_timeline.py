#!/usr/bin/env python3
"""One run of bench.py's fresh-row throughput scenario, shown as a timeline: every
0.2 s the records the batcher wrote (records/s) and the CPU each kind of process
used (cores: bench.py's own sampler of rtp up's processes and redis-server, from
/proc). It shows which stage works and which waits, where bench.py gives only the
run's totals.

    python3 tests/bench/throughput_timeline.py [--build DIR] [--passes N]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import rtpredis  # noqa: E402

NAMES = ["redis-server", "rtp-reader", "rtp-broker", "rtp-aggregator", "rtp-batcher", "rtp-censor",
         "rtp-sentiment", "rtp-engagement", "rtp-replay"]


def by_name(ticks, names):
    """CPU seconds of a sampler snapshot ({pid: ticks}), summed by process name."""
    out = {}
    for pid, t in ticks.items():
        name = names.get(pid)
        out[name] = out.get(name, 0.0) + t / bench.CLK_TCK
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", help="the build folder (default: build)")
    ap.add_argument("--passes", type=int, default=bench.FRESH_PASSES, help="copies of the data")
    args = ap.parse_args()
    paths = bench.Paths(args.build)
    data = bench.Data(paths)
    fresh = bench.FreshData(paths, data, args.passes)
    env = {"RTP_REPLAY_TWEETS_1": fresh.files[0], "RTP_REPLAY_TWEETS_2": fresh.files[1]}
    try:
        with rtpredis.RedisServer(extra_args=bench.COMPOSE_REDIS) as redis:
            up = bench.Up(paths, redis, ["--replay-rate", 0, "--replay-loops", 1,
                                         *bench.common_args(batch=(500, 200))], env=env, label="timeline")
            try:
                up.wait_first_batch()
                up.wait_records(args.passes * data.records_per_loop, timeout=600)
                time.sleep(2 * up.sampler.interval)
            finally:
                up.stop()
            with up.lock:
                batches = list(up.batches)
            with up.sampler.lock:
                snapshots = list(up.sampler.snapshots)
                names = {pid: p["name"] for pid, p in up.sampler.procs.items()}
            t0 = min(up.connected) if up.connected else up.started
    finally:
        fresh.close()
    step = up.sampler.interval
    written = {}
    for b in batches:
        k = int((b[0] - t0) / step)
        written[k] = written.get(k, 0) + b[1]
    print("time from the first reader's connection; records/s written; CPU in cores")
    print("    s  records/s  " + " ".join(f"{n.replace('rtp-', '')[:9]:>9}" for n in NAMES) + "      all")
    for (t_prev, prev), (t, now) in zip(snapshots, snapshots[1:]):
        if t < t0 - step or t > batches[-1][0] + step:
            continue
        prev, now = by_name(prev, names), by_name(now, names)
        cores = [(now.get(n, 0.0) - prev.get(n, 0.0)) / (t - t_prev) for n in NAMES]
        rate = written.get(int((t - t0) / step), 0) / step
        print(f"{t - t0:5.1f} {rate:10.0f}  " + " ".join(f"{c:9.2f}" for c in cores) + f" {sum(cores):8.2f}")
    print(f"{sum(b[1] for b in batches)} records in {batches[-1][0] - t0:.2f} s")


if __name__ == "__main__":
    try:
        main()
    except bench.BenchError as e:
        sys.exit(f"throughput_timeline: {e}")
