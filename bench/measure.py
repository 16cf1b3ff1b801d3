#!/usr/bin/env python3
"""Runs a command and prints one JSON line: wall seconds, user and system CPU seconds and the
peak resident set (KiB) of the command and its children, as the kernel counted them (wait4).

    python3 bench/measure.py LABEL -- COMMAND [ARGS...]   (stdout of COMMAND goes to /dev/null)
"""

import json
import os
import subprocess
import sys
import time

label = sys.argv[1]
command = sys.argv[sys.argv.index("--") + 1:]
started = time.monotonic()
child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
wall = time.monotonic() - started
print(json.dumps({
    "label": label,
    "status": os.waitstatus_to_exitcode(status),
    "wall_s": round(wall, 3),
    "user_s": usage.ru_utime,
    "sys_s": usage.ru_stime,
    "max_rss_kib": usage.ru_maxrss,
}))
