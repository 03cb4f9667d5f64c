import os

from django.conf import settings
from django.core.management.base import BaseCommand

from fixtures.demo import DEMO_STAFF


class Command(BaseCommand):
    help = "Print where to open the back office and the API docs, and the demo accounts."

    def handle(self, *args: object, **options: object) -> None:
        port = os.environ.get("USEROPS_PORT", "8000")
        database = settings.DATABASES["default"]
        broker = settings.CELERY_BROKER_URL
        lines = [
            "",
            "UserOps is starting (web, Celery worker, Celery beat).",
            f"  Back office:  http://127.0.0.1:{port}/admin/",
            f"  API docs:     http://127.0.0.1:{port}/api/v1/docs/",
            f"  Database:     {database['ENGINE'].rsplit('.', 1)[-1]} {database.get('NAME')}",
            f"  Broker:       {broker.split('@')[-1]}",
            "",
            "Demo staff accounts (user / password / role):",
        ]
        lines += [f"  {username:<10} {password:<22} {role}" for username, password, role in DEMO_STAFF]
        token_file = settings.VAR_DIR / "demo-credentials.txt"
        if token_file.exists():
            lines += ["", token_file.read_text().rstrip()]
        lines.append("")
        self.stdout.write("\n".join(lines))
