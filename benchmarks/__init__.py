"""Benchmarks of autograd_core against hand-written numpy, PyTorch and micrograd.

Run ``python -m benchmarks`` (see ``benchmarks/README.md``). Not part of the test suite: speed
is never asserted in tests. This package imports nothing heavy, so that ``__main__`` can cap the
BLAS/OpenMP thread spin before numpy or torch is loaded.
"""
