"""Django admin shows no second factor and no session: a TOTP device holds its secret and a
static device its recovery codes in clear (django-otp), and a session row is a way in. People
manage their own factors and sessions on their account pages, which audit them."""

from django.contrib import admin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from user_sessions.models import Session

for model in (TOTPDevice, StaticDevice, Session):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
