"""The production gate: checks other apps register, run before a version enters production.

A check is ``check(version) -> list[str]`` of problems, empty when satisfied.
The reviews app registers "holds a valid approval", the risk app "has a current,
not overdue risk assessment" (in their ``AppConfig.ready``). Inventory services
call ``production_problems`` before moving a version to production or deploying
it to the production environment; admins may override with a reason.
"""

from collections.abc import Callable

from apps.core.errors import ConflictError

PRODUCTION_CHECKS: list[Callable] = []


def register(check: Callable) -> Callable:
    if check not in PRODUCTION_CHECKS:
        PRODUCTION_CHECKS.append(check)
    return check


def production_problems(version) -> list[str]:
    problems: list[str] = []
    for check in PRODUCTION_CHECKS:
        problems.extend(check(version))
    return problems


class GateRefused(ConflictError):
    """The production gate refused ``version`` for ``reasons``, its checks' sentences.

    Pages show a banner naming each missing step with a link to it (the stored reasons' fix links); the refusal
    is audited (``production_gate.refused``). Not ``problems``: the API's error handler reads that name as an
    upload's column problems.
    """

    def __init__(self, *, version, reasons: list[str]):
        super().__init__(f"{version} cannot go to production: {' '.join(reasons)}", field="stage")
        self.version, self.reasons = version, reasons

    @property
    def missing(self) -> list[str]:
        return self.reasons
