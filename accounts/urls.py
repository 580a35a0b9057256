from django.urls import path

from accounts.views import account, invitation, members, passwords, sign_in

urlpatterns = [
    path("sign-in/", sign_in.SignInView.as_view(), name="sign-in"),
    path("sign-in/code/", sign_in.sign_in_code, name="sign-in-code"),
    path("password-reset/", passwords.PasswordResetView.as_view(), name="password-reset"),
    path(
        "password-reset/sent/",
        passwords.PasswordResetSentView.as_view(),
        name="password-reset-sent",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        passwords.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path("invitations/<str:token>/", invitation.accept_invitation, name="invitation"),
    path("account/", account.account, name="account"),
    path("account/password/", account.PasswordChangeView.as_view(), name="password-change"),
    path("account/step-up/", account.step_up_view, name="step-up"),
    path("account/two-factor/", account.two_factor_page, name="two-factor"),
    path("account/two-factor/remove/", account.two_factor_remove, name="two-factor-remove"),
    path(
        "account/two-factor/recovery-codes/",
        account.recovery_codes_renew,
        name="recovery-codes-renew",
    ),
    path(
        "account/sessions/sign-out-others/",
        account.sign_out_elsewhere,
        name="sign-out-elsewhere",
    ),
    path("members/", members.member_list, name="members"),
    path("members/invite/", members.invite, name="member-invite"),
    path("members/security/", members.security, name="org-security"),
    path("members/<int:membership_id>/role/", members.member_role, name="member-role"),
    path("members/<int:membership_id>/teams/", members.member_teams, name="member-teams"),
    path("members/<int:membership_id>/remove/", members.member_remove, name="member-remove"),
    path(
        "members/invitations/<uuid:invitation_id>/resend/",
        members.invitation_action,
        {"action": "resend"},
        name="invitation-resend",
    ),
    path(
        "members/invitations/<uuid:invitation_id>/revoke/",
        members.invitation_action,
        {"action": "revoke"},
        name="invitation-revoke",
    ),
]
