"""wsframe's benchmarks: ``python -m benchmarks [--quick] [--only PATTERNS] [--json PATH] [--compare OLD.json]``.

Each workload module describes its workloads as :class:`harness.Family` objects through a
``families(quick=False)`` function; ``__main__.WORKLOAD_MODULES`` lists the modules that are run:
``kernels`` (masking, UTF-8 validation), ``streams`` (message streams S/L/F, frame building,
permessage-deflate, opening handshakes), ``echo`` (end-to-end round trips over loopback, in separate
processes) and ``fanout`` (broadcast to many connections of a receiver process). The harness checks every
implementation's output, times the rows of each workload in turns (``harness.take_turns``), and prints
Markdown tables; the JSON file and one PNG chart per family (with matplotlib) go to the results folder;
``--compare`` shows the change against an earlier JSON file and exits 1 on a wsframe regression beyond
``--tolerance``.
"""
