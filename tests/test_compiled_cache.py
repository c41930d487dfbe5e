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


def packs(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.jinja-pack"))


def render(template: Path, dest: Path, unsafe: bool = False) -> Path:
    run_copy(str(template), dest, data={"service_name": "billing"}, defaults=True, quiet=True, unsafe=unsafe)
    return dest


def test_a_second_render_reuses_what_the_first_compiled(tmp_path: Path, cache: Path) -> None:
    template = build_tree(tmp_path / "t", PLAIN)

    first = render(template, tmp_path / "a")
    [pack] = packs(cache)
    written = pack.read_bytes(), pack.stat().st_ino
    second = render(template, tmp_path / "b")

    assert packs(cache) == [pack]
    assert (pack.read_bytes(), pack.stat().st_ino) == written  # nothing compiled, nothing written
    assert (first / "greeting.txt").read_text() == (second / "greeting.txt").read_text()
    assert (second / "greeting.txt").read_text() == "[[ service_name ]] billing\n"


def test_an_edited_file_is_compiled_again(tmp_path: Path, cache: Path) -> None:
    template = build_tree(tmp_path / "t", PLAIN)
    render(template, tmp_path / "a")
    [pack] = packs(cache)
    before = pack.stat().st_size
    (template / "greeting.txt.jinja").write_text("Hello, {{ service_name }}, and more text than before\n")

    made = render(template, tmp_path / "b")

    assert (made / "greeting.txt").read_text() == "Hello, billing, and more text than before\n"
    assert pack.stat().st_size != before


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
    assert packs(cache) == []


def test_a_cache_folder_others_can_write_to_is_not_used(tmp_path: Path, cache: Path) -> None:
    cache.mkdir(parents=True)
    cache.chmod(0o777)
    template = build_tree(tmp_path / "t", PLAIN)

    made = render(template, tmp_path / "a")

    assert (made / "greeting.txt").read_text() == "[[ service_name ]] billing\n"
    assert packs(cache) == []


def test_a_new_cache_folder_is_private(tmp_path: Path, cache: Path) -> None:
    render(
        build_tree(tmp_path / "t", PLAIN),
        tmp_path / "a",
    )

    assert cache.stat().st_mode & 0o777 == 0o700


def test_the_least_recently_used_packs_go_beyond_the_limit(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compiled_cache, "MAX_PACKS", 2)
    templates = [build_tree(tmp_path / f"t{n}", PLAIN) for n in range(3)]
    render(templates[0], tmp_path / "a")
    [oldest] = packs(cache)
    for n, template in enumerate(templates[1:]):
        render(template, tmp_path / f"b{n}")

    assert len(packs(cache)) == 2
    assert oldest not in packs(cache)


def test_a_pack_that_cannot_be_written_costs_the_render_nothing(tmp_path: Path, cache: Path) -> None:
    template = build_tree(tmp_path / "t", PLAIN)
    render(template, tmp_path / "a")
    [pack] = packs(cache)
    pack.unlink()
    pack.mkdir()  # where the pack goes, a folder: writing it fails

    made = render(template, tmp_path / "b")

    assert (made / "greeting.txt").read_text() == "[[ service_name ]] billing\n"
    assert pack.is_dir()
