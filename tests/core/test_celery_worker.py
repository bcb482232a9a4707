"""A real worker and a real beat process, on whichever broker and database the run uses."""

import pytest
from django_celery_beat.models import PeriodicTask

from apps.core.audit_chain import parse_checkpoint
from apps.core.models import AuditVerification
from apps.core.services import audit_record
from apps.core.tasks import verify_audit_chain
from tests.celery_helpers import celery_process, wait_for, worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_runs_the_audit_verification_task(settings):
    for i in range(3):
        audit_record(actor=None, action="thing.created", object_type="x.y", object_id=str(i))
    with worker() as (proc, log):
        verify_audit_chain.delay()
        result = wait_for(lambda: AuditVerification.objects.filter(triggered_by="task").first(),
                          timeout=90, what="the worker to record a verification", log_path=log)
        assert proc.poll() is None, "worker died"
    assert result.ok and result.checked == 3
    # The worker signed the head after the good check, into the file this test's settings name.
    assert parse_checkpoint(settings.PORTAL_AUDIT_CHECKPOINT_FILE.read_text().splitlines()[-1]).n == 1


def test_beat_installs_the_nightly_schedule_in_the_database():
    with celery_process("beat", "--loglevel", "INFO", log_name="beat") as (proc, log):
        # Beat saves its entries one by one: wait until every entry this test reads is there.
        names = {"verify-audit-chain-nightly", "audit-checkpoint"}
        wait_for(lambda: PeriodicTask.objects.filter(name__in=names).count() == len(names),
                 timeout=90, what="beat to sync its schedule", log_path=log)
        assert proc.poll() is None, "beat died"
    task = PeriodicTask.objects.get(name="verify-audit-chain-nightly")
    assert task.task == "core.verify_audit_chain" and task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("2", "30")
    checkpoint = PeriodicTask.objects.get(name="audit-checkpoint")
    assert checkpoint.task == "core.audit_checkpoint" and checkpoint.enabled
    assert (checkpoint.interval.every, checkpoint.interval.period) == (600, "seconds")
