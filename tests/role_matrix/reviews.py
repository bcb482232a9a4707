from tests.role_matrix import EVERYONE

MATRIX = {
    "reviews:index": ("get", EVERYONE, None),
}
