"""gunicorn settings of the portal's web process: ``gunicorn -c mlops_portal/gunicorn_conf.py mlops_portal.wsgi``.

Bind address, workers and logs stay on the command line (Dockerfile, docker-compose.yml).
"""

from gunicorn.http import wsgi

_default_headers = wsgi.Response.default_headers


def _without_server_header(response) -> list[str]:
    return [line for line in _default_headers(response) if not line.lower().startswith("server:")]


# gunicorn names itself in a Server header on every response. Saying which server and version runs
# here only helps someone matching it against known vulnerabilities; gunicorn has no setting for it.
# Patched in the master, before the workers fork, so every worker inherits it.
wsgi.Response.default_headers = _without_server_header
