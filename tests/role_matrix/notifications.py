from tests.role_matrix import EVERYONE

MATRIX = {
    "notifications:list": ("get", EVERYONE, None),
    "notifications:mark-read": ("post", EVERYONE, None),
}
