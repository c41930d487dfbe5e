"""Compiled templates kept between renders: a later render reuses them only where the code
would be the same, and the cache stays private and bounded."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import build_tree

from scaffold.render import compiled_cache
from scaffold.render.copier_engine import run_copy

SHARED_FILE = {"greeting.txt.jinja": "[[ service_name ]] {{ service_name }}\n"}
PLAIN = {"copier.yml": "service_name: {type: str}\n", **SHARED_FILE}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "svc" / "compiled"


def entries(cache: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in cache.glob("*.jinja-code")}


def render(template: Path, dest: Path, unsafe: bool = False) -> Path:
    run_copy(str(template), dest, data={"service_name": "billing"}, defaults=True, quiet=True, unsafe=unsafe)
    return dest


def test_a_second_render_reuses_what_the_first_compiled(tmp_path: Path, cache: Path) -> None:
    template = build_tree(tmp_path / "t", PLAIN)

    first = render(template, tmp_path / "a")
    compiled = entries(cache)
    second = render(template, tmp_path / "b")

    assert compiled
    assert entries(cache) == compiled
    assert (first / "greeting.txt").read_text() == (second / "greeting.txt").read_text()
    assert (second / "greeting.txt").read_text() == "[[ service_name ]] billing\n"


def test_other_delimiters_never_get_code_compiled_for_the_usual_ones(tmp_path: Path, cache: Path) -> None:
    usual = build_tree(tmp_path / "usual", PLAIN)
    brackets = build_tree(
        tmp_path / "brackets",
        {
            "copier.yml": """\
                _envops: {variable_start_string: "[[", variable_end_string: "]]"}
                service_name: {type: str}
                """,
            **SHARED_FILE,
        },
    )

    render(usual, tmp_path / "a")
    made = render(brackets, tmp_path / "b")

    assert (made / "greeting.txt").read_text() == "billing {{ service_name }}\n"


def test_a_template_with_jinja_extensions_of_its_own_is_never_cached(tmp_path: Path, cache: Path) -> None:
    template = build_tree(
        tmp_path / "t",
        {
            "copier.yml": '_jinja_extensions: ["jinja2.ext.do"]\nservice_name: {type: str}\n',
            "list.txt.jinja": "{% set xs = [] %}{% do xs.append(service_name) %}{{ xs }}\n",
        },
    )

    made = render(template, tmp_path / "a", unsafe=True)

    assert (made / "list.txt").read_text() == "['billing']\n"
    assert entries(cache) == {}


def test_a_cache_folder_others_can_write_to_is_not_used(tmp_path: Path, cache: Path) -> None:
    cache.mkdir(parents=True)
    cache.chmod(0o777)
    template = build_tree(tmp_path / "t", PLAIN)

    made = render(template, tmp_path / "a")

    assert (made / "greeting.txt").read_text() == "[[ service_name ]] billing\n"
    assert entries(cache) == {}


def test_a_new_cache_folder_is_private(tmp_path: Path, cache: Path) -> None:
    render(
        build_tree(tmp_path / "t", PLAIN),
        tmp_path / "a",
    )

    assert cache.stat().st_mode & 0o777 == 0o700


def test_the_oldest_entries_go_beyond_the_limit(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compiled_cache, "MAX_ENTRIES", 5)
    files = {f"f{n}.txt.jinja": f"{n} {{{{ service_name }}}}\n" for n in range(8)}
    template = build_tree(tmp_path / "t", {"copier.yml": "service_name: {type: str}\n", **files})

    made = render(template, tmp_path / "a")

    assert len(entries(cache)) == 5
    assert (made / "f7.txt").read_text() == "7 billing\n"
