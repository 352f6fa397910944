"""One psql session driven statement by statement, and what its backend holds open.

Used by the scripted tests that look at a backend between statements (test/transactions.py,
test/descriptors.py).  Python 3.11 standard library only.
"""

import glob
import os
import subprocess
import threading
import time


class Session:
    """A psql process whose statements run one call at a time; its stderr is collected."""

    MARK = "__segment_fdw_session_done__"

    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen(
            ["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=0", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1, env=env)
        self.errors = []
        self._stderr_done = threading.Event()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        self.pid = int(self.run("SELECT pg_backend_pid();")[0])

    def _read_stderr(self):
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            if line == self.MARK:
                self._stderr_done.set()
            else:
                self.errors.append(line)

    def run(self, sql):
        """Run "sql" (one or more statements); return its output lines once all have run,
        and its errors are in self.errors."""
        self._stderr_done.clear()
        self.proc.stdin.write(sql.rstrip() + "\n\\echo " + self.MARK
                              + "\n\\warn " + self.MARK + "\n")
        self.proc.stdin.flush()
        lines = []
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line == self.MARK:
                self._stderr_done.wait(timeout=30)
                return lines
            lines.append(line)
        raise RuntimeError("psql ended: " + "; ".join(self.errors[-3:]))

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def run_at_once(sessions, sql_of):
    """Run sql_of(k) in sessions[k], all at once; return (seconds taken, outputs by k)."""
    outputs = [None] * len(sessions)

    def work(k):
        outputs[k] = sessions[k].run(sql_of(k))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(sessions))]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started, outputs


def descriptors(pid):
    """The open file descriptors of process "pid"."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def sockets_to(pid, port):
    """The TCP sockets process "pid" holds connected to 127.0.0.1:port, in any state."""
    inodes = set()
    for table in glob.glob(f"/proc/{pid}/net/tcp*"):
        with open(table) as f:
            next(f)
            for row in f:
                cols = row.split()
                if int(cols[2].split(":")[1], 16) == port:
                    inodes.add(cols[9])
    held = 0
    for fd in glob.glob(f"/proc/{pid}/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            held += 1
    return held


def contexts_bytes(session):
    """The bytes of the session's memory contexts."""
    return int(session.run("SELECT sum(total_bytes) FROM pg_backend_memory_contexts;")[0])
