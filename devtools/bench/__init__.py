"""`ime bench`, one job per module: the runner (runner), the steps it starts in child processes
(workers, with the page timer, the pandas baselines and the tracer), the targets judged on a run
(targets), and docs/benchmarks.md (render, formatting). results holds what a run measured.
"""
