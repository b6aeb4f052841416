"""Loader of ``tripled_fast.kernels``: the Triton kernels in the repository-root ``kernels/``.

The kernel sources live outside the package (project layout). This module turns itself into
a package whose search path is the first of

* ``tripled_fast/_kernels`` - where a wheel (``pip install .``) puts them (CMakeLists.txt), or
* ``<repository>/kernels`` - a checkout used through ``PYTHONPATH`` or ``pip install -e .``,

and runs that folder's ``__init__``, so ``tripled_fast.kernels.stats`` etc. import the same way
in every layout. Nothing here imports triton.
"""
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _candidate in (_HERE / "_kernels", _HERE.parent / "kernels"):
    if (_candidate / "__init__.py").is_file():
        break
else:
    raise ImportError(f"tripled_fast.kernels: kernel sources found neither in {_HERE / '_kernels'}"
                      f" nor in {_HERE.parent / 'kernels'}")
__path__ = [str(_candidate)]
__package__ = __name__
exec(compile((_candidate / "__init__.py").read_text(encoding="utf-8"),
             str(_candidate / "__init__.py"), "exec"))
