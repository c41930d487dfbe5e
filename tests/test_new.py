"""`svc new`: every kind of template source, both formats, and bad input leaving nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from helpers import build_tree, commit_all, git, init_repo
from template_repos import cookiecutter_template, copier_template, git_daemon

from scaffold.cli import main


def svc(*args: str):
    return CliRunner().invoke(main, list(args))


def svc_yml(service: Path) -> dict:
    return yaml.safe_load((service / ".svc.yml").read_text())


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


@pytest.fixture
def copier_repo(tmp_path: Path) -> Path:
    return copier_template(tmp_path / "tpl-copier")


def test_builtin_template_is_the_default(out):
    result = svc("new", "billing", "--defaults", "-o", str(out))
    assert result.exit_code == 0, result.output
    service = out / "billing"
    assert (service / "src" / "billing" / "__main__.py").is_file()
    layer = svc_yml(service)["layers"][0]
    assert layer["source"] == "builtin:python-service"
    assert layer["format"] == "copier"
    assert svc_yml(service)["answers"]["service_name"] == "billing"
    log = git(service, "log", "--format=%s").splitlines()
    assert log == [f"Render builtin:python-service {layer['version']}"]
    assert "Svc-Render: " in git(service, "log", "-1", "--format=%(trailers)")
    assert git(service, "rev-parse", "HEAD") == git(service, "rev-parse", "svc/template")
    assert git(service, "status", "--porcelain") == ""


def test_plain_folder_template_records_its_absolute_path(out, tmp_path):
    template = build_tree(
        tmp_path / "plain",
        {
            "copier.yml": "service_name: {type: str}\n",
            "hello.txt.jinja": "hello {{ service_name }}\n",
        },
    )
    result = svc("new", "greeter", "--template", str(template), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "greeter" / "hello.txt").read_text() == "hello greeter\n"
    assert svc_yml(out / "greeter")["layers"][0]["source"] == str(template)


def test_local_repository_defaults_to_newest_release_tag(out, copier_repo):
    result = svc("new", "billing", "-t", str(copier_repo), "-o", str(out), "-d", "port=9000")
    assert result.exit_code == 0, result.output
    service = out / "billing"
    layer = svc_yml(service)["layers"][0]
    assert (layer["ref"], layer["version"]) == ("v1.1.0", "1.1.0")
    assert layer["commit"] == git(copier_repo, "rev-parse", "v1.1.0^{commit}").strip()
    assert "Listens on 9000." in (service / "README.md").read_text()
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(copier_repo)
    assert answers["_commit"] == "v1.1.0"
    assert "1.1.0" in git(service, "log", "-1", "--format=%s")


@pytest.mark.parametrize("ref", ["v1.0.0", "main", "commit"])
def test_ref_picks_a_tag_branch_or_commit(out, copier_repo, ref):
    if ref == "commit":
        ref = git(copier_repo, "rev-parse", "v1.0.0").strip()
    result = svc("new", "billing", "-t", str(copier_repo), "--ref", ref, "-o", str(out))
    assert result.exit_code == 0, result.output
    expected = git(copier_repo, "rev-parse", f"{ref}^{{commit}}").strip()
    assert svc_yml(out / "billing")["layers"][0]["commit"] == expected


def test_a_local_bare_repository_is_read_at_its_tags(out, copier_repo, tmp_path):
    bare = tmp_path / "template.git"
    git(tmp_path, "clone", "-q", "--bare", str(copier_repo), str(bare))

    result = svc("new", "billing", "-t", str(bare), "--ref", "v1.0.0", "-o", str(out))

    assert result.exit_code == 0, result.output
    layer = svc_yml(out / "billing")["layers"][0]
    assert layer["commit"] == git(copier_repo, "rev-parse", "v1.0.0^{commit}").strip()
    assert layer["source"] == str(bare)


def test_repository_without_release_tags_uses_head(out, tmp_path):
    repo = init_repo(tmp_path / "untagged", {"copier.yml": "service_name: {type: str}\n", "a.txt": "a\n"})
    result = svc("new", "billing", "-t", str(repo), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert svc_yml(out / "billing")["layers"][0]["ref"] == "HEAD"


def test_the_users_template_repository_is_never_modified(out, copier_repo):
    build_tree(copier_repo, {"README.md.jinja": "uncommitted edit\n", "scratch.txt": "x"})
    before = (
        git(copier_repo, "status", "--porcelain"),
        git(copier_repo, "for-each-ref"),
        listing(copier_repo / ".git"),
    )
    assert svc("new", "billing", "-t", str(copier_repo), "-o", str(out)).exit_code == 0
    after = (
        git(copier_repo, "status", "--porcelain"),
        git(copier_repo, "for-each-ref"),
        listing(copier_repo / ".git"),
    )
    assert before == after
    assert "uncommitted edit" not in (out / "billing" / "README.md").read_text()


def test_file_url_is_mirrored_once_and_reused(out, copier_repo, tmp_path, monkeypatch):
    # A cache of this test's own: other tests in the same worker mirror other repositories.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = f"file://{copier_repo}"
    assert svc("new", "one", "-t", url, "-o", str(out)).exit_code == 0
    mirrors = list((tmp_path / "cache" / "svc" / "repos").glob("*.git"))
    assert len(mirrors) == 1
    marker = mirrors[0] / "svc-test-marker"
    marker.write_text("still the same mirror")
    git(copier_repo, "tag", "v1.2.0")
    result = svc("new", "two", "-t", url, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert marker.exists(), "the cached mirror was cloned again instead of fetched"
    assert svc_yml(out / "two")["layers"][0]["version"] == "1.2.0", "the mirror was not fetched"
    assert svc_yml(out / "one")["layers"][0]["source"] == url


def test_remote_git_url_over_git_daemon(out, tmp_path):
    served = tmp_path / "served"
    copier_template(served / "tpl")
    with git_daemon(served) as base_url:
        result = svc("new", "billing", "-t", f"{base_url}/tpl", "--ref", "v1.0.0", "-o", str(out))
    assert result.exit_code == 0, result.output
    layer = svc_yml(out / "billing")["layers"][0]
    assert layer["source"] == f"{base_url}/tpl"
    assert layer["version"] == "1.0.0"


def test_cookiecutter_template_gets_service_name_as_project_slug(out, tmp_path):
    repo = cookiecutter_template(tmp_path / "tpl-cc")
    result = svc("new", "billing", "-t", str(repo), "-o", str(out), "-d", "port=9100")
    assert result.exit_code == 0, result.output
    service = out / "billing"
    assert (service / "README.md").read_text().startswith("# billing")
    assert (service / "app.py").read_text() == "PORT = 9100\n"
    doc = svc_yml(service)
    assert doc["layers"][0]["format"] == "cookiecutter"
    assert doc["answers"] == {"project_slug": "billing", "port": "9100"}


def test_empty_existing_target_is_used(out, copier_repo):
    (out / "billing").mkdir()
    assert svc("new", "billing", "-t", str(copier_repo), "-o", str(out)).exit_code == 0
    assert (out / "billing" / "README.md").is_file()


def test_no_git_makes_no_repository(out, copier_repo):
    result = svc("new", "billing", "-t", str(copier_repo), "-o", str(out), "--no-git")
    assert result.exit_code == 0, result.output
    assert (out / "billing" / ".svc.yml").is_file()
    assert not (out / "billing" / ".git").exists()


def test_missing_output_dir_is_created(tmp_path, copier_repo):
    target = tmp_path / "a" / "b"
    assert svc("new", "billing", "-t", str(copier_repo), "-o", str(target)).exit_code == 0
    assert (target / "billing" / ".svc.yml").is_file()


def test_works_without_a_git_identity_and_says_which_it_used(tmp_path, copier_repo):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    env.update(GIT_CONFIG_GLOBAL=str(empty), GIT_CONFIG_NOSYSTEM="1")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scaffold",
            "new",
            "billing",
            "-t",
            str(copier_repo),
            "-o",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "No git identity is configured" in done.stdout
    assert git(tmp_path / "billing", "log", "--format=%an <%ae>").strip() == "svc <svc@localhost>"


# --- bad input: one clear sentence, exit 2, nothing on disk -------------------------------------


def assert_refused(result, out: Path, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output
    assert listing(out) == [], "something was left on disk"


@pytest.mark.parametrize(
    "name",
    [
        "Billing",
        "billing_svc",
        "9lives",
        "a--b",
        "-x",
        "../x",
        "x/y",
        "json",
        "class",
        "",
        "a" * 64,
    ],
)
def test_invalid_names_are_refused(out, name):
    assert_refused(svc("new", "-o", str(out), "--", name), out, "error:")


def test_existing_non_empty_target_is_refused_and_kept(out, copier_repo):
    (out / "billing").mkdir()
    (out / "billing" / "mine.txt").write_text("keep me")
    result = svc("new", "billing", "-t", str(copier_repo), "-o", str(out))
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert listing(out) == ["billing", "billing/mine.txt"]


def test_unknown_template_name_is_refused(out):
    assert_refused(svc("new", "billing", "-t", "no-such-template", "-o", str(out)), out, "svc templates list")


def test_unknown_builtin_is_refused(out):
    assert_refused(svc("new", "billing", "-t", "builtin:nope", "-o", str(out)), out, "builtin:python-service")


def test_folder_that_is_not_a_template_is_refused(out, tmp_path):
    (tmp_path / "notatemplate").mkdir()
    assert_refused(
        svc("new", "billing", "-t", str(tmp_path / "notatemplate"), "-o", str(out)),
        out,
        "not a template",
    )


def test_unknown_ref_is_refused(out, copier_repo):
    assert_refused(
        svc("new", "billing", "-t", str(copier_repo), "--ref", "v9.9.9", "-o", str(out)),
        out,
        "v9.9.9",
    )


def test_jinja_syntax_error_leaves_no_half_rendered_tree(out, tmp_path):
    template = build_tree(
        tmp_path / "broken",
        {
            "copier.yml": "service_name: {type: str}\n",
            "a_good.txt.jinja": "fine {{ service_name }}\n",
            "z_bad.txt.jinja": "broken {{ service_name \n",
        },
    )
    assert_refused(svc("new", "billing", "-t", str(template), "-o", str(out)), out, "Jinja")


def test_validator_rejection_names_the_question(out, copier_repo):
    assert_refused(
        svc("new", "billing", "-t", str(copier_repo), "-d", "port=80", "-o", str(out)),
        out,
        "port",
        "1024",
    )


def test_malformed_data_option_is_refused(out, copier_repo):
    assert_refused(
        svc("new", "billing", "-t", str(copier_repo), "-d", "port", "-o", str(out)),
        out,
        "KEY=VALUE",
    )


def test_cookiecutter_hook_needs_trust(out, tmp_path):
    repo = cookiecutter_template(tmp_path / "tpl-cc")
    build_tree(repo, {"hooks/post_gen_project.py": "open('HOOK_RAN', 'w').write('yes')\n"})
    commit_all(repo, "add a hook")
    git(repo, "tag", "1.1.0")
    assert_refused(svc("new", "billing", "-t", str(repo), "-o", str(out)), out, "--trust", "post_gen_project")
    result = svc("new", "billing", "-t", str(repo), "-o", str(out), "--trust")
    assert result.exit_code == 0, result.output
    assert (out / "billing" / "HOOK_RAN").read_text() == "yes"


def test_copier_tasks_need_trust(out, tmp_path):
    template = build_tree(
        tmp_path / "tasks",
        {
            "copier.yml": "_tasks: ['touch TASK_RAN']\nservice_name: {type: str}\n",
            "a.txt": "a\n",
        },
    )
    assert_refused(svc("new", "billing", "-t", str(template), "-o", str(out)), out, "--trust")
    assert svc("new", "billing", "-t", str(template), "-o", str(out), "--trust").exit_code == 0
    assert (out / "billing" / "TASK_RAN").exists()


def test_template_file_names_cannot_escape_the_target(out, tmp_path):
    repo = cookiecutter_template(tmp_path / "tpl-cc")
    build_tree(
        repo,
        {
            "cookiecutter.json": '{"project_slug": "x", "where": "../../../escaped"}\n',
            "{{cookiecutter.project_slug}}/{{cookiecutter.where}}/f.txt": "x\n",
        },
    )
    commit_all(repo, "escape")
    git(repo, "tag", "1.1.0")
    assert_refused(svc("new", "billing", "-t", str(repo), "-o", str(out)), out, "outside")
    assert not list(tmp_path.rglob("escaped"))


def test_template_symlink_leading_outside_is_refused(out, tmp_path):
    template = build_tree(
        tmp_path / "links",
        {
            "copier.yml": "_preserve_symlinks: true\nservice_name: {type: str}\n",
        },
    )
    (template / "secret").symlink_to("/etc/passwd")
    assert_refused(svc("new", "billing", "-t", str(template), "-o", str(out)), out, "outside")


def test_cookiecutter_rendering_is_sandboxed(out, tmp_path):
    repo = cookiecutter_template(tmp_path / "tpl-cc")
    build_tree(
        repo,
        {"{{cookiecutter.project_slug}}/x.txt": "{{ cookiecutter.__class__.__mro__[1].__subclasses__() }}\n"},
    )
    commit_all(repo, "reach for python internals")
    git(repo, "tag", "1.1.0")
    assert_refused(svc("new", "billing", "-t", str(repo), "-o", str(out)), out, "error:")


def _tree_git_add_makes(service: Path, elsewhere: Path) -> str:
    """The tree `git add -A` makes of the service's files, in a repository of their own."""
    shutil.copytree(service, elsewhere, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    init_repo(elsewhere)
    git(elsewhere, "add", "-A")
    return git(elsewhere, "write-tree").strip()


def test_first_commit_holds_the_files_as_git_add_would_in_one_pack(out, tmp_path):
    template = build_tree(
        tmp_path / "odd",
        {
            "copier.yml": "service_name: {type: str}\n_preserve_symlinks: true\n",
            'say "hi".txt': "quoted\n",
            '"leading quote"': "read quoted\n",
            "new\nline": "a name with a line break\n",
            "back\\slash\tand tab.txt": "escaped\n",
            "naïve/ünïcode.md": "unicode\n",
            "empty.txt": "",
            "bin/run.sh.jinja": "#!/bin/sh\necho {{ service_name }}\n",
        },
    )
    (template / "bin" / "run.sh.jinja").chmod(0o755)
    (template / "link-to-empty").symlink_to("empty.txt")
    result = svc("new", "odd", "--template", str(template), "-o", str(out))
    assert result.exit_code == 0, result.output
    service = out / "odd"
    assert git(service, "ls-tree", "HEAD", "bin/run.sh", "link-to-empty").split()[::4] == ["100755", "120000"]
    assert git(service, "rev-parse", "HEAD^{tree}").strip() == _tree_git_add_makes(service, tmp_path / "copy")
    assert git(service, "status", "--porcelain") == ""
    assert git(service, "rev-parse", "HEAD") == git(service, "rev-parse", "svc/template")
    # Every object sits in one pack: no file per object, the slow part of a first commit.
    assert "count: 0\n" in git(service, "count-objects", "-v")
    assert git(service, "fsck", "--strict").strip() == ""


def test_first_commit_applies_line_ending_rules_as_git_add_would(out, tmp_path):
    template = build_tree(
        tmp_path / "crlf",
        {
            "copier.yml": "service_name: {type: str}\n",
            ".gitattributes": "*.txt text eol=lf\n",
            "windows.txt": b"one\r\ntwo\r\n",
        },
    )
    result = svc("new", "crlf", "--template", str(template), "-o", str(out))
    assert result.exit_code == 0, result.output
    service = out / "crlf"
    assert git(service, "show", "HEAD:windows.txt") == "one\ntwo\n"
    assert git(service, "rev-parse", "HEAD^{tree}").strip() == _tree_git_add_makes(service, tmp_path / "copy")
    assert git(service, "status", "--porcelain") == ""


def test_first_commit_is_the_render_commit_git_commit_tree_makes(out, copier_repo, monkeypatch):
    # commit-tree writes an encoding header under this setting; any clone re-rendering this
    # version makes that commit, so the first commit has to be it.
    for key, value in {"COUNT": "1", "KEY_0": "i18n.commitEncoding", "VALUE_0": "ISO-8859-1"}.items():
        monkeypatch.setenv(f"GIT_CONFIG_{key}", value)
    result = svc("new", "billing", "-t", str(copier_repo), "-o", str(out))
    assert result.exit_code == 0, result.output
    service = out / "billing"
    assert "\nencoding ISO-8859-1\n" in git(service, "cat-file", "commit", "HEAD")
    assert git(service, "rev-parse", "HEAD") == git(service, "rev-parse", "svc/template")
    assert git(service, "status", "--porcelain") == ""


def test_a_hook_that_commits_on_its_own_still_leaves_the_render_as_the_first_commit(out, tmp_path):
    # A common post_gen_project hook: `git init`, `git add`, `git commit`, on the branch svc
    # makes its first commit on.
    repo = cookiecutter_template(tmp_path / "tpl-cc")
    hook = textwrap.dedent(
        """
        import subprocess
        def git(*args):
            subprocess.run(["git", *args], check=True)
        git("init", "-q")
        git("add", "-A")
        git("commit", "-q", "-m", "hook's own commit")
        """
    )
    build_tree(repo, {"hooks/post_gen_project.py": hook})
    commit_all(repo, "a hook that commits")
    git(repo, "tag", "1.1.0")

    result = svc("new", "billing", "-t", str(repo), "-o", str(out), "--trust")

    assert result.exit_code == 0, result.output
    service = out / "billing"
    assert git(service, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert git(service, "log", "--format=%s", "main").splitlines()[0].startswith("Render ")
    assert git(service, "rev-parse", "main") == git(service, "rev-parse", "svc/template")
    assert git(service, "status", "--porcelain") == ""
