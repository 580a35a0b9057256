from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The wiring as an app, for the commands that use every layer (seed_demo)."""

    name = "config"
    verbose_name = "Gateway Console"
