from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "keys"
    verbose_name = "API keys"

    def ready(self) -> None:
        from django.urls import reverse

        from audit.selectors import register_target_page
        from billing.usage import register_key_facts
        from keys.models import Key
        from keys.selectors import key_facts

        # An audit event about a key links to the key's page while the key exists.
        register_target_page("key", Key, lambda pk: reverse("keys:detail", args=[pk]))
        # Usage (billing) records events of keys, which it may not import.
        register_key_facts(key_facts)
