"""Small helpers the course's notebooks share. Import the submodule a lesson needs:

    from course_utils import config, data, models, evaluate, plots, runs

Importing this package does no work: nothing is built, downloaded or configured, with one exception. It turns
ONNX Runtime's telemetry off for this process and the commands it starts: onnxruntime and onnxruntime-genai send
usage events to Microsoft by default on Linux (their Privacy.md), and the course runs offline. A lesson's kernel,
traced on 2026-12-05, looked up the telemetry host 24 times in lesson 05; with `ORT_DISABLE_TELEMETRY=1`, the
switch ONNX Runtime reads before it starts, none. Set the variable to 0 yourself to keep it on.
"""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
