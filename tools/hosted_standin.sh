#!/usr/bin/env bash
# A stand-in for Colab, to check the hosted route by hand (needs the network and root; about 4 minutes):
# a fresh environment holding what a hosted runtime brings (torch, an older numpy, a Jupyter kernel, papermill),
# the course cloned to /content/course, then lesson 01's first cell run with COLAB_RELEASE_TAG set, as on Colab:
# it installs requirements-hosted.txt around torch and asks for a restart (numpy was loaded); run again, it finds
# everything in place; then the whole of lesson 01 runs there at the ci profile from /content.
# Usage, from the course folder: bash tools/hosted_standin.sh [work folder, default /tmp/hosted-standin]
set -euo pipefail
work=${1:-/tmp/hosted-standin}
course=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$work" /content/course
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install --quiet torch==2.13.0 numpy==2.0.2 packaging ipykernel papermill
git clone --quiet "$course" /content/course
first_cell='import json, numpy; nb = json.load(open("/content/course/notebooks/01_intro.ipynb"))
cell = "".join([c for c in nb["cells"] if c["cell_type"] == "code"][0]["source"])
try:
    exec(cell)
except Exception as error:
    print(f"{type(error).__name__}: {error}")'
cd /content
echo "== the first cell, on a fresh runtime"; COLAB_RELEASE_TAG=standin "$py" -c "$first_cell"
echo "== the first cell, after the restart"; COLAB_RELEASE_TAG=standin "$py" -c "$first_cell"
echo "== lesson 01 at the ci profile, from /content"
COLAB_RELEASE_TAG=standin "$work/venv/bin/papermill" /content/course/notebooks/01_intro.ipynb "$work/01_intro.ipynb" \
    -p profile ci --cwd /content --no-progress-bar --log-level WARNING
"$py" -c "import json; m = json.load(open('/content/course/runs/ci/01_intro/metrics.json')); print('lesson 01 ran:', m['params']['model_id'], 'base accuracy', m['base_accuracy'])"
"$py" -m pip list 2>/dev/null | grep -iE "^(torch|numpy|transformers|course-utils) "
