"""``python -m devtools.bench worker NAME ARGS_JSON``: the runner's child processes."""

import sys

from devtools.bench.workers import worker_main

sys.exit(worker_main(sys.argv[1:]))
