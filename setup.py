"""Only one thing pyproject.toml cannot say: copy the clone's samples and notebooks into the wheel.

``tyk_migrate/resources.py`` names the folders and files (``SHIPPED``) and finds them again, in a
clone or under ``tyk_migrate/data/`` in an installed wheel. An editable install reads the clone's.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _shipped() -> dict[str, tuple[str, ...]]:
    sys.path.insert(0, str(HERE))
    try:
        from tyk_migrate.resources import PACKAGED, SHIPPED
    finally:
        sys.path.pop(0)
    assert PACKAGED.name == "data"
    return SHIPPED


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the clone's folders
        for folder, patterns in _shipped().items():
            target = Path(self.build_lib) / "tyk_migrate" / "data" / folder
            target.mkdir(parents=True, exist_ok=True)
            for pattern in patterns:
                for source in sorted((HERE / folder).glob(pattern)):
                    shutil.copy2(source, target / source.name)


setup(cmdclass={"build_py": BuildWithData})
