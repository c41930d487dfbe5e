"""A copier template using the features public templates lean on (`_subdirectory`,
`_exclude`, `_jinja_extensions`, `_tasks`, a templated answers file) goes through new, local
commits and update as copier itself would render it."""

from __future__ import annotations

from pathlib import Path

from helpers import build_tree, commit_all, git, init_repo, tag
from update_support import svc

CONFIG = """\
_subdirectory: project
_exclude: ["*.bak", "notes"]
_jinja_extensions: ["jinja2.ext.do"]
_tasks: ["touch TASK-RAN"]
service_name: {type: str}
owner: {type: str, default: platform}
"""

# `do` comes from the jinja2.ext.do extension.
OWNERS = "{% set team = [owner] %}{% do team.append('sre') %}{{ team|join(',') }}\n"


def _release(template: Path, version: str, readme: str) -> None:
    build_tree(
        template,
        {
            "copier.yml": CONFIG,
            "README.md": "Template docs, never rendered.\n",
            "project/README.md.jinja": readme,
            "project/old.bak": "excluded\n",
            "project/notes/todo.md": "excluded too\n",
            "project/owners.txt.jinja": OWNERS,
            "project/{{ _copier_conf.answers_file }}.jinja": "{{ _copier_answers|to_nice_yaml }}",
        },
    )
    commit_all(template, version)
    tag(template, version)


def test_subdirectory_exclude_extensions_and_tasks_through_new_and_update(tmp_path: Path) -> None:
    template = init_repo(tmp_path / "tpl")
    _release(template, "v1.0.0", "# {{ service_name }}\n\nOwned by {{ owner }}.\n\n## Notes\n")
    out = tmp_path / "out"
    refused = svc("new", "billing", "-t", template, "-o", out, "--defaults")
    assert refused.exit_code == 2 and "--trust" in refused.output

    made = svc("new", "billing", "-t", template, "-o", out, "--defaults", "--trust")

    assert made.exit_code == 0, made.output
    service = out / "billing"
    files = set(git(service, "ls-files").split())
    assert files == {"README.md", "owners.txt", ".copier-answers.yml", ".svc.yml", "TASK-RAN"}
    assert (service / "owners.txt").read_text() == "platform,sre\n"
    (service / "README.md").write_text((service / "README.md").read_text() + "\nOur notes.\n")
    commit_all(service, "local 1")
    (service / "app.py").write_text("print('ours')\n")
    commit_all(service, "local 2")

    _release(
        template, "v2.0.0", "# {{ service_name }}\n\nOwned by {{ owner }}; ask in #{{ owner }}.\n\n## Notes\n"
    )
    updated = svc("update", service, "--trust", "--commit")

    assert updated.exit_code == 0, updated.output
    readme = (service / "README.md").read_text()
    assert "ask in #platform" in readme and "Our notes." in readme
    assert (service / "app.py").read_text() == "print('ours')\n"
    assert not (service / "old.bak").exists() and not (service / "notes").exists()
    assert "_commit: v2.0.0" in (service / ".copier-answers.yml").read_text()
