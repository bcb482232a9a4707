from tests.role_matrix import EVERYONE

MATRIX = {
    "risk:index": ("get", EVERYONE, None),
}
