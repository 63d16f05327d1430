"""Shared plumbing for the client scripts driven by clients_test.go.

Each script is run as `<script> produce|consume` with one JSON request on
stdin and answers with JSON objects on stdout, one per line:

  {"kind": "delivery", "i": ..., "partition": ..., "offset": ..., "error": ...}
  {"kind": "watermark", "partition": ..., "low": ..., "high": ...}
  {"kind": "record", "partition": ..., "offset": ..., "key": ..., "value": ...,
   "headers": [[name, value], ...], "timestamp": ...}
  {"kind": "info", "info": "..."}

Keys, values and header values are UTF-8 text in JSON (null for null).
A script that cannot finish exits non-zero with the reason on stderr.
"""
import json
import sys
import time


def request():
    return json.load(sys.stdin)


def emit(**fields):
    print(json.dumps(fields), flush=True)


def enc(s):
    return None if s is None else s.encode()


def dec(b):
    return None if b is None else b.decode()


def headers_in(pairs):
    return [(name, enc(value)) for name, value in pairs or []]


def headers_out(pairs):
    return [[name, dec(value)] for name, value in pairs or []]


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def check(self, what):
        if self.left() == 0:
            sys.exit("timed out: " + what())
