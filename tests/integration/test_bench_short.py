"""The benchmark (tests/bench/bench.py) in its --quick form: every scenario for a few
seconds, its table printed. A benchmark is not a test, so no timing figure is
asserted here; this fails only when the benchmark itself breaks: a scenario crashes,
rtp up dies or gives up on an actor, a tweet is lost (the throughput and overload
scenarios count every record), a figure is missing, or the JSON is not written."""

import json
import os
import subprocess
import sys
import tempfile

import rtptest
from rtptest import check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "tests", "bench", "bench.py")


def test_bench_quick():
    tmp = tempfile.mkdtemp(prefix="rtp-bench-short-")
    out = os.path.join(tmp, "bench.json")
    try:
        proc = subprocess.run([sys.executable, BENCH, "--quick", "--out", out], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=420)
        print(proc.stdout)
        check(proc.returncode == 0, f"bench.py --quick exits 0, got {proc.returncode}")
        with open(out, encoding="utf-8") as f:
            r = json.load(f)
    finally:
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)

    check(r["broken"] == [], f"no scenario broke: {r['broken']}")
    sp = r["spool"]
    check(sp["cpu_us_per_record_with"] > 0 and sp["cpu_us_per_record_without"] > 0, "the spool's cost measured")
    check(sp["records_per_write"] > 1, f"the spool is written in batches: {sp['records_per_write']} records a write")
    c = r["ceilings"]
    check(c["parse"]["decode_events_per_s"] > 0 and c["parse"]["cjson_events_per_s"] > 0, "parse ceilings measured")
    check(c["parse"]["rejected"] == 0 and c["parse"]["cjson_failed"] == 0, "every bundled tweet parses")
    check(c["zmq"]["codec_msgs_per_s"] > 0 and c["zmq"]["raw_msgs_per_s"] > 0, "ZeroMQ ceilings measured")
    check(c["redis"]["new_per_pass"] == r["data"]["distinct_records"], "the Redis ceiling stores every distinct tweet")
    t = r["throughput"]
    check(t["records"] >= t["loops"] * r["data"]["records_per_loop"], "throughput: every record of every loop written")
    check(t["distinct_in_redis"] == r["data"]["distinct_records"], "throughput: every distinct tweet in Redis")
    check(t["events_per_s"] > 0, "throughput measured")
    names = set(t["processes"])
    expected = {"rtp", "rtp-broker", "rtp-aggregator", "rtp-batcher", "rtp-censor", "rtp-sentiment",
                "rtp-engagement", "rtp-reader", "rtp-hashtags", "rtp-replay", "redis-server"}
    check(expected <= names, f"CPU and memory of every process: missing {sorted(expected - names)}")
    check(all(p["peak_rss_mib"] > 0 for p in t["processes"].values()), "a peak RSS for every process")
    check(len(r["latency"]) == 2 and all(x["samples"] > 0 for x in r["latency"]), "latency samples for both settings")
    check(all(x["p50_ms"] <= x["p99_ms"] <= x["max_ms"] for x in r["latency"]), "latency percentiles ordered")
    e = r["elasticity"]
    check(len(e["series"]) > 0 and len(e["phases"]) == 3, "elasticity: broker stats sampled in three phases")
    s = r["scaling"]
    check(len(s["runs"]) >= 2 and all(x["records_per_s"] > 0 for x in s["runs"]), "scaling: every size measured")
    o = r["overload"]
    read = sum(o["events_read"].values())
    check(read > 0 and o["records"] > 0, f"overload: {read} events read and every one stored ({o['records']} records)")
    check(len(r["targets"]) > 0, "targets evaluated")
    met = sum(1 for x in r["targets"] if x["met"])
    print(f"quick benchmark complete: {len(r['targets'])} targets evaluated ({met} met; not asserted), "
          f"{t['records']} + {o['records']} records counted through")


if __name__ == "__main__":
    rtptest.main(globals())
