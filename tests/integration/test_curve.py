"""CurveZMQ: with --curve-dir, a worker holding an authorized certificate joins the
broker; a worker with a certificate that is not authorized is refused, and the
refusal is logged; no secret key appears in any log."""

import os
import re
import shutil
import subprocess
import tempfile
import time

import rtptest
from rtptest import check


def _keys(folder, name="client"):
    subprocess.run([rtptest.bin_path("rtp"), "keys", folder, name], check=True, capture_output=True)


def _secret(path):
    with open(path, encoding="utf-8") as f:
        return re.search(r'secret-key = "([^"]+)"', f.read()).group(1)


def test_unknown_key_is_refused_and_logged():
    root = tempfile.mkdtemp(prefix="rtp-curve-")
    try:
        good, bad = os.path.join(root, "good"), os.path.join(root, "bad")
        _keys(good)
        _keys(bad)
        # the bad host knows the right server (its public key) but holds a client
        # certificate the broker never authorized
        shutil.copy(os.path.join(good, "server.key"), os.path.join(bad, "server.key"))
        os.unlink(os.path.join(bad, "server.key_secret"))
        ports = [rtptest.free_port() for _ in range(5)]
        ep = [f"tcp://127.0.0.1:{p}" for p in ports]
        broker = rtptest.Proc("rtp-broker", ["--curve-dir", good, "--readers", ep[0], "--workers", ep[1],
                                             "--results", ep[2], "--hashtags", ep[3], "--control", ep[4]])
        broker.wait_log(r"CURVE on", 10)
        ok = rtptest.Proc("rtp-engagement", ["--curve-dir", good, "--broker", ep[1], "--name", "trusted"])
        intruder = rtptest.Proc("rtp-engagement", ["--curve-dir", bad, "--broker", ep[1], "--name", "intruder"])
        broker.wait_log(r"worker trusted joined", 10)
        broker.wait_log(r"denied \(CURVE\)", 10)
        time.sleep(2.5)   # the intruder keeps trying: it must never join
        log = broker.stderr_text()
        check("intruder joined" not in log, "the worker with an unknown key never joins")
        check(intruder.alive(), "the refused worker keeps retrying (it is not crashed by the refusal)")
        refusals = log.count("denied (CURVE)")
        for p in (ok, intruder, broker):
            p.stop()
        logs = "".join(p.stderr_text() + p.stdout_text() for p in (ok, intruder, broker))
        secrets = [_secret(os.path.join(d, f)) for d in (good, bad) for f in os.listdir(d) if f.endswith("_secret")]
        check(secrets and not any(s in logs for s in secrets), "no secret key in any log")
        print(f"trusted worker joined; intruder refused {refusals} times; {len(secrets)} secrets absent from logs")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    rtptest.main(globals())
