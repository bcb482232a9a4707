"""Start the web server, a Celery worker and Celery beat in the foreground; Ctrl-C stops all three."""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.demo.users import DEMO_USERS

STOP_GRACE_SECONDS = 10


def _interrupt(signum, frame):
    """Treat SIGTERM (docker stop, kill) like Ctrl-C."""
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run web server + Celery worker + Celery beat together (development and demos)."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port for the web server")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")

    def handle(self, *args, addr, concurrency, **options):
        python = sys.executable
        commands = {
            "web": [python, "manage.py", "runserver", addr, "--noreload"],
            "worker": [python, "-m", "celery", "-A", "mlops_portal", "worker", "-l", "INFO",
                       "--concurrency", str(concurrency), "-n", "portal-worker@%h"],
            "beat": [python, "-m", "celery", "-A", "mlops_portal", "beat", "-l", "INFO"],
        }
        self._banner(addr)
        procs = {name: subprocess.Popen(cmd, cwd=settings.BASE_DIR) for name, cmd in commands.items()}
        signal.signal(signal.SIGTERM, _interrupt)
        exit_code = 0
        try:
            while True:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping the others.")
                        exit_code = proc.returncode or 1
                        raise KeyboardInterrupt
                time.sleep(0.5)
        except KeyboardInterrupt:
            self._stop(procs)
        if exit_code:
            sys.exit(exit_code)

    def _banner(self, addr: str) -> None:
        broker = settings.CELERY_BROKER_URL.split("@")[-1]
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        lines = [
            "",
            f"  MLOps Portal: http://{addr}/   (database: {database}, broker: {broker})",
            f"  Demo logins (password '{settings.PORTAL_DEMO_PASSWORD}'):",
            *[f"    {u.username:<10} {u.role.label}" for u in DEMO_USERS],
            "  Press Ctrl-C to stop the web server, the worker and beat.",
            "",
        ]
        self.stdout.write("\n".join(lines))

    def _stop(self, procs: dict) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, proc in procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {STOP_GRACE_SECONDS}s; killing it.")
                proc.kill()
                proc.wait()
        self.stdout.write("Stopped web server, worker and beat.")
