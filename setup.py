"""Build hook for the optional compiled scanners (``cac._scan``); everything else is in pyproject.toml.

The extension is optional: without a C compiler the install goes on and cac runs its pure-Python twins.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("cac._scan", ["cac/_scan.c"], optional=True)])
