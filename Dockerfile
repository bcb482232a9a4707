# MLOps Portal image: one image for web (gunicorn), worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORTAL_VAR_DIR=/var/lib/mlops-portal \
    DJANGO_STATIC_ROOT=/app/staticfiles

WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.lock

COPY . .
# collectstatic needs settings but no database or secret of the real deployment.
RUN DJANGO_DEBUG=true python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --system --uid 10001 --home-dir /app portal \
    && mkdir -p /var/lib/mlops-portal && chown portal /var/lib/mlops-portal

USER portal
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["gunicorn", "mlops_portal.wsgi:application", "--config", "mlops_portal/gunicorn_conf.py", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
