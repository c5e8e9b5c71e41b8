"""The simulator's hot modules compiled to C with mypyc, used when a build of exactly these sources is present.

`compile_modules()` (the command `aifactory bench compile`) compiles `COMPILED` with mypyc into a folder named by a
hash of their sources and of the Python version, under `build_root()`. `use()`, called when aifactory.core.sim is
imported, puts that folder ahead of the package's own on its `__path__`, so that the compiled modules are imported
instead of the sources. A source edited since its build changes the hash, so a stale build is never used; without a
build the sources run as they are, and give the same schedules (the compiled code does the same float operations in
the same order).

AIFACTORY_SIM_COMPILED: unset, use a build if there is one; "0", never; "1", always (importing the simulator fails
without a build). AIFACTORY_SIM_BUILD_DIR: where builds are kept, by default $XDG_CACHE_HOME/aifactory/sim
(~/.cache/aifactory/sim).

Compiling needs mypy (which ships mypyc; the `bench` extra installs it), a C compiler and Python's headers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import MutableSequence
from pathlib import Path

from aifactory.core.exceptions import CoreError

COMPILED = ("machine", "prediction", "engine", "policies")
"""The modules compiled, in aifactory.core.sim: the event loop and all it calls per job."""
GROUP = "aifactory.core.sim._native"
"""mypyc's name for the compiled group: its shared library is aifactory/core/sim/_native__mypyc, inside the build."""
BUILT = (*COMPILED, GROUP.rsplit(".", 1)[1] + "__mypyc")
"""The extension modules a complete build holds: the compiled ones and the group's shared library."""
_PACKAGE_DIR = Path(__file__).resolve().parent
_MODE_ENV = "AIFACTORY_SIM_COMPILED"


def build_root() -> Path:
    configured = os.environ.get("AIFACTORY_SIM_BUILD_DIR")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "aifactory" / "sim"


def source_key() -> str:
    """The hash that names a build: the compiled modules' sources and the interpreter's ABI."""
    digest = hashlib.sha256(f"{sys.version}\0{sysconfig.get_config_var('SOABI')}\0".encode())
    for name in COMPILED:
        digest.update(name.encode() + b"\0" + (_PACKAGE_DIR / f"{name}.py").read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def build_dir() -> Path:
    """Where a build of the current sources is, or would be: the folder to put on the package's __path__."""
    return build_root() / source_key() / "aifactory" / "core" / "sim"


def _complete(folder: Path) -> bool:
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    return all((folder / f"{name}{suffix}").is_file() for name in BUILT)


def use(package_path: MutableSequence[str]) -> bool:
    """Put the build of the current sources first on `package_path` (the package's __path__) if there is one, as
    AIFACTORY_SIM_COMPILED allows. Returns whether it did."""
    mode = os.environ.get(_MODE_ENV, "")
    if mode == "0":
        return False
    folder = build_dir()
    if not _complete(folder):
        if mode == "1":
            raise ImportError(f"{_MODE_ENV}=1 but no compiled simulator is built for these sources in {folder}; "
                              "run `aifactory bench compile`")
        return False
    if str(folder) not in package_path:
        package_path.insert(0, str(folder))
    return True


def is_compiled() -> bool:
    """Whether the simulator's engine running in this process is the compiled one."""
    from aifactory.core.sim import engine

    return not str(engine.__file__).endswith(".py")


def compile_modules(*, force: bool = False) -> Path:
    """Compile `COMPILED` with mypyc into `build_dir()` (if not built already, or `force`); returns it. The build is
    made in a temporary folder and moved into place whole, so a failed or concurrent build never leaves a half one
    where `use` looks."""
    target = build_dir()
    if _complete(target) and not force:
        return target
    try:
        import mypyc  # noqa: F401
    except ImportError as exc:
        raise CoreError("mypyc is not installed: pip install 'aifactory[bench]' (it ships with mypy)") from exc
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        raise CoreError(f"no C compiler found ({compiler})")
    source_root = _PACKAGE_DIR.parents[2]  # the folder that holds the aifactory package
    key_root = target.parents[2]  # build_root() / key
    key_root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=key_root.parent, prefix=".building-") as tmp:
        work = Path(tmp)
        script = (
            "from setuptools import setup\n"
            "from mypyc.build import mypycify\n"
            f"paths = {[f'aifactory/core/sim/{name}.py' for name in COMPILED]!r}\n"
            f"setup(name='aifactory-sim-native', ext_modules=mypycify(paths, group_name={GROUP!r},"
            f" target_dir={str(work / 'c')!r}),"
            f" script_args=['build_ext', '--build-lib', {str(work / 'lib')!r},"
            f" '--build-temp', {str(work / 'tmp')!r}])\n"
        )
        env = dict(os.environ, MYPY_CACHE_DIR=str(work / "mypy-cache"))
        done = subprocess.run([sys.executable, "-c", script], cwd=source_root, env=env,  # noqa: S603
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CoreError("mypyc failed:\n" + (done.stdout + done.stderr)[-4000:])
        built = work / "lib"  # laid out as build_root() / key: aifactory/core/sim/*.so
        if not _complete(built / "aifactory" / "core" / "sim"):
            raise CoreError(f"mypyc built no complete set of modules in {built}")
        if key_root.exists():
            shutil.rmtree(key_root)
        os.replace(built, key_root)
    return target
