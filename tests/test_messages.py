"""Every error a user can provoke: one line on stderr naming the input and how to mend it,
exit 2 (130 for Ctrl-C), and nothing changed. Each test provokes one, as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import build_tree, commit_all, git
from update_support import BASE_FILES, edit, new_service, repo_state, svc, template_repo


def _svc_process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scaffold", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _one_clean_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and "unexpectedly" not in done.stderr
    return lines[0]


def test_an_answer_of_the_wrong_type_names_the_question(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", BASE_FILES)
    done = _svc_process("new", "demo", "-t", str(template.path), "--defaults", "-d", "port=abc", cwd=tmp_path)
    line = _one_clean_line(done)
    assert "-d port=abc: 'port' takes a whole number" in line
    assert "invalid literal" not in line
    assert not (tmp_path / "demo").exists()


def test_an_unreachable_ssh_url_says_what_git_said_not_its_advice(tmp_path: Path) -> None:
    done = _svc_process("new", "demo", "-t", "git@example.invalid:team/tpl.git", cwd=tmp_path)
    line = _one_clean_line(done)
    assert "git@example.invalid:team/tpl.git" in line
    assert "(and the repository exists.)" not in line
    assert "check the URL" in line


def test_a_corrupt_svc_yml_is_named_with_its_line_in_one_line(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", BASE_FILES)
    service = new_service(template, tmp_path / "out")
    (service / ".svc.yml").write_text("layers: [\n  - a: b\n  bad")
    commit_all(service, "damage")
    line = _one_clean_line(_svc_process("update", str(service), cwd=tmp_path))
    assert ".svc.yml is not valid YAML (line " in line
    assert "git checkout -- .svc.yml" in line


def test_a_layer_without_its_format_is_named_not_a_python_error(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", BASE_FILES)
    service = new_service(template, tmp_path / "out")
    edit(service / ".svc.yml", "  format: copier\n", "")
    commit_all(service, "damage")
    line = _one_clean_line(_svc_process("check", str(service), cwd=tmp_path))
    assert "malformed layer" in line and "__init__" not in line


def test_an_update_during_a_rebase_gives_the_rebase_advice(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", BASE_FILES)
    service = new_service(template, tmp_path / "out")
    git(service, "switch", "-q", "-c", "side")
    build_tree(service, {"notes.txt": "side\n"})
    commit_all(service, "side")
    git(service, "switch", "-q", "main")
    build_tree(service, {"notes.txt": "main\n"})
    commit_all(service, "main")
    subprocess.run(["git", "rebase", "side"], cwd=service, capture_output=True, check=False)
    before = repo_state(service)
    line = _one_clean_line(_svc_process("update", str(service), cwd=tmp_path))
    assert "in the middle of a rebase" in line
    assert "git rebase --abort" in line and "git merge --abort" not in line
    assert repo_state(service) == before


def test_fleet_refuses_a_bad_branch_pattern_before_starting(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", BASE_FILES)
    service = new_service(template, tmp_path / "out")
    before = repo_state(service)
    line = _one_clean_line(_svc_process("fleet", "update", str(service), "--branch=-D", cwd=tmp_path))
    assert "--branch -D" in line
    assert repo_state(service) == before


def test_the_trust_refusal_is_one_sentence_naming_what_would_run(tmp_path: Path) -> None:
    template = build_tree(tmp_path / "tpl", {"copier.yml": "_tasks: ['true']\nservice_name: {type: str}\n"})
    line = _one_clean_line(_svc_process("new", "demo", "-t", str(template), "--defaults", cwd=tmp_path))
    assert "runs code on your machine (tasks)" in line
    assert "--trust" in line
    assert "copier copy" not in line and "UNSAFE" not in line.upper().replace("UNSAFE TEMPLATE", "")
    assert svc("new", "demo", "-t", template, "-o", tmp_path / "out", "--defaults").exit_code == 2


def test_ctrl_c_at_a_question_exits_130_and_leaves_nothing(tmp_path: Path) -> None:
    import pexpect

    template = build_tree(
        tmp_path / "tpl",
        {"copier.yml": "service_name: {type: str}\nport: {type: int, default: 8000}\n", "README.md": "x\n"},
    )
    out = tmp_path / "out"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "scaffold", "new", "billing", "-t", str(template), "-o", str(out)],
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 120),
    )
    child.expect("port")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130, child.before
    assert "Interrupted" in (child.before or "")
    assert "Copier" not in (child.before or "")
    assert not out.exists()


def test_a_jinja_error_names_the_file_in_the_template_not_a_temporary_copy(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", {**BASE_FILES, "broken.md": "{{ service_name }\n"})
    (template.path / "broken.md").rename(template.path / "broken.md.jinja")
    commit_all(template.path, "broken")
    git(template.path, "tag", "v1.0.1")
    line = _one_clean_line(_svc_process("new", "demo", "-t", str(template.path), "--defaults", cwd=tmp_path))
    assert "broken.md.jinja" in line
    assert "svc-template-" not in line and "/tmp/" not in line.split("broken.md.jinja")[0][-40:]


def test_svc_new_says_where_to_go_and_what_to_read(tmp_path: Path) -> None:
    with_readme = template_repo(tmp_path / "with-readme", "copier")
    with_readme.release("v1.0.0", BASE_FILES)
    done = _svc_process(
        "new", "billing", "-t", str(with_readme.path), "-o", "services", "--defaults", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "Next: cd services/billing and read its README.md." in done.stdout
    assert "inside the one at" not in done.stdout

    bare = build_tree(tmp_path / "bare", {"copier.yml": "service_name: {type: str}\n", "app.py": "x = 1\n"})
    done = _svc_process("new", "ledger", "-t", str(bare), "--defaults", cwd=tmp_path)
    assert "Next: cd ledger." in done.stdout


def test_svc_new_inside_a_repository_notes_the_nested_repository(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", BASE_FILES)
    monorepo = tmp_path / "monorepo"
    monorepo.mkdir()
    git(monorepo, "init", "-q")
    done = _svc_process("new", "billing", "-t", str(template.path), "--defaults", cwd=monorepo)
    assert done.returncode == 0, done.stderr
    assert f"billing is a git repository of its own inside the one at {monorepo}" in done.stdout


def test_svc_update_outside_a_service_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-service"
    folder.mkdir()
    git(folder, "init", "-q")
    line = _one_clean_line(_svc_process("update", cwd=folder))
    assert "is not a service" in line


def test_a_version_tag_is_shown_and_recorded_as_written(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "copier")
    template.release("2026.03.02", BASE_FILES)
    done = _svc_process("new", "demo", "-t", str(template.path), "--defaults", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2026.03.02" in done.stdout
    assert "version: 2026.03.02" in (tmp_path / "demo" / ".svc.yml").read_text()


def test_a_newest_tag_that_is_no_template_is_passed_over(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "copier")
    template.release("v1.0.0", BASE_FILES)
    for child in template.path.iterdir():
        if child.name != ".git":
            subprocess.run(["rm", "-rf", str(child)], check=True)
    build_tree(template.path, {"README.md": "This repository is no longer a template.\n"})
    commit_all(template.path, "retire the template")
    git(template.path, "tag", "v2.0.0")

    made = _svc_process("new", "demo", "-t", str(template.path), "--defaults", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "1.0.0" in made.stdout
    assert _svc_process("check", "demo", cwd=tmp_path).returncode == 0

    line = _one_clean_line(
        _svc_process("new", "other", "-t", str(template.path), "--ref", "v2.0.0", "--defaults", cwd=tmp_path)
    )
    assert f"{template.path} at v2.0.0 is not a template" in line


def test_an_engine_warning_is_one_line(tmp_path: Path) -> None:
    template = build_tree(
        tmp_path / "tpl",
        {"copier.yml": '_min_copier_version: "5.0.0"\nservice_name: {type: str}\n', "README.md": "x\n"},
    )
    done = _svc_process("new", "demo", "-t", str(template), "--defaults", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(warned) == 1, done.stderr
    assert warned[0].startswith("warning: This template was designed for Copier 5.0.0")


def _with_post_gen_hook(root: Path, hook: str) -> Path:
    """A small cookiecutter template whose post_gen_project hook is the Python `hook`."""
    return build_tree(
        root,
        {
            "cookiecutter.json": '{"service_name": "x", "project_slug": "{{ cookiecutter.service_name }}"}',
            "{{cookiecutter.project_slug}}/README.md": "hi\n",
            "hooks/post_gen_project.py": hook,
        },
    )


def test_a_failing_hook_is_one_line_with_its_message_not_its_traceback(tmp_path: Path) -> None:
    template = _with_post_gen_hook(
        tmp_path / "tpl", "raise SystemExit('the license answer must be MIT or GPL-3.0')\n"
    )
    done = _svc_process("new", "demo", "-t", str(template), "--defaults", "--trust", cwd=tmp_path)
    line = _one_clean_line(done)
    assert "A hook of the template failed: the license answer must be MIT or GPL-3.0." in line
    assert not (tmp_path / "demo").exists()

    noisy = _with_post_gen_hook(tmp_path / "noisy", "import sys\nprint('set up done', file=sys.stderr)\n")
    passed = _svc_process("new", "other", "-t", str(noisy), "--defaults", "--trust", cwd=tmp_path)
    assert passed.returncode == 0, passed.stderr
    assert "set up done" in passed.stderr  # a hook that succeeds is heard as it spoke
