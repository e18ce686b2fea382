"""The network modules, one family per file.

They live in this subpackage because ``dcbench_nets.convnet`` (and ``mlp``, ``lenet``, ...) is the
registered :class:`dcbench.Architecture`; a sibling module of the same name would be shadowed by it.
"""
