"""Password reset by email, with Django's own views and tokens. The answer to "send me a link"
is the same whether or not the email has an account; the link works once (Django's token
changes with the password) and for PASSWORD_RESET_TIMEOUT. Setting the new password ends every
session of the person."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse_lazy

from accounts.members import end_sessions
from accounts.people import person_actor, record_in_each_org
from accounts.tasks import send_password_reset
from gateway_console import throttle


class PasswordResetView(auth_views.PasswordResetView):
    """Hands the address to a task (accounts.tasks) and answers at once: whether an account
    has it is looked up, and mailed to, off the request."""

    template_name = "accounts/password_reset.html"
    success_url = reverse_lazy("password-reset-sent")

    def form_valid(self, form):
        email = form.cleaned_data["email"]
        if throttle.reset_mail_allowed(email):
            send_password_reset.delay(email, self.request.get_host(), self.request.is_secure())
        return redirect(self.success_url)


class PasswordResetSentView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_sent.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("sign-in")

    @transaction.atomic
    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.user
        end_sessions(user)
        record_in_each_org(
            user, actor=person_actor(user, request=self.request), action="user.password_reset"
        )
        messages.success(
            self.request,
            "Your password is set. Every session of yours has ended: sign in with it now.",
        )
        return response
