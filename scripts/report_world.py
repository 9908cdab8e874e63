"""Prints, as one JSON line, what a launcher gave this process: its id and the variables torch.distributed reads.

Lesson 08 starts it through accelerate's launcher asking for two CPU processes, and counts the lines:
one line per process that really started. It imports nothing heavy, so the count costs little time.
"""

import json
import os

if __name__ == "__main__":
    names = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR")
    print(json.dumps({"pid": os.getpid(), **{name: os.environ.get(name) for name in names}}), flush=True)
