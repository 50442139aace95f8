#!/usr/bin/env python3
"""The four libFuzzer targets of tests/fuzz (SSE parser, tweet decoder, protocol
codec, text analysis), built with clang and run briefly by tests/fuzz/run.sh.

Each target first replays its whole committed corpus (the seeds and the inputs
that once found a bug), then fuzzes for RTP_FUZZ_SECONDS (default 15) seconds.
The test fails if clang is missing, if a target does not build, or if any finds a
crash, a leak, a hang or a sanitizer report; it prints each target's executions
and corpus growth. The long run is `tests/fuzz/run.sh 600`.
"""
import os
import re
import shutil
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
RUN = os.path.join(REPO, "tests", "fuzz", "run.sh")
TARGETS = ["sse", "tweet", "proto", "analysis"]
SECONDS = int(os.environ.get("RTP_FUZZ_SECONDS", "15"))
# Build beside the build that runs this test (build/bin -> build/fuzz), else
# the git-ignored build-fuzz at the root.
BIN_DIR = os.environ.get("RTP_BIN_DIR")
OUT = os.path.normpath(os.path.join(BIN_DIR, "..", "fuzz")) if BIN_DIR else os.path.join(REPO, "build-fuzz")
LINE = re.compile(r"^fuzz_(\w+): ok, (\d+) executions in \d+ s; corpus (\d+) -> (\d+) inputs$", re.M)


def main():
    if not (shutil.which("clang") or shutil.which("clang-14")):
        print("FAIL: clang not found; the fuzz targets need clang and libFuzzer: "
              "apt-get install clang libclang-rt-14-dev (scripts/deps.sh installs both)")
        return 1
    # Compiling takes a few seconds a target; a run that goes far past the fuzzing
    # time is stuck (libFuzzer's own -timeout catches a slow input sooner).
    limit = len(TARGETS) * (SECONDS + 60) + 60
    # Its own process group, so that a stuck run is ended with every fuzzer in it.
    proc = subprocess.Popen(["bash", RUN, str(SECONDS), OUT] + TARGETS, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        print(output, end="")
        print("FAIL: run.sh did not finish within %d s" % limit)
        return 1
    print(output, end="")
    failures = []
    if proc.returncode != 0:
        failures.append("run.sh exited with %d" % proc.returncode)
    found = {m.group(1): m for m in LINE.finditer(output)}
    total = 0
    for t in TARGETS:
        m = found.get(t)
        if not m:
            failures.append("fuzz_%s: no success line" % t)
            continue
        execs, seeds, size = int(m.group(2)), int(m.group(3)), int(m.group(4))
        total += execs
        if SECONDS > 0 and execs <= seeds:
            failures.append("fuzz_%s: only %d executions for %d seeds" % (t, execs, seeds))
        if size < seeds:
            failures.append("fuzz_%s: the corpus shrank from %d to %d" % (t, seeds, size))
    for f in failures:
        print("FAIL:", f)
    print("%d targets checked, %d executions in all, %d failures" % (len(found), total, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
