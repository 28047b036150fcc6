"""Compiled (numba) kernels: pure functions over numpy arrays.

Nothing in this package imports pyspark, reads files or knows about config
objects, so every kernel can be tested directly with numpy inputs.
"""
