from tests.role_matrix import EVERYONE

MATRIX = {
    "notifications:list": ("get", EVERYONE, None),
    "notifications:mark-read": ("post", EVERYONE, None),
}

ANY_TEAM = {"notifications:mark-read": "a person's own notifications"}
