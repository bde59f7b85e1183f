"""The log the benchmark scripts (scripts/bench-*.sh) write: one line per run, "WHO JSON", where WHO names the
implementation ("pytorch", "jdiffusion", "jdiffusion-F16", ...) and JSON is its result."""
import json


def read_runs(path):
    """The runs of each implementation, in the order they were logged: {who: [result, ...]}."""
    runs = {}
    for line in open(path):
        who, js = line.split(" ", 1)
        runs.setdefault(who, []).append(json.loads(js))
    return runs
