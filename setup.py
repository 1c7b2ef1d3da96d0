"""Build the optional compiled core (``fbacache._core._index_c``) and ``metrics``' walker.

The extension is optional: fbacache's pure-Python twin (``fbacache._core._index_py``) gives
the same results, only slower. So:

- ``FBACACHE_NO_EXTENSIONS=1``: do not even try to compile.
- No working C compiler (or Cython missing and no shipped ``.c``): the install still succeeds,
  prints ONE warning saying the twin will be used, and ``fbacache.CORE_IMPLEMENTATION`` is
  ``"py"`` at run time.
- A failed compile in an in-place (editable) build also removes that module's file left
  there by an earlier build, so the twin is what runs, as the warning says.
- ``FBACACHE_REQUIRE_EXTENSIONS=1``: a failed compile is an error (CI sets it, so a broken
  build cannot pass by testing the fallback).
- The sdist ships the Cython-generated ``.c``: with no Cython at hand it is compiled directly.
- ``fbacache.fba._tally_c`` (the directory walker of ``maintain metrics``, twin of
  ``fba/tally.py``) is built with the core on POSIX systems (it needs ``openat`` and
  ``fdopendir``), never on Windows, where the twin is the walker; the same rules apply to it.
- Release builds carry no debug info (``-g0``, stripped at link time where the linker
  supports it) and no library search path of the build machine (an interpreter built with
  ``-Wl,-rpath`` in its LDSHARED, as pyenv's are, would put its own lib directory in every
  module's RUNPATH; the modules need only libc); ``FBACACHE_DEBUG_BUILD=1`` keeps both.
"""
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# (module, Cython source, generated C): the index (with the store built in, _store.pxi),
# _store_c, the compiled half of the _store_c/_store_py pair that re-exports it, and the
# walker of `maintain metrics` (POSIX only).
MODULES = [("fbacache._core._index_c", "fbacache/_core/_index_c.pyx", "fbacache/_core/_index_c.c"),
           ("fbacache._core._store_c", "fbacache/_core/_store_c.pyx", "fbacache/_core/_store_c.c")]
if sys.platform != "win32":
    MODULES.append(("fbacache.fba._tally_c", "fbacache/fba/_tally_c.pyx", "fbacache/fba/_tally_c.c"))
HOWTO = ("the compiled core of fbacache was NOT built ({reason}); the pure-Python core is used "
         "instead (same results, slower). Install a C compiler (e.g. apt-get install gcc "
         "python3-dev) and reinstall to get it; set FBACACHE_REQUIRE_EXTENSIONS=1 to make this "
         "an error, FBACACHE_NO_EXTENSIONS=1 to skip the attempt.")


def _flag(name):
    return os.environ.get(name, "") not in ("", "0")


def _compile_args():
    if sys.platform == "win32":
        return ["/O2"], []
    debug = _flag("FBACACHE_DEBUG_BUILD")
    compile_args = ["-O3"] + ([] if debug else ["-g0"])
    link_args = [] if debug or sys.platform == "darwin" else ["-Wl,--strip-debug"]
    return compile_args, link_args


def _extensions():
    if _flag("FBACACHE_NO_EXTENSIONS"):
        return []
    compile_args, link_args = _compile_args()
    directives = {"language_level": "3", "boundscheck": False, "wraparound": False,
                  "cdivision": True, "initializedcheck": False}
    try:
        from Cython.Build import cythonize
    except ImportError:
        if all(os.path.exists(c) for _, _, c in MODULES):  # an sdist: the C needs no Cython
            return [Extension(name, [c], extra_compile_args=compile_args,
                              extra_link_args=link_args) for name, _, c in MODULES]
        if _flag("FBACACHE_REQUIRE_EXTENSIONS"):
            raise
        _warn("Cython is not installed and no generated C source is present")
        return []
    return cythonize([Extension(name, [pyx], extra_compile_args=compile_args,
                                extra_link_args=link_args) for name, pyx, _ in MODULES],
                     compiler_directives=directives)


def _warn(reason):
    bar = "=" * 78
    sys.stderr.write(f"\n{bar}\nWARNING: {HOWTO.format(reason=reason)}\n{bar}\n\n")


def _without_rpath(command):
    """The link command minus ``-Wl,-rpath,...`` / ``-Wl,-R...`` (see the module docstring)."""
    return [a for a in command if not a.startswith(("-Wl,-rpath", "-Wl,-R"))]


class OptionalBuildExt(build_ext):
    """build_ext that falls back to the pure-Python core when compiling fails.

    In an in-place (editable) build, a module that failed is not copied next to the sources
    and the file an earlier build left there is removed: otherwise that stale module, built
    from older sources than the Python code beside it, would be imported instead of the twin
    the warning promises. The modules that did build are copied as usual.
    """

    def initialize_options(self):
        super().initialize_options()
        self._failed = []     # extensions whose compile or link failed
        self._warned = False  # the warning is printed once per build

    def build_extensions(self):
        linker = getattr(self.compiler, "linker_so", None)
        if linker and not _flag("FBACACHE_DEBUG_BUILD") and sys.platform.startswith("linux"):
            self.compiler.linker_so = _without_rpath(linker)
        super().build_extensions()

    def run(self):
        inplace = self.inplace  # setuptools clears it while building, restores it after
        try:
            super().run()
        except Exception as exc:  # no compiler at all (DistutilsPlatformError and kin)
            self._give_up(exc)
            if inplace:
                for ext in self.extensions:
                    self._remove_stale(ext)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # the compiler ran and failed (CompileError, LinkError...)
            self._failed.append(ext)
            self._give_up(exc)

    def copy_extensions_to_source(self):
        failed = {ext.name for ext in self._failed}
        for ext in self._failed:
            self._remove_stale(ext)
        every = self.extensions
        self.extensions = [ext for ext in every if ext.name not in failed]
        try:
            super().copy_extensions_to_source()
        finally:
            self.extensions = every

    def _remove_stale(self, ext):
        saved, self.inplace = self.inplace, True
        try:
            path = self.get_ext_fullpath(ext.name)  # next to the sources
        finally:
            self.inplace = saved
        if os.path.isfile(path):
            os.remove(path)

    def _give_up(self, exc):
        if _flag("FBACACHE_REQUIRE_EXTENSIONS"):
            raise exc
        if not self._warned:
            self._warned = True
            _warn(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else exc!r}")


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
