"""Ships the top-level templates/ tree inside the `survey` package of a wheel (as
survey/templates), where `survey.templating.template_folder` finds it. Everything else about
the build is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithTemplates(build_py):
    def run(self) -> None:
        super().run()
        # An editable install reads templates/ where it is.
        if not getattr(self, "editable_mode", False):
            target = Path(self.build_lib) / "survey" / "templates"
            shutil.copytree(Path(__file__).parent / "templates", target, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithTemplates})
