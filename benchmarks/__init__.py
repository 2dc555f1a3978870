"""Performance benchmarks: femvalid against SfePy on one implant model at growing sizes.

``python -m benchmarks.run`` meshes a vertebral body replacement at about 30 k,
300 k and 1 M degrees of freedom (P1) and 300 k (P2), solves the same bonded-platen
axial compression with femvalid and with SfePy (its default pipeline and its best
iterative one), each run in a fresh process, and writes ``benchmarks/results.md`` and
``benchmarks/results.json``. Modules:

- :mod:`benchmarks.cases`: the cases, the model they share, meshes sized by node count
  and cached;
- :mod:`benchmarks.engines`: one engine on one mesh in a child process (timings,
  iterations, memory, displacements);
- :mod:`benchmarks.report`: ratios, targets, agreement, machine description, tables;
- :mod:`benchmarks.run`: the command line that ties them together.
"""
