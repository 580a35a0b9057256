from celery import shared_task
from django.contrib.auth.forms import PasswordResetForm

RESET_EMAIL = "accounts/email/password_reset.txt"
RESET_SUBJECT = "accounts/email/password_reset_subject.txt"


@shared_task
def send_password_reset(email: str, domain: str, use_https: bool) -> int:
    """Emails a reset link to each active account with this email (none: nothing). The page
    that asked answered at once, the same whether or not there was one: neither its words nor
    its time tell. The link is made here; the broker carries only the address."""
    form = PasswordResetForm({"email": email})
    if not form.is_valid():
        return 0
    form.save(
        domain_override=domain,
        use_https=use_https,
        email_template_name=RESET_EMAIL,
        subject_template_name=RESET_SUBJECT,
    )
    return len(list(form.get_users(form.cleaned_data["email"])))
