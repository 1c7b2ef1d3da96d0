"""Build the optional Cython core (``fbacache._core._index_c``).

Set ``FBACACHE_NO_EXTENSIONS=1`` to skip compilation; the pure-Python twin
(``fbacache._core._index_py``) is then used at run time.
"""
import os

from setuptools import setup

ext_modules = []
if not os.environ.get("FBACACHE_NO_EXTENSIONS"):
    from Cython.Build import cythonize
    from setuptools import Extension

    ext_modules = cythonize(
        [Extension("fbacache._core._index_c", ["fbacache/_core/_index_c.pyx"],
                   extra_compile_args=["-O3"]),
         Extension("fbacache._core._store_c", ["fbacache/_core/_store_c.pyx"],
                   extra_compile_args=["-O3"])],
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )

setup(ext_modules=ext_modules)
