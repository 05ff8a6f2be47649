"""Runs moto's standalone server (moto.server.main, same arguments) and exits when its stdin closes.

emulators/s3/moto.mjs starts it with a pipe as stdin, so moto ends with the Node process that started it,
even one killed outright (no exit handler runs then, but the kernel closes the pipe).
"""
import os
import sys
import threading


def _exit_when_parent_leaves():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


threading.Thread(target=_exit_when_parent_leaves, daemon=True).start()

from moto.server import main  # noqa: E402  (imported after the watcher so a slow import is covered too)

main(sys.argv[1:])
