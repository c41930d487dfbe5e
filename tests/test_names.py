import pytest

from scaffold.errors import InputError
from scaffold.names import package_name, validate_service_name


@pytest.mark.parametrize("name", ["billing", "billing-api", "a", "x9", "a-b-c", "a" * 63])
def test_valid_service_names_are_accepted(name):
    assert validate_service_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Billing", "lower-case"),
        ("billing_svc", "lower-case"),
        ("9lives", "starting with a letter"),
        ("a--b", "single hyphens"),
        ("-x", "starting with a letter"),
        ("x-", "not ending with a hyphen"),
        ("../x", "lower-case"),
        ("x/y", "lower-case"),
        ("json", "shadows"),
        ("fastapi", "shadows"),
        ("logging", "shadows"),
        ("class", "keyword"),
        ("", "empty"),
        ("a" * 64, "at most 63"),
    ],
)
def test_invalid_service_names_are_refused_with_the_reason(name, reason):
    with pytest.raises(InputError, match=reason):
        validate_service_name(name)


def test_package_name_turns_hyphens_into_underscores():
    assert package_name("billing-api") == "billing_api"


def _builtin_validator():
    from jinja2.sandbox import SandboxedEnvironment

    from scaffold.render.copier_engine import read_copier_config
    from scaffold.sources import builtin_root

    config = read_copier_config(builtin_root() / "python-service" / "copier.yml")
    return SandboxedEnvironment().from_string(config["service_name"]["validator"])


def test_svc_and_the_builtin_templates_validator_agree_on_every_name():
    """One rule: a name svc accepts, the built-in template accepts, and the reverse."""
    from scaffold.names import KEYWORDS, RESERVED_PACKAGES

    validator = _builtin_validator()
    samples = {"billing", "billing-api", "a", "x9", "a" * 63, "a" * 64, "Billing", "a--b", "x-", "9lives"}
    candidates = samples | {n.replace("_", "-") for n in KEYWORDS | RESERVED_PACKAGES}
    disagree = []
    for name in sorted(candidates):
        template_refuses = bool(validator.render(service_name=name).strip())
        try:
            validate_service_name(name)
            svc_refuses = False
        except InputError:
            svc_refuses = True
        if template_refuses != svc_refuses:
            disagree.append(name)
    assert disagree == []
    assert "api" in RESERVED_PACKAGES  # `svc new api` used to pass svc and fail the template
