"""Build of the zarrtraj Python package.

The extension zarrtraj._core is built by CMake from the repository (the same
python/CMakeLists.txt the development build uses), linked against
libzarrtraj_static; nothing is downloaded. Needs cmake, a C compiler, the
library's -dev packages, python3-dev and python3-numpy (scripts/install-deps.sh).

Environment: ZT_CMAKE_BUILD_DIR (CMake build directory; default under
setuptools' build_temp), ZT_CMAKE_ARGS (extra configure arguments, e.g.
"-DZT_WITH_HDF5=OFF"), CMAKE_BUILD_PARALLEL_LEVEL (jobs; default: cores).
"""
import glob
import os
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class CMakeBuildExt(build_ext):
    def build_extension(self, ext):
        if shutil.which("cmake") is None:
            raise RuntimeError("zarrtraj: cmake is required to build the extension (apt-get install cmake)")
        if not os.path.exists(os.path.join(ROOT, "include", "zarrtraj.h")):
            raise RuntimeError(f"zarrtraj: library sources not found in {ROOT} (build from the repository)")
        out = os.path.abspath(self.get_ext_fullpath(ext.name))
        build_dir = os.environ.get("ZT_CMAKE_BUILD_DIR") or os.path.join(os.path.abspath(self.build_temp), "cmake")
        ext_dir = os.path.join(build_dir, "pyext-out")
        configure = ["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release", "-DZT_BUILD_TESTS=OFF",
                     "-DZT_WITH_PYTHON=ON", "-DZT_SANITIZE=OFF", f"-DPython3_EXECUTABLE={sys.executable}",
                     f"-DZT_PY_EXT_DIR={ext_dir}"] + shlex.split(os.environ.get("ZT_CMAKE_ARGS", ""))
        subprocess.check_call(configure)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "zarrtraj_pyext", "-j", jobs])
        built = glob.glob(os.path.join(ext_dir, "_core*.so"))
        if not built:
            raise RuntimeError(f"zarrtraj: the extension was not built (see the CMake output; {ext_dir})")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copyfile(built[0], out)


setup(ext_modules=[Extension("zarrtraj._core", sources=[])], cmdclass={"build_ext": CMakeBuildExt})
