"""The files `svc template init` writes: a company template, ready to customise.

Kept as text here rather than as a template under `templates/`, so that they need no
rendering engine of their own and cannot be mistaken for a built-in template. `@NAME@`,
`@SLUG@`, `@BASE@` and friends are replaced by `authoring.init_template`; everything in
`{{ }}` is left for copier to render when a service is generated.
"""

from __future__ import annotations

COPIER_LAYER = """\
# The questions @NAME@ adds to its base, or whose defaults it changes. A question the base
# asks too must keep the base's type; svc refuses a template that changes it.
_subdirectory: template
_templates_suffix: .jinja
# Its own answers file, beside the base's: copier keeps one per template.
_answers_file: .copier-answers.@NAME@.yml

team_channel:
  type: str
  help: Chat channel where the owning team answers questions
  default: "#{{ service_name }}"
@OVERRIDE@"""

COPIER_STANDALONE = """\
# The questions @NAME@ asks.
_subdirectory: template
_templates_suffix: .jinja
_answers_file: .copier-answers.yml

service_name:
  type: str
  help: Service name (lower-case letters, digits and single hyphens)

team_channel:
  type: str
  help: Chat channel where the owning team answers questions
  default: "#{{ service_name }}"
"""

# Shown (commented out) when the base asks `owner`, as the built-in template does.
OWNER_OVERRIDE = """
# A layer may change the default of a base question, keeping its type:
# owner:
#   type: str
#   default: @NAME@-platform
"""

MANIFEST = """\
# How svc uses this template (docs: company-templates.md in svc's documentation).
@EXTENDS@
# Base files this template deletes from every service (globs), e.g. ["docs/legacy/**"].
remove: []

# The answers `svc template test` renders with; CI tests the template with them.
sample_answers:
  service_name: sample-service
  team_channel: "#sample-service"

# What `svc template test` runs in the rendered project: its own test suite.
test_command: "@TEST_COMMAND@"
"""

EXTENDS = """\
# The template this one is layered on, pinned to a version. To take a new base version,
# change `ref`, run `svc template test .`, and release a new version of this template.
extends:
  source: "@BASE@"
  ref: "@BASE_REF@"
"""

ANSWERS_FILE = "{{ _copier_answers | to_nice_yaml }}"

SUPPORT = """\
# Support for {{ service_name }}

Ask in {{ team_channel }}. This file comes from the @NAME@ template: change it there, not
here, so that every service gets the change with `svc update`.
"""

SERVICE_README = """\
# {{ service_name }}

Made from the @NAME@ template. Run its tests with `python -m pytest -q`.
"""

OVERLAY_TEST = '''\
"""Added by the @NAME@ template: its files are in place in every service made from it."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_support_file_names_the_team_channel() -> None:
    assert "{{ team_channel }}" in (ROOT / "SUPPORT.md").read_text()
'''

WORKFLOW = """\
# Test the template on every push and pull request: render it with its sample answers and
# run the generated project's own tests.
name: template
on:
  push:
  pull_request:
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      # Install the svc your company uses (a pinned version from your package index).
      - run: python -m pip install svc
      - run: svc template test .
"""

GITIGNORE = """\
__pycache__/
.venv/
"""

README = """\
# @NAME@

A company template for services, made with `svc template init`.@EXTENDS_NOTE@ Services made
from it keep taking its improvements (and its base's) with `svc update`.

## What is here

| file | what it does |
| --- | --- |
| `copier.yml` | the questions this template adds (`team_channel`), or whose defaults it changes |
| `svc-template.yml` | what it extends (pinned), base files it removes, sample answers, test command |
| `template/` | files added to every service, or replacing the base's file of the same name |
| `template/tests/test_@SLUG@_layer.py.jinja` | a test of this template's files, run with the service's |
| `.github/workflows/template.yml` | CI: `svc template test .` on every push |

## Change it

- Add or replace a file: put it under `template/` at the path it has in a service. Names and
  contents ending in `.jinja` are rendered with the answers (`{{ service_name }}`, ...).
- Remove a base file: list it under `remove:` in `svc-template.yml`.
- Ask a new question, or change a base question's default: edit `copier.yml`.

## Test it

```sh
svc template test .
```

renders this folder (uncommitted edits included) with `sample_answers` and runs
`test_command` in the result; it exits 0 when the tests pass and shows what failed when
not. CI runs the same.

## Release a version

```sh
git commit -am "Describe the change"
git tag v0.2.0            # a release version: svc offers the newest tag
git push --follow-tags
```

To take a new version of the base, change `extends.ref` in `svc-template.yml`, run
`svc template test .`, and release.

## Roll it out

Name it for everyone in the company's `svc.toml` (or a user's `~/.config/svc/config.toml`):

```toml
[templates.@NAME@]
source = "https://git.example.com/platform/@NAME@.git"
```

Then `svc new my-service --template @NAME@` makes a service from it, `svc check` in a
service's CI says when this template or its base released a newer version, and `svc
update` (or `svc fleet update` over many services) brings services up to date, keeping
their own changes.
"""
