import secrets
import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from gateway_console import admin_tokens, selectors, show_once, step_up
from gateway_console.actors import Actor
from gateway_console.forms import AdminTokenForm
from gateway_console.middleware import SESSION_ORG_KEY
from gateway_console.models import AdminToken
from gateway_console.paging import cursors, pager_links
from gateway_console.roles import membership_required, role_required


def home(request: HttpRequest) -> HttpResponse:
    return redirect("keys:list" if request.user.is_authenticated else "sign-in")


def no_org(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("sign-in")
    if request.membership is not None:
        return redirect("keys:list")
    return render(request, "orgs/no_org.html")


@require_POST
@membership_required
def switch_org(request: HttpRequest) -> HttpResponse:
    try:
        org_id = uuid.UUID(request.POST.get("org", ""))
    except ValueError:
        org_id = None  # a malformed id matches no membership, like an org one is not in
    membership = selectors.membership_in(request.user, org_id)
    if membership is None:
        messages.error(request, "You are not a member of that organisation.")
    else:
        request.session[SESSION_ORG_KEY] = str(membership.org_id)
        messages.success(request, f"Switched to {membership.org.name}.")
    # Back to the same section, not the same object: that object belongs to the other org.
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    section = target.strip("/").split("/")[0]
    return redirect(f"/{section}/" if section else "/")


@role_required("reader")
def admin_token_list(request: HttpRequest) -> HttpResponse:
    page = admin_tokens.admin_tokens_page(request.membership, **cursors(request.GET))
    return render(
        request, "orgs/admin_tokens.html", {"tokens": page.rows, "pager": pager_links(page)}
    )


def _show_token_once(request: HttpRequest, token: AdminToken, plaintext: str) -> HttpResponse:
    return show_once.secret_page(
        request, "orgs/admin_tokens_show_once.html", {"token": token, "plaintext": plaintext}
    )


@role_required("admin")
@step_up.required
@require_http_methods(["GET", "POST"])
def admin_token_new(request: HttpRequest) -> HttpResponse:
    form = AdminTokenForm(request.POST if request.method == "POST" else step_up.resumed(request))
    if request.method == "POST" and form.is_valid():
        try:
            token, plaintext = admin_tokens.create_admin_token(
                org=request.membership.org,
                actor=Actor.from_request(request),
                name=form.cleaned_data["name"],
                read_only=form.cleaned_data["read_only"],
                expires_in_days=form.cleaned_data["expires_in_days"],
                nonce=request.POST.get("nonce", "")[:64] or None,
            )
        except admin_tokens.TokenAlreadyShown as shown:
            messages.warning(
                request,
                f"The token {shown.token.name} was already shown once and cannot be shown "
                "again. If it was lost, revoke it and create another.",
            )
            return redirect("admin-tokens")
        except admin_tokens.AdminTokenActionRefused as refused:
            form.add_error("name", str(refused))
        else:
            return _show_token_once(request, token, plaintext)
    return render(
        request,
        "orgs/admin_tokens_new.html",
        {"form": form, "nonce": secrets.token_urlsafe(24)},
    )


@role_required("admin")
@step_up.required
@require_http_methods(["GET", "POST"])
def admin_token_revoke(request: HttpRequest, token_id) -> HttpResponse:
    """GET: a confirmation that says what will happen. POST: do it."""
    token = admin_tokens.admin_token_for(request.membership, token_id)
    if request.method == "POST":
        try:
            admin_tokens.revoke_admin_token(token=token, actor=Actor.from_request(request))
        except admin_tokens.AdminTokenActionRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(request, f"Revoked {token.name}: it stopped working.")
        return redirect("admin-tokens")
    return render(request, "orgs/admin_tokens_confirm_revoke.html", {"token": token})
