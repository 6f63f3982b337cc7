"""The README shows the first example exactly as the file that the tests run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_is_the_example_file() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "no python block in the README"
    assert blocks[0] == (ROOT / "examples" / "deploy_to_production.py").read_text()


def test_top_readme_snippet_is_taken_from_the_example() -> None:
    top = (ROOT.parents[1] / "README.md").read_text()
    section = top.split("### Python", 1)[1]
    snippet = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    example = [
        line.strip()
        for line in (ROOT / "examples" / "deploy_to_production.py").read_text().splitlines()
        if line.strip()
    ]
    wanted = [line.strip() for line in snippet.splitlines() if line.strip()]
    start = example.index(wanted[0])
    assert example[start : start + len(wanted)] == wanted
    assert wanted[0].startswith("def deploy_to_production"), "the whole function is shown"
