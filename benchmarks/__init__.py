"""wsframe's benchmarks: ``python -m benchmarks [--quick] [--only PATTERNS] [--json PATH]``.

Each workload module (``kernels`` so far) describes its workloads as :class:`harness.Family` objects
through a ``families()`` function; ``__main__.WORKLOAD_MODULES`` lists the modules that are run. The
harness checks every implementation's output, times it, and prints Markdown tables and a JSON file.
"""
