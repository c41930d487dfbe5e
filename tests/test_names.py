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
