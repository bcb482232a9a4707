from tests.role_matrix import EVERYONE

MATRIX = {
    "inventory:index": ("get", EVERYONE, None),
}
