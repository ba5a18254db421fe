"""Copies the top-level grammar/ into the wheel as streamsql/grammar/ (pyproject holds the rest)."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithGrammar(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "streamsql" / "grammar"
        target.mkdir(parents=True, exist_ok=True)
        for lark_file in (Path(__file__).parent / "grammar").glob("*.lark"):
            shutil.copy(lark_file, target / lark_file.name)


setup(cmdclass={"build_py": BuildWithGrammar})
