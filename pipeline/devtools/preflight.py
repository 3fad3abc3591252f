"""Pre-flight checks that turn an impossible install into one clear sentence.

Runs with the standard library only, before the virtualenv exists:

    python3.10 pipeline/devtools/preflight.py interpreter   # this Python can host the stack
    .venv/bin/python pipeline/devtools/preflight.py imports  # the installed wheels load here
"""

from __future__ import annotations

import importlib
import platform
import sys

REQUIRED = (3, 10)
# Native extensions whose wheels decide whether the stack can run on this machine.
NATIVE_MODULES = ("tensorflow", "ml_metadata", "tfx_bsl", "apache_beam", "pyarrow")
MIN_GLIBC = (2, 17)  # manylinux2014, the oldest tag TFX 1.16's wheels are built for


def interpreter_problem(
    version: tuple[int, ...] = tuple(sys.version_info[:2]),
    system: str = platform.system(),
    machine: str = platform.machine(),
    libc: tuple[str, str] = platform.libc_ver(),
) -> str | None:
    """Returns why this interpreter cannot host TFX 1.16, or None if it can.

    Args:
        version: ``(major, minor)`` of the interpreter.
        system: ``platform.system()``.
        machine: ``platform.machine()``.
        libc: ``platform.libc_ver()``.

    Returns:
        One sentence describing the problem, or None.
    """
    found = ".".join(str(v) for v in version)
    if tuple(version[:2]) != REQUIRED:
        return (
            f"Python {found} found, but this project needs Python 3.10 because TFX 1.16 and "
            "its ML Metadata/TFX-BSL wheels exist only for Python 3.9-3.10 (install 3.10, "
            "e.g. `pyenv install 3.10`; .python-version selects it)."
        )
    if system == "Linux":
        if machine not in ("x86_64", "AMD64"):
            return (
                f"This is Linux on {machine}, but TFX 1.16's ML Metadata and TFX-BSL wheels "
                "are published only for x86_64 Linux (and macOS)."
            )
        name, libc_version = libc
        if name == "glibc" and libc_version:
            parts = tuple(int(p) for p in libc_version.split(".")[:2] if p.isdigit())
            if parts < MIN_GLIBC:
                return (
                    f"glibc {libc_version} is older than 2.17, the minimum for the "
                    "manylinux2014 wheels TensorFlow 2.16 and TFX 1.16 ship."
                )
        elif not name:
            return (
                "This Linux has no glibc (musl/Alpine?), and TFX's manylinux wheels cannot "
                "load on it."
            )
        return None
    if system == "Darwin":
        return None
    return f"{system} is not supported: TFX 1.16's wheels exist for Linux x86_64 and macOS only."


def import_problem(modules: tuple[str, ...] = NATIVE_MODULES) -> str | None:
    """Imports the stack's native modules and explains the first that fails.

    Args:
        modules: Module names to import.

    Returns:
        One sentence naming the module and the loader's complaint, or None.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - any loader failure is the answer
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            return (
                f"The installed {name} wheel cannot load on this machine ({reason}); "
                f"the stack needs Linux x86_64 with glibc >= 2.17 and Python 3.10."
            )
    return None


def main(argv: list[str]) -> int:
    """Runs the check named in ``argv``.

    Args:
        argv: ``["interpreter"]`` or ``["imports"]``.

    Returns:
        0 if fine, 1 with the sentence on stderr otherwise.
    """
    check = argv[0] if argv else "interpreter"
    problem = interpreter_problem() if check == "interpreter" else import_problem()
    if problem:
        print(f"preflight: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
