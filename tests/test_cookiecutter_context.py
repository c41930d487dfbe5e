"""The `_` keys of a cookiecutter render's context: what cruft gives (`_template`, `_commit`),
so a render is the same wherever it is made and a project made by cruft is taken over without
spurious conflicts; cookiecutter's folder keys only for a template that names them."""

from __future__ import annotations

from pathlib import Path

from helpers import build_tree, commit_all, git, init_repo, tag
from update_support import cruft_create, svc

SPEC = '{"service_name": "x", "project_slug": "{{ cookiecutter.service_name }}", "owner": "platform"}'
# As cookiecutter-pylibrary's .cookiecutterrc did up to its v2.0: every key of the context.
WHOLE_CONTEXT = "{% for key, value in cookiecutter.items()|sort %}{{ key }}={{ value }}\n{% endfor %}"


def _template(root: Path) -> tuple[Path, str]:
    template = init_repo(root)
    build_tree(
        template,
        {
            "cookiecutter.json": SPEC,
            "{{cookiecutter.project_slug}}/README.md": "# {{ cookiecutter.service_name }}\n",
            "{{cookiecutter.project_slug}}/.context": WHOLE_CONTEXT,
        },
    )
    commit = commit_all(template, "v1")
    tag(template, "v1.0.0")
    return template, commit


def _release_v2(template: Path) -> None:
    build_tree(
        template, {"{{cookiecutter.project_slug}}/README.md": "# {{ cookiecutter.service_name }}\nv2\n"}
    )
    commit_all(template, "v2")
    tag(template, "v2.0.0")


def test_a_render_names_its_template_and_commit_and_no_folder_of_the_machine(tmp_path: Path) -> None:
    template, commit = _template(tmp_path / "tpl")
    renders = []
    for where in ("a", "b"):
        made = svc("new", "billing", "-t", template, "-o", tmp_path / where, "--defaults")
        assert made.exit_code == 0, made.output
        renders.append((tmp_path / where / "billing" / ".context").read_text())
    assert renders[0] == renders[1]
    assert f"_template={template}\n" in renders[0]
    assert f"_commit={commit}\n" in renders[0]
    assert "_output_dir" not in renders[0] and "_repo_dir" not in renders[0]
    assert str(tmp_path / "a") not in renders[0]
    first = [git(tmp_path / where / "billing", "rev-parse", "HEAD") for where in ("a", "b")]
    assert first[0] == first[1]


def test_a_project_made_by_cruft_is_taken_over_without_conflicts(tmp_path: Path) -> None:
    template, _ = _template(tmp_path / "tpl")
    cruft_create(template, tmp_path, "--extra-context", '{"service_name": "billing"}')
    project = tmp_path / "billing"
    git(project, "init", "-q")
    commit_all(project, "made by cruft")
    (project / "NOTES.md").write_text("ours\n")
    commit_all(project, "local")
    _release_v2(template)

    updated = svc("update", project, "--commit")

    assert updated.exit_code == 0, updated.output
    assert "conflict" not in updated.output
    assert (project / "README.md").read_text() == "# billing\nv2\n"
    assert (project / "NOTES.md").read_text() == "ours\n"


def test_a_template_that_names_a_folder_key_gets_it(tmp_path: Path) -> None:
    """A hook copying a file out of the template reads `_repo_dir`, as under cookiecutter."""
    template, _ = _template(tmp_path / "tpl")
    build_tree(
        template,
        {
            "extras/banner.txt": "from the template\n",
            "hooks/post_gen_project.py": (
                "import shutil\nshutil.copy('{{ cookiecutter._repo_dir }}/extras/banner.txt', 'banner.txt')\n"
            ),
        },
    )
    commit_all(template, "a hook")
    tag(template, "v1.1.0")
    made = svc("new", "billing", "-t", template, "-o", tmp_path / "out", "--defaults", "--trust")
    assert made.exit_code == 0, made.output
    service = tmp_path / "out" / "billing"
    assert (service / "banner.txt").read_text() == "from the template\n"
    assert "_repo_dir=" in (service / ".context").read_text()
