"""Small database expressions shared by apps."""

from django.db.models import Func


class CodePointOrder(Func):
    """Text compared code point by code point, as Python compares ``str``: SQLite's default; PostgreSQL's
    default collation would ignore spaces and punctuation at first, so it gets ``COLLATE "C"``.

    For orders that Python code must reproduce (merging sorted results, answers built in memory).
    """

    template = "%(expressions)s"

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template='%(expressions)s COLLATE "C"', **extra_context)
