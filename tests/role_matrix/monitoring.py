from tests.role_matrix import EVERYONE

MATRIX = {
    "monitoring:index": ("get", EVERYONE, None),
}
