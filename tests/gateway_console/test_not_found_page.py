"""Found by tests/config/test_fuzz_console.py: a URL that matches no route, asked for while
signed in, was a 500. The page's main navigation took the section from the resolved route as a
filter's argument, which raises when nothing resolved. It is the 404 page now, and the
navigation still marks the section of a page that resolved."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["owner", "member", "auditor"])
def test_an_unknown_url_signed_in_is_the_not_found_page(request, role):
    client = request.getfixturevalue(f"{role}_client")

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert "Not found" in response.content.decode()
    assert 'aria-current="page"' not in response.content.decode()


def test_an_unknown_url_signed_out_is_the_not_found_page(client):
    assert client.get("/no-such-page/").status_code == 404


@pytest.mark.parametrize(
    "url, label",
    [("/keys/", ">Keys</a>"), ("/teams/", ">Teams</a>"), ("/members/", ">Members</a>")],
)
def test_the_navigation_marks_the_current_section(owner_client, url, label):
    body = owner_client.get(url).content.decode()

    assert f'aria-current="page"{label}' in body
    assert body.count('aria-current="page"') == 1
